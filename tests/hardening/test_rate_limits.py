"""Login, sign-up, password reset and Codat-spending actions are rate limited (D5)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.test import Client

from connections.views import CHECK_RATE
from tests.fakes import codat_connection, link_xero
from tests.personas import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_rate_window():
    # Rate windows are aligned to the clock; a test straddling a boundary would see its count
    # reset halfway. Stand still at the start of a window.
    with time_machine.travel(datetime(2026, 11, 28, 12, 0, 1, tzinfo=UTC), tick=False):
        yield


def assert_rate_limited(response) -> None:
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert response["Retry-After"] == "60"


def test_guessing_one_accounts_password_is_stopped_after_5_tries(owner, caplog):
    client = Client()
    for _ in range(5):
        wrong = client.post("/accounts/login/", {"username": owner.email, "password": "nope"})
        assert wrong.status_code == 200

    with caplog.at_level(logging.WARNING):
        sixth = client.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})

    assert_rate_limited(sixth)
    assert "_auth_user_id" not in client.session  # even the right password waits
    assert any("Rate limit hit: POST /accounts/login/" in r.getMessage() for r in caplog.records)
    assert PASSWORD not in caplog.text


def test_another_account_is_not_held_up_by_one_being_guessed(owner, outsider):
    client = Client()
    for _ in range(6):
        client.post("/accounts/login/", {"username": owner.email, "password": "nope"})

    response = client.post("/accounts/login/", {"username": outsider.email, "password": PASSWORD})

    assert response.status_code == 302


# However the address is typed, login finds the same account, so it is the same allowance (L4).
OWNER_SPELLINGS = [
    "owner@acme.example",
    "OWNER@acme.example",
    " Owner@Acme.Example ",
    "owner@ACME.EXAMPLE\t",
    "\nOwNeR@aCmE.eXaMpLe",
]


def test_guesses_spread_over_spellings_of_one_email_share_one_allowance(owner, outsider):
    # Each guess from its own address too, so only the per-account limit can stop them.
    for n, spelling in enumerate(OWNER_SPELLINGS):
        wrong = Client(REMOTE_ADDR=f"203.0.113.{n + 1}").post(
            "/accounts/login/", {"username": spelling, "password": "nope"}
        )
        assert wrong.status_code == 200
        assert "do not match an account" in wrong.content.decode()

    client = Client(REMOTE_ADDR="203.0.113.99")
    sixth = client.post(
        "/accounts/login/", {"username": "Owner@Acme.example", "password": PASSWORD}
    )

    assert_rate_limited(sixth)
    assert "_auth_user_id" not in client.session  # even the right password waits
    other = Client(REMOTE_ADDR="203.0.113.99")
    response = other.post(
        "/accounts/login/", {"username": " Outsider@Other.example", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert other.session["_auth_user_id"] == str(outsider.pk)


def test_reset_requests_spread_over_spellings_of_one_email_share_one_allowance(owner, outsider):
    for n, spelling in enumerate(OWNER_SPELLINGS):
        client = Client(REMOTE_ADDR=f"203.0.113.{n + 1}")
        assert client.post("/accounts/password-reset/", {"email": spelling}).status_code == 302
    assert len(mail.outbox) == 5

    client = Client(REMOTE_ADDR="203.0.113.99")
    assert_rate_limited(client.post("/accounts/password-reset/", {"email": "OWNER@acme.example"}))
    assert len(mail.outbox) == 5  # no sixth mail to the same inbox
    response = client.post("/accounts/password-reset/", {"email": "outsider@other.example"})
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["outsider@other.example"]


def test_sign_ups_from_one_address_are_limited(db):
    client = Client()
    for n in range(10):
        client.post("/accounts/signup/", {"email": f"bot{n}@example.com"})

    assert_rate_limited(client.post("/accounts/signup/", {"email": "bot@example.com"}))


def signup_form(email: str) -> dict[str, str]:
    return {
        "name": "Someone",
        "email": email,
        "business_name": "Some Ltd",
        "password1": "plum orchard ledger 7781",
        "password2": "plum orchard ledger 7781",
    }


@pytest.mark.parametrize(
    "spellings",
    [OWNER_SPELLINGS, [" New@Bakery.example", "NEW@bakery.example"] * 3],
    ids=["registered", "new"],
)
def test_sign_ups_naming_one_email_are_limited_however_it_is_typed(owner, spellings):
    # Each sign-up mails the address it names; the limit is the same for a registered and a
    # new address, so it tells nobody which it is.
    for n, spelling in enumerate(spellings[:5]):
        client = Client(REMOTE_ADDR=f"203.0.113.{n + 1}")
        assert client.post("/accounts/signup/", signup_form(spelling)).status_code == 302
    assert len(mail.outbox) == 5

    client = Client(REMOTE_ADDR="203.0.113.99")
    assert_rate_limited(client.post("/accounts/signup/", signup_form(spellings[0].upper())))
    assert len(mail.outbox) == 5
    assert client.post("/accounts/signup/", signup_form("else@where.example")).status_code == 302


def test_guessing_the_password_behind_a_sign_up_link_is_limited(db):
    Client().post("/accounts/signup/", signup_form("new@bakery.example"))
    link = re.search(r"/accounts/signup/confirm/[\w-]+/", mail.outbox[0].body).group(0)
    client = Client()
    for n in range(10):
        assert client.post(link, {"password": f"guess {n}"}).status_code == 200

    assert_rate_limited(client.post(link, {"password": "plum orchard ledger 7781"}))
    assert "_auth_user_id" not in client.session


def test_password_reset_requests_are_limited(owner):
    client = Client()
    for _ in range(5):
        assert client.post("/accounts/password-reset/", {"email": owner.email}).status_code == 302

    assert_rate_limited(client.post("/accounts/password-reset/", {"email": owner.email}))


def test_connect_clicks_that_spend_codat_quota_are_limited(owner_client, catalogue):
    for _ in range(20):
        assert owner_client.post("/connect/zzzz/").status_code == 404

    assert_rate_limited(owner_client.post("/connect/gbol/"))


def test_check_again_clicks_that_spend_codat_quota_are_limited(
    owner_client, outsider_client, acme, other_co, fake_codat
):
    pending = link_xero(acme, status="PendingAuth")
    theirs = link_xero(other_co, status="PendingAuth")
    for connection in (pending, theirs):
        company_id = str(connection.company.codat_company_id)
        connection_id = str(connection.codat_connection_id)
        fake_codat.get(f"/companies/{company_id}/connections/{connection_id}").respond(
            200, json=codat_connection(company_id, connection_id, status="PendingAuth")
        )
    allowed = int(CHECK_RATE.split("/")[0])

    for _ in range(allowed):
        assert owner_client.post(f"/connections/{pending.id}/check/").status_code == 302

    assert_rate_limited(owner_client.post(f"/connections/{pending.id}/check/"))
    assert len(fake_codat.calls) == allowed
    # Someone else's checks are not held up.
    assert outsider_client.post(f"/connections/{theirs.id}/check/").status_code == 302
    assert len(fake_codat.calls) == allowed + 1


def test_gets_are_never_limited(owner_client, catalogue):
    for _ in range(30):
        assert owner_client.get("/accounts/login/").status_code in (200, 302)
