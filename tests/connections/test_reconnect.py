"""An expired bank connection: a banner on every page, and reconnecting the same connection."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core import mail

from codat_sandbox import services as sandbox_services
from codat_sandbox.models import SandboxConnection
from connections.models import Connection, LinkAttempt
from tests.connections.test_journey import finish_at_codat, local, sign_up, start_link
from tests.consents.steps import grant
from tests.fakes import codat_connection, link_bank, link_xero
from tests.journeys.test_consent_lifecycle import pump_webhooks
from tests.personas import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def expired_bank(owner_client, acme, lending):
    link_xero(acme)
    bank = link_bank(acme, status="Deauthorized")
    grant(owner_client, "lending")
    return bank


@pytest.mark.parametrize("url", ["/", "/connections/", "/consents/", "/help/"])
def test_an_expired_bank_shows_a_banner_naming_it_and_the_products(owner_client, expired_bank, url):
    page = owner_client.get(url).content.decode()

    assert "Your connection to Plaid has expired." in page
    assert "Lending can't get fresh banking data until you reconnect." in page
    assert f'action="/connections/{expired_bank.id}/reconnect/"' in page


def test_no_banner_for_another_company_or_a_healthy_bank(outsider_client, owner_client, acme):
    link_bank(acme)

    assert "has expired" not in owner_client.get("/").content.decode()
    assert "has expired" not in outsider_client.get("/").content.decode()


def test_reconnect_sends_the_customer_through_the_same_connections_fresh_link(
    owner_client, acme, expired_bank, fake_codat
):
    codat_id, conn_id = str(acme.codat_company_id), str(expired_bank.codat_connection_id)
    fresh = codat_connection(
        codat_id, conn_id, key="suuo", name="Plaid", source_type="Banking", status="Deauthorized"
    )
    fake_codat.get(f"/companies/{codat_id}/connections/{conn_id}").respond(200, json=fresh)

    response = owner_client.post(f"/connections/{expired_bank.id}/reconnect/")

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == fresh["linkUrl"]
    assert len(parse_qs(target.query)["state"][0]) == 43
    assert not [c for c in fake_codat.calls if c.request.method == "POST"]  # no new connection
    attempt = LinkAttempt.objects.get()
    assert attempt.connection == expired_bank and attempt.used_at is None


def test_coming_back_from_a_reconnect_clears_the_banner(
    owner_client, acme, expired_bank, fake_codat
):
    codat_id, conn_id = str(acme.codat_company_id), str(expired_bank.codat_connection_id)
    route = fake_codat.get(f"/companies/{codat_id}/connections/{conn_id}")
    route.mock(
        side_effect=[
            httpx.Response(200, json=codat_connection(codat_id, conn_id, status="Deauthorized")),
            httpx.Response(200, json=codat_connection(codat_id, conn_id, status="Linked")),
        ]
    )
    link = owner_client.post(f"/connections/{expired_bank.id}/reconnect/")["Location"]
    state = parse_qs(urlsplit(link).query)["state"][0]

    back = owner_client.get(
        "/connections/return/",
        {"state": state, "companyId": codat_id, "connectionId": conn_id, "statusCode": "200"},
    )

    assert back.status_code == 303
    expired_bank.refresh_from_db()
    assert expired_bank.status == Connection.Status.LINKED
    assert "has expired" not in owner_client.get("/").content.decode()


def test_a_healthy_connection_needs_no_reconnect(owner_client, acme, fake_codat):
    xero = link_xero(acme)

    response = owner_client.post(f"/connections/{xero.id}/reconnect/", follow=True)

    assert "doesn&#x27;t need reconnecting" in response.content.decode()
    assert len(fake_codat.calls) == 0


def test_another_companys_connection_cannot_be_reconnected(
    outsider_client, expired_bank, fake_codat
):
    assert outsider_client.post(f"/connections/{expired_bank.id}/reconnect/").status_code == 404
    assert len(fake_codat.calls) == 0


# --- the whole way round, against the built-in sandbox -----------------------------------------


def _access_mail(platform: str) -> list:
    return [
        m
        for m in mail.outbox
        if m.subject
        in {f"Your connection to {platform} has expired", f"{platform} is connected again"}
    ]


@pytest.fixture
def sandbox_bank_expired(client, django_capture_on_commit_callbacks, codat_account_set_up):
    """A signed-up customer (and a colleague) whose sandbox bank connection has expired, as
    announced by Codat's webhook: the members have had the "has expired" mail."""
    company = sign_up(client)
    make_member("bookkeeper@brightside.example", company=company, role="member")
    with django_capture_on_commit_callbacks(execute=True):
        back = finish_at_codat(client, start_link(client, "qhnd"))
        assert client.get(local(back)).status_code == 303
    bank = Connection.objects.get(platform_key="qhnd")
    assert bank.status == Connection.Status.LINKED
    sandbox_services.connection_expire(
        connection=SandboxConnection.objects.get(pk=bank.codat_connection_id)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert pump_webhooks() > 0
    bank.refresh_from_db()
    assert bank.status == Connection.Status.DEAUTHORIZED
    assert [m.subject for m in _access_mail(bank.platform_name)] == [
        f"Your connection to {bank.platform_name} has expired"
    ]
    return bank


@pytest.mark.parametrize("codat_keeps_state", [True, False], ids=["state", "state-dropped"])
def test_reconnecting_through_the_link_page_emails_connected_again_once(
    client, sandbox_bank_expired, django_capture_on_commit_callbacks, codat_keeps_state, settings
):
    settings.CODAT_SANDBOX_CUSTOM_PARAMS = "pass" if codat_keeps_state else "drop"
    bank = sandbox_bank_expired
    members = {"bea@brightside.example", "bookkeeper@brightside.example"}

    with django_capture_on_commit_callbacks(execute=True):
        link = client.post(f"/connections/{bank.id}/reconnect/")["Location"]
        back = finish_at_codat(client, link if codat_keeps_state else link.split("?", 1)[0])
        returned = client.get(local(back))

    assert returned.status_code == 303
    assert returned["Location"] == f"/connections/{bank.id}/"
    bank.refresh_from_db()
    assert bank.status == Connection.Status.LINKED
    again = [m for m in _access_mail(bank.platform_name) if "connected again" in m.subject]
    assert len(again) == 1
    assert again[0].subject == f"{bank.platform_name} is connected again"
    assert set(again[0].to) == members
    assert f"/connections/{bank.id}/" in again[0].body

    # A refresh, the back button, "check again" and Codat's own connection.reconnected webhook
    # all find nothing new to announce.
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(local(back)).status_code == 400
        assert client.get(returned["Location"]).status_code == 200
        client.post(f"/connections/{bank.id}/check/")
        pump_webhooks()
    assert len(_access_mail(bank.platform_name)) == 2
