"""The return from Codat's Link page: verified, single-use, confirmed with Codat (R1–R5, B4)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from codat_sandbox.models import SandboxConnection
from connections import services
from connections.models import Connection, LinkAttempt
from tests.connections.test_journey import finish_at_codat, local, sign_up, start_link
from tests.fakes import codat_connection, error_body
from tests.personas import PASSWORD

pytestmark = pytest.mark.django_db

CODAT_COMPANY = "c0d83fa2-bfc6-4d8e-a39d-276051ad48df"
CODAT_CONNECTION = "f3c45050-1827-4223-840c-a4a85792ab66"


@pytest.fixture
def pending(acme, catalogue) -> Connection:
    acme.codat_company_id = CODAT_COMPANY
    acme.save()
    return Connection.objects.create(
        company=acme,
        codat_connection_id=CODAT_CONNECTION,
        platform_key="gbol",
        platform_name="Xero",
        source_type="Accounting",
    )


@pytest.fixture
def state(owner, acme, pending) -> str:
    _, state = services.link_attempt_create(user=owner, company=acme, connection=pending)
    return state


@pytest.fixture
def codat_says(fake_codat):
    """Set what Codat's GET connection answers: a status, or an httpx.Response/exception."""
    route = fake_codat.get(f"/companies/{CODAT_COMPANY}/connections/{CODAT_CONNECTION}")

    def answer(status_or_response):
        if isinstance(status_or_response, str):
            body = codat_connection(CODAT_COMPANY, CODAT_CONNECTION, status=status_or_response)
            route.mock(return_value=httpx.Response(200, json=body))
        elif isinstance(status_or_response, Exception):
            route.mock(side_effect=status_or_response)
        else:
            route.mock(return_value=status_or_response)
        return route

    return answer


def return_url(state: str | None, **overrides) -> str:
    params = {
        "state": state,
        "companyId": CODAT_COMPANY,
        "connectionId": CODAT_CONNECTION,
        "platform": "gbol",
        "statusCode": "200",
        "errorMessage": "",
        "statusText": "",
    }
    params.update(overrides)
    return "/connections/return/?" + urlencode({k: v for k, v in params.items() if v is not None})


def assert_nothing_changed(pending: Connection) -> None:
    pending.refresh_from_db()
    assert pending.status == Connection.Status.PENDING_AUTH
    assert not LinkAttempt.objects.filter(used_at__isnull=False).exists()


def test_a_valid_return_is_confirmed_with_codat_and_answers_303_without_a_query(
    owner_client, pending, state, codat_says
):
    route = codat_says("Linked")

    response = owner_client.get(return_url(state))

    assert response.status_code == 303
    assert response["Location"] == f"/connections/{pending.id}/"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer"}
    assert route.call_count == 1
    pending.refresh_from_db()
    assert pending.status == Connection.Status.LINKED
    assert pending.linked_at is not None
    page = owner_client.get(response["Location"]).content.decode()
    assert "You're connected" in page


def test_status_200_in_the_query_is_not_trusted_when_codat_says_pending(
    owner_client, pending, state, codat_says
):
    codat_says("PendingAuth")

    response = owner_client.get(return_url(state), follow=True)

    pending.refresh_from_db()
    assert pending.status == Connection.Status.PENDING_AUTH
    assert "Waiting for Xero" in response.content.decode()


def test_when_codat_cannot_confirm_the_page_offers_to_check_again(
    owner_client, pending, state, codat_says
):
    codat_says(httpx.Response(503, json=error_body(503)))

    response = owner_client.get(return_url(state), follow=True)

    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.status == Connection.Status.PENDING_AUTH
    assert "Check again" in response.content.decode()


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("missing state and connectionId", {"state": None, "connectionId": None}),
        ("empty state and no connectionId", {"state": "", "connectionId": None}),
        ("unfilled state and no connectionId", {"state": "{state}", "connectionId": None}),
        ("garbled state", {"state": "not-a-state"}),
        ("unknown state", {"state": "A" * 43}),
        ("another company", {"companyId": str(uuid.uuid4())}),
        ("another connection", {"connectionId": str(uuid.uuid4())}),
        ("non-UUID companyId", {"companyId": "../../admin"}),
        ("non-UUID connectionId", {"connectionId": "1 OR 1=1"}),
        ("unknown statusCode", {"statusCode": "302"}),
        ("missing statusCode", {"statusCode": None}),
    ],
)
def test_a_bad_return_gets_400_with_a_way_back_and_changes_nothing(
    owner_client, pending, state, codat_says, caplog, case, overrides
):
    route = codat_says("Linked")
    params = {"state": state, **overrides}

    with caplog.at_level(logging.WARNING, logger="consent_portal.security"):
        response = owner_client.get(return_url(**params))

    assert response.status_code == 400, case
    assert "Start again" in response.content.decode()
    assert route.call_count == 0
    assert_nothing_changed(pending)
    assert any("Link return refused" in r.getMessage() for r in caplog.records)


def test_a_replayed_return_is_refused(owner_client, pending, state, codat_says):
    codat_says("Linked")
    assert owner_client.get(return_url(state)).status_code == 303

    replay = owner_client.get(return_url(state))

    assert replay.status_code == 400
    assert LinkAttempt.objects.get().status_code == "200"


def test_an_expired_state_is_refused(owner_client, pending, state, codat_says):
    codat_says("Linked")

    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = owner_client.get(return_url(state))

    assert response.status_code == 400
    assert_nothing_changed(pending)


def test_another_users_state_is_refused_and_logged(
    outsider_client, pending, state, codat_says, caplog
):
    codat_says("Linked")

    with caplog.at_level(logging.WARNING, logger="consent_portal.security"):
        response = outsider_client.get(return_url(state))

    assert response.status_code == 400
    assert_nothing_changed(pending)
    assert any("another user's state" in r.getMessage() for r in caplog.records)


def test_a_colleagues_state_is_refused_too(colleague, pending, state, codat_says):
    codat_says("Linked")
    client = Client()
    client.force_login(colleague)

    assert client.get(return_url(state)).status_code == 400
    assert_nothing_changed(pending)


def test_a_return_without_a_session_asks_to_log_in_then_completes(
    owner, pending, state, codat_says
):
    codat_says("Linked")
    browser = Client()

    response = browser.get(return_url(state))

    assert response.status_code == 401
    assert_nothing_changed(pending)
    assert "Log in to finish" in response.content.decode()
    login_link = response.context["login_url"]

    logged_in = browser.post(
        login_link, {"username": owner.email, "password": PASSWORD}, follow=False
    )
    assert logged_in.status_code == 302
    finished = browser.get(logged_in["Location"])

    assert finished.status_code == 303
    pending.refresh_from_db()
    assert pending.status == Connection.Status.LINKED


def test_a_session_that_comes_back_too_late_is_asked_to_start_again(
    owner, pending, state, codat_says
):
    codat_says("Linked")
    browser = Client()
    browser.force_login(owner)

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = browser.get(return_url(state))

    assert response.status_code == 400
    assert "start again" in response.content.decode().lower()


def test_cancelling_at_codat_offers_to_connect_again(owner_client, pending, state, codat_says):
    codat_says("PendingAuth")

    response = owner_client.get(
        return_url(state, statusCode="403", errorMessage="User cancelled."), follow=True
    )

    page = response.content.decode()
    assert "You cancelled — connect again?" in page
    assert 'action="/connect/gbol/"' in page
    pending.refresh_from_db()
    assert pending.status == Connection.Status.PENDING_AUTH


def test_an_error_at_the_platform_names_it_and_keeps_codats_words_for_staff(
    owner_client, pending, state, codat_says
):
    codat_says("PendingAuth")

    response = owner_client.get(
        return_url(state, statusCode="500", errorMessage="<script>alert(1)</script>"),
        follow=True,
    )

    page = response.content.decode()
    assert "Something went wrong at Xero" in page
    assert "<script>alert(1)</script>" not in page
    # Codat's raw words are for staff (kept on the attempt), not shown to the customer.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" not in page
    attempt = LinkAttempt.objects.get()
    assert attempt.error_message == "<script>alert(1)</script>"
    assert f"quote reference <code>{attempt.id}</code>" in page


def test_not_supported_suggests_alternatives_of_the_same_kind(
    owner_client, pending, state, codat_says
):
    codat_says("PendingAuth")

    response = owner_client.get(return_url(state, statusCode="501"), follow=True)

    page = response.content.decode()
    assert "Xero isn't supported" in page
    assert "QuickBooks Online" in page and "Sandbox" in page
    assert "Shopify" not in page  # only the same kind of package


def test_the_outcome_page_of_another_company_is_404(
    owner_client, outsider_client, pending, state, codat_says
):
    codat_says("PendingAuth")
    response = owner_client.get(return_url(state, statusCode="403"))
    outcome = response["Location"]

    assert outsider_client.get(outcome).status_code == 404


# --- when Codat does not carry our state back (docs/codat.md §4) -------------------------------
# The return is then matched to the signed-in user's own open attempt by companyId and
# connectionId, under the same single-use and expiry rules, and confirmed with Codat.

NO_STATE = [None, "", "{state}"]


@pytest.mark.parametrize("missing", NO_STATE, ids=["absent", "empty", "unfilled"])
def test_without_a_state_the_return_matches_the_users_own_attempt_by_its_ids(
    owner_client, pending, state, codat_says, missing
):
    route = codat_says("Linked")

    response = owner_client.get(return_url(missing))

    assert response.status_code == 303
    assert response["Location"] == f"/connections/{pending.id}/"
    assert route.call_count == 1
    pending.refresh_from_db()
    assert pending.status == Connection.Status.LINKED
    attempt = LinkAttempt.objects.get()
    assert attempt.used_at is not None and attempt.status_code == "200"
    assert "You're connected" in owner_client.get(response["Location"]).content.decode()


def test_without_a_state_the_query_is_still_not_trusted(owner_client, pending, state, codat_says):
    codat_says("PendingAuth")

    response = owner_client.get(return_url(None), follow=True)

    pending.refresh_from_db()
    assert pending.status == Connection.Status.PENDING_AUTH
    assert "Waiting for Xero" in response.content.decode()


def test_without_a_state_a_replay_is_refused(owner_client, pending, state, codat_says):
    route = codat_says("Linked")
    assert owner_client.get(return_url(None)).status_code == 303

    replay = owner_client.get(return_url(None, statusCode="403"))

    assert replay.status_code == 400
    assert route.call_count == 1
    assert LinkAttempt.objects.get().status_code == "200"


def test_without_a_state_the_state_of_a_used_attempt_is_refused_too(
    owner_client, pending, state, codat_says
):
    codat_says("Linked")
    assert owner_client.get(return_url(None)).status_code == 303

    assert owner_client.get(return_url(state)).status_code == 400


def test_without_a_state_an_expired_attempt_is_refused(owner_client, pending, state, codat_says):
    route = codat_says("Linked")

    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = owner_client.get(return_url(None))

    assert response.status_code == 400
    assert route.call_count == 0
    assert_nothing_changed(pending)


@pytest.mark.parametrize(
    "overrides",
    [
        {"companyId": str(uuid.uuid4())},
        {"connectionId": str(uuid.uuid4())},
        {"connectionId": None},
        {"connectionId": ""},
    ],
    ids=["another company", "another connection", "no connectionId", "empty connectionId"],
)
def test_without_a_state_other_or_missing_ids_match_nothing(
    owner_client, pending, state, codat_says, overrides
):
    route = codat_says("Linked")

    response = owner_client.get(return_url(None, **overrides))

    assert response.status_code == 400
    assert "Start again" in response.content.decode()
    assert route.call_count == 0
    assert_nothing_changed(pending)


def test_without_a_state_and_without_any_attempt_nothing_matches(owner_client, pending, codat_says):
    route = codat_says("Linked")

    assert owner_client.get(return_url(None)).status_code == 400
    assert route.call_count == 0
    assert_nothing_changed(pending)


@pytest.mark.parametrize("who", ["colleague", "outsider"])
def test_without_a_state_another_users_attempt_does_not_match_and_is_logged(
    request, pending, state, codat_says, caplog, who
):
    route = codat_says("Linked")
    client = Client()
    client.force_login(request.getfixturevalue(who))

    with caplog.at_level(logging.WARNING, logger="consent_portal.security"):
        response = client.get(return_url(None))

    assert response.status_code == 400
    assert route.call_count == 0
    assert_nothing_changed(pending)
    assert any("another user's attempt" in r.getMessage() for r in caplog.records)


def test_a_present_state_is_checked_and_never_falls_back_to_the_ids(
    owner_client, colleague, pending, state, codat_says
):
    route = codat_says("Linked")
    _, colleagues_state = services.link_attempt_create(
        user=colleague, company=pending.company, connection=pending
    )

    # The owner has an open attempt for these very ids; a wrong state is still a refusal.
    for wrong in ["A" * 43, colleagues_state, "not-a-state"]:
        assert owner_client.get(return_url(wrong)).status_code == 400, wrong

    assert route.call_count == 0
    assert_nothing_changed(pending)


def test_without_a_state_the_newest_open_attempt_is_used_and_older_ones_close_with_it(
    owner, owner_client, pending, codat_says
):
    codat_says("Linked")
    with time_machine.travel(timezone.now() - timedelta(minutes=2)):
        older, _ = services.link_attempt_create(
            user=owner, company=pending.company, connection=pending
        )
    newer, _ = services.link_attempt_create(user=owner, company=pending.company, connection=pending)

    response = owner_client.get(return_url(None, statusCode="403"))
    assert response.status_code == 303
    assert response["Location"] == f"/connections/attempts/{newer.id}/"

    newer.refresh_from_db()
    older.refresh_from_db()
    assert (newer.used_at is not None, newer.status_code) == (True, "403")
    assert older.used_at is not None  # cannot be told apart from the newer one without a state
    assert owner_client.get(return_url(None)).status_code == 400


def test_without_a_state_a_return_without_a_session_completes_after_logging_in(
    owner, pending, state, codat_says
):
    codat_says("Linked")
    browser = Client()

    response = browser.get(return_url(None))

    assert response.status_code == 401
    assert_nothing_changed(pending)
    logged_in = browser.post(
        response.context["login_url"], {"username": owner.email, "password": PASSWORD}
    )
    finished = browser.get(logged_in["Location"])

    assert finished.status_code == 303
    pending.refresh_from_db()
    assert pending.status == Connection.Status.LINKED


# The same, end to end: the sandbox's Link page reached the way Codat would if it dropped the
# custom parameters from a connection's linkUrl.


def test_the_journey_completes_when_codat_drops_the_state(client, settings, codat_account_set_up):
    settings.CODAT_SANDBOX_CUSTOM_PARAMS = "pass"  # the Link URL itself arrives without it
    company = sign_up(client)
    link_url = start_link(client, "gbol")
    assert "state=" in link_url
    dropped = link_url.split("?", 1)[0]

    back = finish_at_codat(client, dropped)
    query = parse_qs(urlsplit(back).query, keep_blank_values=True)
    assert query["state"] == [""]  # the placeholder had nothing to fill it
    confirmed = client.get(local(back))

    assert confirmed.status_code == 303
    connection = Connection.objects.get(company=company)
    assert confirmed["Location"] == f"/connections/{connection.id}/"
    assert connection.status == Connection.Status.LINKED
    assert SandboxConnection.objects.get(pk=connection.codat_connection_id).status == "Linked"
    assert client.get(local(back)).status_code == 400  # and only once


def test_the_journey_completes_with_a_template_that_has_no_state(client, settings, request):
    settings.CODAT_REDIRECT_URL_TEMPLATE = settings.CODAT_REDIRECT_URL_TEMPLATE.replace(
        "state={state}&", ""
    )
    request.getfixturevalue("codat_account_set_up")  # writes that template to Codat's profile
    company = sign_up(client)

    back = finish_at_codat(client, start_link(client, "gbol"))
    assert "state" not in parse_qs(urlsplit(back).query)
    confirmed = client.get(local(back))

    assert confirmed.status_code == 303
    assert Connection.objects.get(company=company).status == Connection.Status.LINKED
