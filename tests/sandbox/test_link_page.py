"""The hosted Link page: what the customer sees, each outcome, and the redirect back through the
profile's redirect URL template (or the sandbox's own page when there is none).

Custom Link URL parameters reach the redirect only with CODAT_SANDBOX_CUSTOM_PARAMS=pass; tests
that depend on either mode set it themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client

from codat_sandbox import services
from codat_sandbox.integrations import SANDBOX_CLIENT_ID
from codat_sandbox.models import SandboxConnection

from .steps import connect, link_path, redirect_to

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)

FULL_TEMPLATE = (
    "https://app.example/return/{companyId}?state={state}&clientId={clientId}"
    "&connectionId={connectionId}&integrationId={integrationId}&sourceId={sourceId}"
    "&platform={platform}&platformName={platformName}&sourceType={sourceType}"
    "&statusCode={statusCode}&errorMessage={errorMessage}&statusText={statusText}"
    "&companyName={data.company.companyName}&flow={flow}"
)


@pytest.fixture
def full_template(db):
    redirect_to(FULL_TEMPLATE)


@pytest.fixture
def carried(settings):
    """Custom Link URL parameters carried into the redirect."""
    settings.CODAT_SANDBOX_CUSTOM_PARAMS = "pass"


@pytest.fixture
def dropped(settings):
    """The sandbox's default: custom Link URL parameters are not carried."""
    settings.CODAT_SANDBOX_CUSTOM_PARAMS = "drop"


def choose(client: Client, connection: SandboxConnection, outcome: str, query: str = "state=s1"):
    path = link_path(connection) + (f"?{query}" if query else "")
    return client.post(path, {"outcome": outcome})


def returned(response) -> dict[str, str]:
    """The query of the redirect, one value per name (blank values kept)."""
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query, keep_blank_values=True)
    return {name: values[-1] for name, values in query.items()}


def test_the_page_names_the_platform_and_the_company(client, bakery, settings):
    connection = connect(bakery, "gbol")

    response = client.get(link_path(connection) + "?state=s1")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Connect Xero" in html
    assert "Bramble Bakery" in html
    assert 'src="/static/img/platforms/gbol.svg"' in html
    for outcome in ("authorize", "cancel", "error", "unsupported"):
        assert f'name="outcome" value="{outcome}"' in html
    # The form posts back to the same URL, so `state` survives the round trip.
    assert f'action="{link_path(connection)}?state=s1"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_the_page_has_no_inline_script_or_style(client, bakery):
    html = client.get(link_path(connect(bakery, "mqjo"))).content.decode()

    assert "<script" not in html
    assert "style=" not in html
    assert "<style" not in html


def test_names_and_parameters_are_html_escaped(client, db):
    # Codat strips such characters from names, but the page must not trust what it stores.
    company = services.company_create(name="Tom & Jerry's <b>Shop</b>")
    connection = connect(company, "mqjo")

    html = client.get(link_path(connection) + '?state="><script>alert(1)</script>').content.decode()

    assert "Tom &amp; Jerry&#x27;s &lt;b&gt;Shop&lt;/b&gt;" in html
    assert "<b>Shop</b>" not in html
    assert "<script>" not in html


@time_machine.travel(FROZEN, tick=False)
def test_authorising_links_the_connection_and_redirects_with_200(
    client, bakery, full_template, carried
):
    connection = connect(bakery, "gbol")

    query = returned(choose(client, connection, "authorize", "state=s1&flow=lending"))

    assert query == {
        "state": "s1",
        "clientId": SANDBOX_CLIENT_ID,
        "connectionId": str(connection.id),
        "integrationId": "0f20c943-12d0-4800-9f6c-d218f62d494c",
        "sourceId": "8a156a5a-39cb-4f9d-856e-76ef9b9a9607",
        "platform": "gbol",
        "platformName": "Xero",
        "sourceType": "Accounting",
        "statusCode": "200",
        "errorMessage": "",
        "statusText": "",
        "companyName": "Bramble Bakery",
        "flow": "lending",
    }
    connection.refresh_from_db()
    assert connection.status == "Linked"
    assert connection.last_sync is None
    assert connection.data_connection_errors == []


def test_the_company_id_fills_the_path(client, bakery, full_template):
    response = choose(client, connect(bakery, "mqjo"), "authorize")

    assert urlsplit(response["Location"]).path == f"/return/{bakery.id}"


@time_machine.travel(FROZEN, tick=False)
def test_custom_parameters_are_dropped_by_default(client, bakery, full_template, settings):
    del settings.CODAT_SANDBOX_CUSTOM_PARAMS  # as when the setting is not configured
    connection = connect(bakery, "gbol")

    query = returned(choose(client, connection, "authorize", "state=s1&flow=lending"))

    assert (query["state"], query["flow"]) == ("", "")
    # Everything Codat itself knows still arrives.
    assert query["companyName"] == "Bramble Bakery"
    assert (query["connectionId"], query["statusCode"]) == (str(connection.id), "200")


def test_dropped_parameters_cannot_fake_the_outcome_either(client, bakery, full_template, dropped):
    query = returned(
        choose(client, connect(bakery, "mqjo"), "cancel", "state=s1&statusCode=200&errorMessage=")
    )

    assert (query["state"], query["statusCode"]) == ("", "403")
    assert query["errorMessage"] == "User cancelled."


def test_the_redirect_url_is_the_one_last_put_on_the_profile(client, bakery, dropped):
    redirect_to("https://first.example/back?c={companyId}")
    redirect_to("https://second.example/back?c={companyId}&s={statusCode}")

    response = choose(client, connect(bakery, "mqjo"), "authorize")

    assert response["Location"] == f"https://second.example/back?c={bakery.id}&s=200"


@pytest.mark.parametrize(
    ("outcome", "heading", "text"),
    [
        ("authorize", "Connected", "Bramble Bakery is connected to Sandbox"),
        ("cancel", "Not connected", "User cancelled."),
    ],
)
def test_without_a_redirect_url_link_ends_on_its_own_page(client, bakery, outcome, heading, text):
    connection = connect(bakery, "mqjo")

    response = choose(client, connection, outcome)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<h1 id="link-heading">{heading}</h1>' in html
    assert text in html
    assert "no redirect URL" in html
    connection.refresh_from_db()
    assert connection.status == ("Linked" if outcome == "authorize" else "PendingAuth")


def test_a_state_with_special_characters_round_trips(client, bakery, full_template, carried):
    response = choose(client, connect(bakery, "mqjo"), "authorize", "state=a%20b%26c%3Dd%2F")

    assert returned(response)["state"] == "a b&c=d/"


def test_a_missing_custom_parameter_becomes_empty(client, bakery, full_template, carried):
    query = returned(choose(client, connect(bakery, "mqjo"), "authorize", query=""))

    assert query["state"] == ""
    assert query["flow"] == ""


def test_a_link_url_parameter_cannot_fake_the_outcome(client, bakery, full_template, carried):
    query = returned(
        choose(client, connect(bakery, "mqjo"), "cancel", "state=s1&statusCode=200&errorMessage=")
    )

    assert query["statusCode"] == "403"
    assert query["errorMessage"] == "User cancelled."


@time_machine.travel(FROZEN, tick=False)
def test_cancelling_keeps_it_pending_and_records_the_error(client, bakery, full_template):
    connection = connect(bakery, "qhnd")

    query = returned(choose(client, connection, "cancel"))

    assert (query["statusCode"], query["errorMessage"]) == ("403", "User cancelled.")
    assert query["statusText"] == "User cancelled linking"
    assert query["companyName"] == ""  # only sent on success, and only by some platforms
    connection.refresh_from_db()
    assert connection.status == "PendingAuth"
    assert connection.data_connection_errors == [
        {
            "statusCode": "403",
            "statusText": "User cancelled linking",
            "errorMessage": "User cancelled.",
            "erroredOnUtc": "2026-07-01T12:00:00.000000Z",
            "status": "Active",
        }
    ]


@pytest.mark.parametrize(
    ("outcome", "status_code", "message"),
    [("error", "500", "Unknown error occurred."), ("unsupported", "501", "Not supported.")],
)
def test_a_failure_keeps_it_pending_with_codats_standard_message(
    client, bakery, full_template, outcome, status_code, message
):
    connection = connect(bakery, "aiwb")

    query = returned(choose(client, connection, outcome))

    assert (query["statusCode"], query["errorMessage"]) == (status_code, message)
    assert query["statusText"] != ""
    connection.refresh_from_db()
    assert connection.status == "PendingAuth"
    [entry] = connection.data_connection_errors
    assert (entry["statusCode"], entry["errorMessage"], entry["status"]) == (
        status_code,
        message,
        "Active",
    )


def test_the_api_shows_the_error_after_a_cancel(client, api, bakery):
    connection = connect(bakery, "qhnd")
    choose(client, connection, "cancel")

    body = api.get(f"/companies/{bakery.id}/connections/{connection.id}").json()

    assert body["status"] == "PendingAuth"
    assert body["dataConnectionErrors"][0]["statusCode"] == "403"


def test_authorising_an_already_linked_connection_does_nothing_and_says_201(
    client, bakery, full_template
):
    connection = connect(bakery, "mqjo", linked=True)

    page = client.get(link_path(connection))
    query = returned(choose(client, connection, "authorize"))

    assert "already linked" in page.content.decode()
    assert (query["statusCode"], query["errorMessage"]) == ("201", "")
    connection.refresh_from_db()
    assert connection.status == "Linked"
    assert connection.data_connection_errors == []


def test_cancelling_on_a_linked_connection_is_201_too(client, bakery, full_template):
    connection = connect(bakery, "mqjo", linked=True)

    assert returned(choose(client, connection, "cancel"))["statusCode"] == "201"
    connection.refresh_from_db()
    assert connection.data_connection_errors == []


def test_relinking_a_deauthorised_connection_reuses_it_and_resolves_old_errors(
    client, bakery, full_template
):
    connection = connect(bakery, "suuo")
    choose(client, connection, "cancel")
    SandboxConnection.objects.filter(pk=connection.pk).update(status="Deauthorized")

    query = returned(choose(client, connection, "authorize"))

    assert query["statusCode"] == "200"
    connection.refresh_from_db()
    assert connection.status == "Linked"
    [entry] = connection.data_connection_errors
    assert entry["status"] == "Resolved"
    assert entry["resolvedOnUtc"] >= entry["erroredOnUtc"]


def test_a_switched_off_platform_answers_501_on_authorise(client, bakery, settings, full_template):
    connection = connect(bakery, "upvr")
    settings.CODAT_SANDBOX_DISABLED_INTEGRATIONS = ["upvr"]

    query = returned(choose(client, connection, "authorize"))

    assert (query["statusCode"], query["errorMessage"]) == ("501", "Not supported.")
    connection.refresh_from_db()
    assert connection.status == "PendingAuth"


def test_an_unknown_outcome_is_a_400_and_changes_nothing(client, bakery):
    connection = connect(bakery, "mqjo")

    response = choose(client, connection, "hack")

    assert response.status_code == 400
    connection.refresh_from_db()
    assert connection.status == "PendingAuth"
    assert connection.data_connection_errors == []


@pytest.mark.parametrize(
    "path",
    [
        "/sandbox/link/companies/not-a-uuid/connections/also-not/start",
        "/sandbox/link/companies/5b1bdc47-8f4f-4b37-a0b4-3e6c1d0f6a11/connections/"
        "a22dd66b-564a-4832-9b37-7b3ce4aeb7de/start",
    ],
)
def test_an_invalid_link_is_a_404_page(client, db, path):
    response = client.get(path)

    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()


def test_a_connection_under_another_company_is_not_found(client, bakery):
    other = services.company_create(name="Other")
    theirs = connect(other, "mqjo")

    response = client.get(f"/sandbox/link/companies/{bakery.id}/connections/{theirs.id}/start")

    assert response.status_code == 404


def test_a_post_without_a_csrf_token_is_refused(bakery):
    browser = Client(enforce_csrf_checks=True)
    connection = connect(bakery, "mqjo")

    response = browser.post(link_path(connection), {"outcome": "authorize"})

    assert response.status_code == 403
    connection.refresh_from_db()
    assert connection.status == "PendingAuth"


def test_the_link_url_from_the_api_leads_to_the_page(client, api, bakery, settings):
    created = api.post(f"/companies/{bakery.id}/connections", {"platformKey": "tgff"}).json()

    response = client.get(created["linkUrl"].removeprefix(settings.SITE_URL))

    assert response.status_code == 200
    assert "Connect Sage Accounting" in response.content.decode()


# --- the company-level Link page (the company's `redirect`) ---------------------------------


def test_the_company_page_lists_the_enabled_platforms(client, bakery, settings):
    settings.CODAT_SANDBOX_DISABLED_INTEGRATIONS = ["upvr"]

    html = client.get(f"/sandbox/link/company/{bakery.id}").content.decode()

    assert "Connect Bramble Bakery" in html
    assert 'value="gbol"' in html
    assert 'value="upvr"' not in html


def test_choosing_a_platform_continues_at_its_connection_page_keeping_parameters(client, bakery):
    response = client.post(f"/sandbox/link/company/{bakery.id}?state=s9", {"platformKey": "qhyg"})

    connection = SandboxConnection.objects.get()
    assert connection.integration_key == "qhyg"
    assert response.status_code == 302
    assert response["Location"] == f"{link_path(connection)}?state=s9"


def test_choosing_the_same_platform_again_reuses_its_connection(client, bakery):
    existing = connect(bakery, "qhyg")

    response = client.post(f"/sandbox/link/company/{bakery.id}", {"platformKey": "qhyg"})

    assert response["Location"] == link_path(existing)
    assert SandboxConnection.objects.count() == 1


def test_the_company_page_refuses_a_second_accounting_platform(client, bakery):
    connect(bakery, "mqjo", linked=True)

    response = client.post(f"/sandbox/link/company/{bakery.id}", {"platformKey": "gbol"})

    assert response.status_code == 400
    assert "already has a linked accounting platform" in response.content.decode()


def test_an_unknown_company_page_is_a_404(client, db):
    assert client.get("/sandbox/link/company/not-a-uuid").status_code == 404
