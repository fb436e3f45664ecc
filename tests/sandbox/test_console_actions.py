"""The console's levers: expire a connection, fail a sync, replay and reorder webhooks, hold
delivery, and inject faults into the API (docs/architecture.md §7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from django.conf import settings
from django.test import Client

from codat.client import CodatClient
from codat.errors import CodatRateLimited
from codat_sandbox import faults, timeline, webhooks
from codat_sandbox.inprocess import wsgi_app
from codat_sandbox.models import SandboxConnection, SandboxFault, SandboxWebhookMessage

from .steps import connect, link_path, register_consumer, sync_settings


def client_for(user) -> Client:
    signed_in = Client()
    signed_in.force_login(user)
    return signed_in


@pytest.fixture
def client(staff_client):
    # With DEBUG off, as here, the console is for signed-in staff only (L3; tests/hardening).
    return staff_client


START = datetime(2026, 5, 6, 9, 0, 0, tzinfo=UTC)
EXPIRED = "The integration de-authorized access to the connection."


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def consumer(clock, db):
    # The app's endpoint is registered before anything happens, as `codat_setup` leaves it.
    return register_consumer()


def flash(response) -> str:
    """The console page after the redirect, as text."""
    return response.content.decode()


def body_of(message: SandboxWebhookMessage) -> dict:
    return json.loads(bytes(message.payload))


# --- expire (Open Banking) ----------------------------------------------------------------------


def test_expiring_a_connection_deauthorises_it_like_an_open_banking_expiry(client, bakery):
    bank = connect(bakery, "suuo", linked=True)

    response = client.post(f"/sandbox/console/connections/{bank.id}/expire")

    assert response.status_code == 302
    assert response["Location"] == f"/sandbox/#company-{bakery.id}"
    bank.refresh_from_db()
    assert bank.status == "Deauthorized"
    assert bank.data_connection_errors[-1] == {
        "statusCode": "401",
        "statusText": EXPIRED,
        "errorMessage": EXPIRED,
        "erroredOnUtc": "2026-05-06T09:00:00.000000Z",
        "status": "Active",
    }
    event = body_of(SandboxWebhookMessage.objects.get(event_type="connection.disconnected"))
    assert event["payload"]["connection"]["status"] == "Deauthorized"
    assert event["payload"]["connection"]["dataConnectionErrors"][-1]["statusCode"] == "401"


def test_datasets_still_fetching_when_access_goes_end_in_auth_error(api, client, bakery, clock):
    sync_settings(bakery, "banking-transactions")
    bank = connect(bakery, "suuo", linked=True)
    clock.shift(1.5)

    client.post(f"/sandbox/console/connections/{bank.id}/expire")

    dataset = bank.datasets.get()
    operation = api.get(f"/companies/{bakery.id}/data/history/{dataset.id}").json()
    assert operation["status"] == "AuthError"
    assert operation["isErrored"] is True
    assert operation["errorMessage"] == EXPIRED
    initial = body_of(SandboxWebhookMessage.objects.get(event_type="read.completed.initial"))
    assert initial["payload"]["dataTypes"][0]["status"] == "AuthError"
    # No new syncs until the customer links again.
    assert api.post(f"/companies/{bakery.id}/data/queue/banking-transactions").status_code == 400


def test_relinking_an_expired_connection_resolves_it_and_announces_reconnected(client, bakery):
    bank = connect(bakery, "suuo", linked=True)
    client.post(f"/sandbox/console/connections/{bank.id}/expire")

    client.post(link_path(bank), {"outcome": "authorize"})

    bank.refresh_from_db()
    assert bank.status == "Linked"
    assert bank.data_connection_errors[-1]["status"] == "Resolved"
    assert SandboxWebhookMessage.objects.filter(event_type="connection.reconnected").count() == 1


def test_only_a_linked_connection_can_expire(client, bakery):
    pending = connect(bakery, "suuo")

    response = client.post(f"/sandbox/console/connections/{pending.id}/expire", follow=True)

    assert "Only a Linked connection can lose its access" in flash(response)
    pending.refresh_from_db()
    assert pending.status == "PendingAuth"
    assert not SandboxWebhookMessage.objects.filter(event_type="connection.disconnected").exists()


def test_console_actions_need_post_csrf_and_a_real_connection(bakery, staff):
    bank = connect(bakery, "suuo", linked=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)

    assert browser.get(f"/sandbox/console/connections/{bank.id}/expire").status_code == 405
    assert browser.post(f"/sandbox/console/connections/{bank.id}/expire").status_code == 403
    assert client_for(staff).post("/sandbox/console/connections/nope/expire").status_code == 404
    missing = "0498e921-9b53-4396-a412-4f2f5983b0a2"
    assert (
        client_for(staff).post(f"/sandbox/console/connections/{missing}/expire").status_code == 404
    )
    bank.refresh_from_db()
    assert bank.status == "Linked"


def test_the_console_forms_carry_a_csrf_token(client, bakery):
    connect(bakery, "suuo", linked=True)

    html = client.get("/sandbox/").content.decode()

    assert html.count('name="csrfmiddlewaretoken"') == html.count('method="post"')


# --- fail a data type's next sync ---------------------------------------------------------------


def test_failing_a_data_types_next_sync_makes_just_that_sync_end_in_fetch_error(
    api, client, bakery, clock
):
    sync_settings(bakery, "invoices")
    xero = connect(bakery, "gbol", linked=True)
    clock.shift(10)

    response = client.post(
        f"/sandbox/console/connections/{xero.id}/fail-next-sync",
        {"data_type": "invoices"},
        follow=True,
    )
    failing = api.post(f"/companies/{bakery.id}/data/queue/invoices").json()
    clock.shift(10)
    working = api.post(f"/companies/{bakery.id}/data/queue/invoices").json()
    clock.shift(10)

    assert "The next invoices sync" in flash(response)
    history = f"/companies/{bakery.id}/data/history"
    assert api.get(f"{history}/{failing['id']}").json()["status"] == "FetchError"
    assert api.get(f"{history}/{working['id']}").json()["status"] == "Complete"


def test_a_data_type_the_connection_cannot_sync_is_refused(client, bakery):
    xero = connect(bakery, "gbol", linked=True)

    response = client.post(
        f"/sandbox/console/connections/{xero.id}/fail-next-sync",
        {"data_type": "banking-transactions"},
        follow=True,
    )

    assert "Select a valid choice" in flash(response)
    xero.refresh_from_db()
    assert xero.fail_next_sync_data_types == []


# --- webhooks: replay, reorder, hold, send now --------------------------------------------------


def test_replaying_a_message_queues_a_duplicate_with_the_same_webhook_id(client, bakery):
    original = SandboxWebhookMessage.objects.get(event_type="company.created")

    response = client.post(f"/sandbox/console/webhooks/{original.public_id}/replay")

    assert response["Location"] == "/sandbox/#outbox"
    replay = SandboxWebhookMessage.objects.get(replay_of=original)
    assert replay.msg_id == original.msg_id
    assert bytes(replay.payload) == bytes(original.payload)
    assert replay.state == "pending"
    assert client.post("/sandbox/console/webhooks/nope/replay").status_code == 404


def test_two_waiting_messages_can_be_swapped(client, bakery):
    company_created = SandboxWebhookMessage.objects.get(event_type="company.created")
    connect(bakery, "gbol")
    connection_created = SandboxWebhookMessage.objects.get(event_type="connection.created")

    client.post(
        "/sandbox/console/webhooks/reorder",
        {"first": company_created.public_id, "second": connection_created.public_id},
    )

    company_created.refresh_from_db()
    connection_created.refresh_from_db()
    assert connection_created.due_at < company_created.due_at


def test_reordering_needs_two_different_waiting_messages(client, bakery):
    message = SandboxWebhookMessage.objects.get(event_type="company.created")

    same = client.post(
        "/sandbox/console/webhooks/reorder",
        {"first": message.public_id, "second": message.public_id},
        follow=True,
    )
    message.delivered_at = START
    message.save()
    connect(bakery, "gbol")
    other = SandboxWebhookMessage.objects.get(event_type="connection.created")
    delivered = client.post(
        "/sandbox/console/webhooks/reorder",
        {"first": message.public_id, "second": other.public_id},
        follow=True,
    )

    assert "Choose two different messages" in flash(same)
    assert "Select a valid choice" in flash(delivered)


def test_holding_delivery_keeps_messages_waiting_until_released(client, bakery, settings, clock):
    settings.CODAT_SANDBOX_IN_PROCESS = False
    clock.shift(1)  # company.created is due
    with respx.mock(assert_all_called=False) as network:
        route = network.post("http://127.0.0.1:8000/webhooks/codat/").respond(200)
        client.post("/sandbox/console/webhooks/hold", {"held": "true"})
        held_page = client.get("/sandbox/").content.decode()
        held = client.post("/sandbox/console/webhooks/deliver", follow=True)
        client.post("/sandbox/console/webhooks/hold", {"held": "false"})
        sent = client.post("/sandbox/console/webhooks/deliver", follow=True)

    assert "held: messages wait here" in held_page
    assert "Delivery is held; release it first." in flash(held)
    assert "Sent what was due: 1 delivered." in flash(sent)
    assert route.call_count == 1


def test_the_outbox_is_listed_newest_first_with_its_state(client, bakery):
    connect(bakery, "gbol")
    SandboxWebhookMessage.objects.filter(event_type="company.created").update(
        delivered_at=START, attempts=1, last_status=204
    )

    html = client.get("/sandbox/").content.decode()

    assert html.index("connection.created") < html.index("company.created")
    assert "delivered" in html and "pending" in html and "HTTP 204" in html
    assert "<script" not in html and "style=" not in html


def test_the_console_shows_who_receives_webhooks(client, consumer):
    listed = client.get("/sandbox/").content.decode()
    consumer.delete()
    none = client.get("/sandbox/").content.decode()

    assert "<code>http://127.0.0.1:8000/webhooks/codat/</code>: every event" in listed
    assert "No webhook consumer is registered" in none
    assert "codat_setup --apply" in none


# --- faults -------------------------------------------------------------------------------------


def add_fault(client, **fields):
    return client.post("/sandbox/console/faults", fields, follow=True)


def test_a_429_fault_answers_the_next_calls_like_codats_rate_limit(api, client, bakery):
    add_fault(client, kind="429", calls=2, retry_after=7)

    first = api.get(f"/companies/{bakery.id}")
    second = api.get("/integrations")
    third = api.get(f"/companies/{bakery.id}")

    for limited in (first, second):
        assert limited.status_code == 429
        assert limited["Retry-After"] == "7"
        assert limited.json()["error"] == faults.RATE_LIMITED_TEXT
        assert limited.json()["statusCode"] == 429
    assert third.status_code == 200
    assert not faults.active_faults()


@pytest.mark.parametrize(
    ("kind", "text"), [("500", faults.SERVER_ERROR_TEXT), ("503", faults.UNAVAILABLE_TEXT)]
)
def test_server_faults_answer_with_codats_error_body(api, client, bakery, kind, text):
    add_fault(client, kind=kind, calls=1)

    response = api.get(f"/companies/{bakery.id}")

    assert response.status_code == int(kind)
    assert response.json()["error"] == text
    assert response.json()["statusCode"] == int(kind)


def test_faults_come_before_the_api_key_check(api, client, bakery):
    add_fault(client, kind="503", calls=1)

    assert api.get(f"/companies/{bakery.id}", auth=None).status_code == 503


def test_a_latency_fault_delays_the_answer_then_answers_normally(api, client, bakery, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(faults, "sleep", slept.append)
    add_fault(client, kind="latency", calls=1, latency_seconds=2.5)

    response = api.get(f"/companies/{bakery.id}")

    assert response.status_code == 200
    assert slept == [2.5]


def test_faults_are_used_oldest_first_one_call_each(api, client, bakery):
    add_fault(client, kind="500", calls=1)
    add_fault(client, kind="503", calls=1)

    statuses = [api.get(f"/companies/{bakery.id}").status_code for _ in range(3)]

    assert statuses == [500, 503, 200]


def test_the_apps_client_rides_out_a_single_503_and_reports_a_long_429(client, bakery):
    codat = CodatClient(
        api_key=settings.CODAT_SANDBOX_KEY,
        base_url="http://testserver/sandbox/codat",
        transport=httpx.WSGITransport(app=wsgi_app),
        sleep=lambda seconds: None,
    )
    add_fault(client, kind="503", calls=1)

    assert [c.name for c in codat.find_companies_by_tag("uid", "cust_123")] == ["Bramble Bakery"]

    add_fault(client, kind="429", calls=1, retry_after=3600)
    with pytest.raises(CodatRateLimited) as caught:
        codat.find_companies_by_tag("uid", "cust_123")
    assert caught.value.retry_after == 3600


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"kind": "429", "calls": 1}, "Retry-After"),
        ({"kind": "latency", "calls": 1}, "Latency needs"),
        ({"kind": "500", "calls": 0}, "greater than or equal to 1"),
        ({"kind": "418", "calls": 1}, "Select a valid choice"),
    ],
)
def test_an_invalid_fault_is_refused(client, db, fields, complaint):
    response = add_fault(client, **fields)

    assert complaint in flash(response)
    assert not SandboxFault.objects.exists()


def test_clearing_faults_restores_normal_answers(api, client, bakery):
    add_fault(client, kind="500", calls=5)

    page = client.get("/sandbox/").content.decode()
    client.post("/sandbox/console/faults/clear")

    assert "500 Internal Server Error" in page and "next 5 calls" in page
    assert api.get(f"/companies/{bakery.id}").status_code == 200


def test_expire_then_deliver_sends_connection_disconnected_signed(client, bakery, settings):
    from standardwebhooks import Webhook

    settings.CODAT_SANDBOX_IN_PROCESS = False
    bank = connect(bakery, "suuo", linked=True)
    client.post(f"/sandbox/console/connections/{bank.id}/expire")
    with respx.mock(assert_all_called=False) as network:
        route = network.post("http://127.0.0.1:8000/webhooks/codat/").respond(200)
        webhooks.deliver_due(now=START + timedelta(seconds=timeline.SYNC_SECONDS_MAX))

    sent = [
        Webhook(settings.CODAT_WEBHOOK_SECRETS[0]).verify(
            call.request.content, dict(call.request.headers)
        )["eventType"]
        for call in route.calls
    ]
    assert sent[-1] == "connection.disconnected"
    assert SandboxConnection.objects.get(pk=bank.pk).status == "Deauthorized"
