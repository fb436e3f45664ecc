"""Delivering the outbox: to the webhook consumers subscribed to each event type, signed like
Codat's (Standard Webhooks), after the API call returns, at least once, retried on Codat's schedule
(docs/codat.md §8.1).

Delivery is driven by calling `deliver_due()` with the clock set by time_machine. The app's
endpoint is not involved: HTTP delivery is caught by respx, in-process delivery by a fake WSGI
app, and each test verifies the signature itself with the standardwebhooks library.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from standardwebhooks import Webhook

from codat_sandbox import inprocess, services, webhooks
from codat_sandbox.models import SandboxWebhookConsumer, SandboxWebhookMessage

from .steps import connect, register_consumer, sync_settings

START = datetime(2026, 5, 6, 9, 0, 0, tzinfo=UTC)
HOOK_URL = "http://127.0.0.1:8000/webhooks/codat/"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


@pytest.fixture(autouse=True)
def clock(time_machine):
    # Autouse, so that the clock stands at START before any fixture writes a message.
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def consumer(clock, db) -> SandboxWebhookConsumer:
    # The app's endpoint, registered for every event before any message is written (a message
    # goes to the consumers subscribed when it is written).
    return register_consumer(HOOK_URL)


@pytest.fixture
def over_http(settings):
    """Delivery over HTTP to the app's default URL, caught by respx."""
    settings.CODAT_SANDBOX_IN_PROCESS = False
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.CODAT_WEBHOOK_SECRETS = [SECRET, "whsec_b2xkLXNlY3JldC1ub3QtdXNlZA=="]
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def verified(request: httpx.Request) -> dict:
    """The request's body after checking its signature as the app will (raises if it fails)."""
    return Webhook(SECRET).verify(request.content, dict(request.headers))


def a_message(bakery) -> SandboxWebhookMessage:
    connect(bakery, "gbol")
    return SandboxWebhookMessage.objects.get(event_type="connection.created")


def after(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


# --- signing and sending ------------------------------------------------------------------------


def test_a_due_message_is_posted_signed_with_the_first_secret(bakery, clock, over_http):
    route = over_http.post(HOOK_URL).respond(204)
    message = a_message(bakery)
    clock.shift(1)

    delivered = webhooks.deliver_due()

    assert delivered == 2  # company.created and connection.created
    request = route.calls[-1].request
    assert request.headers["webhook-id"] == message.msg_id
    assert request.headers["webhook-timestamp"] == str(int(after(1).timestamp()))
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == bytes(message.payload)
    assert verified(request)["eventType"] == "connection.created"
    message.refresh_from_db()
    assert (message.state, message.attempts, message.last_status) == ("delivered", 1, 204)
    assert message.delivered_at == after(1)


def test_the_signature_is_the_standard_webhooks_one(bakery, clock, over_http):
    # Recomputed independently of the sender: HMAC-SHA256 over "id.timestamp.body".
    import base64
    import hashlib
    import hmac

    route = over_http.post(HOOK_URL).respond(200)
    a_message(bakery)
    clock.shift(1)
    webhooks.deliver_due()

    request = route.calls[-1].request
    signed = b".".join(
        [
            request.headers["webhook-id"].encode(),
            request.headers["webhook-timestamp"].encode(),
            request.content,
        ]
    )
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"


def test_nothing_is_sent_during_the_api_call_that_caused_it(api, bakery, clock, over_http):
    route = over_http.post(HOOK_URL).respond(200)

    response = api.post(f"/companies/{bakery.id}/connections", {"platformKey": "gbol"})
    sent_at_once = webhooks.deliver_due()

    assert response.status_code == 200
    assert route.call_count == 0
    assert sent_at_once == 0  # due half a second later
    clock.shift(webhooks.DELIVERY_DELAY_SECONDS)
    assert webhooks.deliver_due() == 2


def test_messages_go_out_in_the_order_they_fall_due(bakery, clock, over_http):
    route = over_http.post(HOOK_URL).respond(200)
    connection = connect(bakery, "gbol")
    clock.shift(0.1)
    from codat_sandbox import services

    services.link_authorize(connection=connection)
    clock.shift(10)

    webhooks.deliver_due()

    sent = [json.loads(call.request.content)["eventType"] for call in route.calls]
    assert sent == [
        "company.created",
        "connection.created",
        "connection.connected",
        "read.completed.initial",
    ]


def test_a_read_is_not_announced_before_its_sync_finishes(bakery, clock, over_http):
    route = over_http.post(HOOK_URL).respond(200)
    sync_settings(bakery, "invoices")
    connection = connect(bakery, "gbol", linked=True)
    finish = connection.datasets.get().finished_at

    webhooks.deliver_due(now=finish - timedelta(milliseconds=1))
    early = [json.loads(call.request.content)["eventType"] for call in route.calls]
    webhooks.deliver_due(now=finish)
    late = [json.loads(call.request.content)["eventType"] for call in route.calls]

    assert "read.completed.initial" not in early
    assert late[-1] == "read.completed.initial"


# --- who receives what -------------------------------------------------------------------------


def sent_to(route) -> list[str]:
    return [json.loads(call.request.content)["eventType"] for call in route.calls]


def test_each_consumer_gets_only_the_event_types_it_subscribed_to(bakery, clock, over_http):
    app = over_http.post(HOOK_URL).respond(200)
    other = over_http.post("https://hooks.example/codat").respond(200)
    register_consumer("https://hooks.example/codat", "connection.created", "read.completed")
    connect(bakery, "gbol")
    clock.shift(1)

    webhooks.deliver_due()

    # bakery's company.created was written before the second consumer existed.
    assert sent_to(app) == ["company.created", "connection.created"]
    assert sent_to(other) == ["connection.created"]
    # Both got the same message: one webhook-id, one body.
    assert (
        other.calls[0].request.headers["webhook-id"] == app.calls[1].request.headers["webhook-id"]
    )


def test_without_a_consumer_nothing_is_sent_and_the_outbox_says_why(clock, over_http, consumer):
    route = over_http.post(HOOK_URL).respond(200)
    consumer.delete()
    company = services.company_create(name="Nobody Listens")
    clock.shift(1)

    assert webhooks.deliver_due() == 0
    assert route.call_count == 0
    message = SandboxWebhookMessage.objects.get(company_id=company.id)
    assert message.state == "no consumer"
    assert message.last_error == webhooks.NO_CONSUMER


def test_a_disabled_consumer_gets_nothing(clock, over_http, consumer):
    route = over_http.post(HOOK_URL).respond(200)
    consumer.delete()
    register_consumer(HOOK_URL, disabled=True)
    services.company_create(name="Switched Off")
    clock.shift(1)

    assert webhooks.deliver_due() == 0
    assert route.call_count == 0


def test_a_consumer_with_company_tags_gets_only_those_companies_events(clock, over_http, consumer):
    route = over_http.post(HOOK_URL).respond(200)
    consumer.delete()
    register_consumer(HOOK_URL, company_tags=["region:uk"])
    services.company_create(name="Here", tags={"region": "uk"})
    services.company_create(name="There", tags={"region": "us"})
    clock.shift(1)

    webhooks.deliver_due()

    names = [json.loads(call.request.content)["payload"]["name"] for call in route.calls]
    assert names == ["Here"]


def test_a_consumer_deleted_before_delivery_is_owed_nothing(bakery, clock, over_http, consumer):
    route = over_http.post(HOOK_URL).respond(200)
    message = a_message(bakery)
    consumer.delete()
    clock.shift(1)

    assert webhooks.deliver_due() == 0
    assert route.call_count == 0
    message.refresh_from_db()
    assert message.state == "failed"


def test_a_failing_consumer_does_not_make_another_get_the_message_twice(bakery, clock, over_http):
    app = over_http.post(HOOK_URL).respond(200)
    other = over_http.post("https://hooks.example/codat")
    other.side_effect = [httpx.Response(500), httpx.Response(200)]
    register_consumer("https://hooks.example/codat", "connection.created")
    message = a_message(bakery)
    SandboxWebhookMessage.objects.exclude(pk=message.pk).delete()
    clock.shift(1)

    webhooks.deliver_due()
    clock.shift(5)
    webhooks.deliver_due()

    assert (app.call_count, other.call_count) == (1, 2)
    message.refresh_from_db()
    assert message.state == "delivered"


def test_reads_are_not_announced_when_no_product_is_enabled(bakery, clock, over_http, settings):

    settings.CODAT_SANDBOX_READ_WEBHOOKS = "off"
    route = over_http.post(HOOK_URL).respond(200)
    sync_settings(bakery, "invoices")
    connection = connect(bakery, "gbol", linked=True)
    clock.shift(60)

    webhooks.deliver_due()

    assert connection.datasets.get().data_type == "invoices"  # the read still happened
    assert sent_to(route) == ["company.created", "connection.created", "connection.connected"]
    assert not SandboxWebhookMessage.objects.filter(event_type__startswith="read.").exists()


def test_only_this_sites_consumers_are_reached_in_process(bakery, clock, settings, monkeypatch):
    settings.CODAT_SANDBOX_IN_PROCESS = True
    settings.CODAT_WEBHOOK_SECRETS = [SECRET]
    in_process: list[str] = []

    def fake_app(environ, start_response):
        in_process.append(environ["PATH_INFO"])
        start_response("204 No Content", [])
        return [b""]

    monkeypatch.setattr(inprocess, "wsgi_app", fake_app)
    register_consumer("https://hooks.example/elsewhere", "connection.created")
    with respx.mock(assert_all_called=False) as network:
        elsewhere = network.post("https://hooks.example/elsewhere").respond(200)
        a_message(bakery)
        clock.shift(1)
        webhooks.deliver_due()

    assert in_process == ["/webhooks/codat/", "/webhooks/codat/"]
    assert elsewhere.call_count == 1


def test_in_process_delivery_goes_through_the_wsgi_app_without_a_socket(
    bakery, clock, settings, monkeypatch
):
    settings.CODAT_SANDBOX_IN_PROCESS = True
    settings.CODAT_WEBHOOK_SECRETS = [SECRET]
    received: list[tuple[str, dict, bytes]] = []

    def fake_app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        received.append((environ["PATH_INFO"], headers, body))
        start_response("204 No Content", [])
        return [b""]

    monkeypatch.setattr(inprocess, "wsgi_app", fake_app)
    with respx.mock(assert_all_called=False) as network:  # any socket use would show here
        a_message(bakery)
        clock.shift(1)
        delivered = webhooks.deliver_due()

    assert delivered == 2
    assert network.calls.call_count == 0
    path, headers, body = received[-1]
    assert path == "/webhooks/codat/"
    assert Webhook(SECRET).verify(body, headers)["eventType"] == "connection.created"


def test_without_a_secret_nothing_is_sent_or_counted(bakery, clock, over_http, settings):
    settings.CODAT_WEBHOOK_SECRETS = []
    route = over_http.post(HOOK_URL).respond(200)
    message = a_message(bakery)
    clock.shift(1)

    assert webhooks.deliver_due() == 0
    assert route.call_count == 0
    message.refresh_from_db()
    assert message.attempts == 0


# --- failures and retries -----------------------------------------------------------------------


def test_a_failed_delivery_is_retried_with_the_same_id_and_a_fresh_signature(
    bakery, clock, over_http
):
    route = over_http.post(HOOK_URL)
    route.side_effect = [httpx.Response(500), httpx.Response(500), httpx.Response(200)] * 2
    message = a_message(bakery)
    SandboxWebhookMessage.objects.exclude(pk=message.pk).delete()
    clock.shift(1)

    assert webhooks.deliver_due() == 0
    message.refresh_from_db()
    assert (message.state, message.attempts, message.last_status) == ("retrying", 1, 500)
    assert message.due_at == after(1 + 5)

    clock.shift(4)
    assert webhooks.deliver_due() == 0
    assert route.call_count == 1  # not due yet

    clock.shift(1)
    webhooks.deliver_due()  # second failure: next try 5 minutes later
    clock.shift(300)
    assert webhooks.deliver_due() == 1

    first, _, third = route.calls
    assert first.request.headers["webhook-id"] == third.request.headers["webhook-id"]
    assert first.request.content == third.request.content
    assert first.request.headers["webhook-timestamp"] != third.request.headers["webhook-timestamp"]
    assert first.request.headers["webhook-signature"] != third.request.headers["webhook-signature"]
    assert verified(third.request)
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("delivered", 3)


def test_a_message_that_keeps_failing_follows_codats_schedule_then_is_given_up(
    bakery, clock, over_http
):
    route = over_http.post(HOOK_URL).respond(503)
    message = a_message(bakery)
    SandboxWebhookMessage.objects.exclude(pk=message.pk).delete()
    clock.shift(1)
    attempts_at = []

    for _ in range(20):
        if webhooks.deliver_due() == 0 and route.call_count > len(attempts_at):
            attempts_at.append(datetime.now(UTC))
        message.refresh_from_db()
        if message.state == "failed":
            break
        clock.move_to(message.due_at, tick=False)

    gaps = [(b - a).total_seconds() for a, b in zip(attempts_at, attempts_at[1:], strict=False)]
    assert gaps == SCHEDULE
    assert route.call_count == webhooks.MAX_ATTEMPTS == 8
    assert message.failed_at is not None
    clock.shift(timedelta(days=3))
    assert webhooks.deliver_due() == 0
    assert route.call_count == 8


def test_a_refused_connection_counts_as_a_failed_attempt(bakery, clock, over_http):
    over_http.post(HOOK_URL).mock(side_effect=httpx.ConnectError("refused"))
    message = a_message(bakery)
    clock.shift(1)

    assert webhooks.deliver_due() == 0

    message.refresh_from_db()
    assert message.attempts == 1
    assert message.last_status is None
    assert "ConnectError" in message.last_error


def test_an_in_process_app_that_raises_counts_as_a_failed_attempt(
    bakery, clock, settings, monkeypatch
):
    settings.CODAT_SANDBOX_IN_PROCESS = True

    def broken_app(environ, start_response):
        raise RuntimeError("the app fell over")

    monkeypatch.setattr(inprocess, "wsgi_app", broken_app)
    message = a_message(bakery)
    clock.shift(1)

    assert webhooks.deliver_due() == 0
    message.refresh_from_db()
    assert message.attempts == 1
    assert "the app fell over" in message.last_error


def test_a_failing_endpoint_never_breaks_the_sandbox_api(api, bakery, clock, over_http):
    over_http.post(HOOK_URL).mock(side_effect=httpx.ConnectError("refused"))

    for _ in range(3):
        response = api.post(f"/companies/{bakery.id}/connections", {"platformKey": "qhnd"})
        assert response.status_code == 200
        clock.shift(1)
        webhooks.deliver_due()

    assert SandboxWebhookMessage.objects.filter(attempts__gt=0, delivered_at=None).count() == 4


def test_a_delivery_whose_answer_was_lost_is_sent_again_at_least_once(bakery, clock, over_http):
    # The endpoint took the message but the answer did not arrive (a 502 from a proxy, say):
    # the same webhook-id comes again, which the receiver must treat as a duplicate.
    route = over_http.post(HOOK_URL)
    route.side_effect = [httpx.Response(502), httpx.Response(200)]
    message = a_message(bakery)
    SandboxWebhookMessage.objects.exclude(pk=message.pk).delete()
    clock.shift(1)
    webhooks.deliver_due()
    clock.shift(5)
    webhooks.deliver_due()

    ids = [call.request.headers["webhook-id"] for call in route.calls]
    assert ids == [message.msg_id, message.msg_id]


def test_a_message_claimed_by_a_process_that_died_is_sent_after_its_lease(bakery, clock, over_http):
    route = over_http.post(HOOK_URL).respond(200)
    message = a_message(bakery)
    SandboxWebhookMessage.objects.exclude(pk=message.pk).delete()
    clock.shift(1)
    assert webhooks._claim(message.pk, datetime.now(UTC))  # and then the process died

    assert webhooks.deliver_due() == 0
    clock.shift(webhooks.LEASE_SECONDS)
    assert webhooks.deliver_due() == 1
    assert route.call_count == 1


def test_two_pumps_cannot_claim_the_same_message(bakery, clock):
    message = a_message(bakery)
    clock.shift(1)
    now = datetime.now(UTC)

    assert webhooks._claim(message.pk, now) is True
    assert webhooks._claim(message.pk, now) is False


# --- the console's controls over delivery -------------------------------------------------------


def test_a_replay_sends_the_same_message_again_with_the_same_id(bakery, clock, over_http):
    route = over_http.post(HOOK_URL).respond(200)
    message = a_message(bakery)
    SandboxWebhookMessage.objects.exclude(pk=message.pk).delete()
    clock.shift(1)
    webhooks.deliver_due()

    replay = webhooks.replay(message)
    clock.shift(1)
    webhooks.deliver_due()

    assert replay.replay_of == message
    assert replay.msg_id == message.msg_id
    first, second = route.calls
    assert first.request.headers["webhook-id"] == second.request.headers["webhook-id"]
    assert first.request.content == second.request.content
    assert verified(second.request)


def test_held_delivery_sends_nothing_until_released(bakery, clock, over_http):
    route = over_http.post(HOOK_URL).respond(200)
    webhooks.set_held(True)
    a_message(bakery)
    clock.shift(1)

    assert webhooks.deliver_due() == 0
    webhooks.set_held(False)
    assert webhooks.deliver_due() == 2
    assert route.call_count == 2


def test_two_messages_can_be_delivered_in_reverse_order(bakery, clock, over_http):
    route = over_http.post(HOOK_URL).respond(200)
    company_created = SandboxWebhookMessage.objects.get(event_type="company.created")
    connection_created = a_message(bakery)

    webhooks.deliver_in_reverse_order(company_created, connection_created)
    clock.shift(1)
    webhooks.deliver_due()

    sent = [json.loads(call.request.content)["eventType"] for call in route.calls]
    assert sent == ["connection.created", "company.created"]


def test_delivered_messages_cannot_be_reordered(bakery, clock, over_http):
    over_http.post(HOOK_URL).respond(200)
    message = a_message(bakery)
    clock.shift(1)
    webhooks.deliver_due()
    other = SandboxWebhookMessage.objects.exclude(pk=message.pk).get()

    with pytest.raises(webhooks.ReorderError, match="not yet delivered"):
        webhooks.deliver_in_reverse_order(message, other)
    with pytest.raises(webhooks.ReorderError, match="two different"):
        webhooks.deliver_in_reverse_order(message, message)


# --- the pump -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "environ", "mode", "expected"),
    [
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, "thread", True),
        (["manage.py", "runserver", "--noreload"], {}, "thread", True),
        (["/venv/bin/gunicorn", "consent_portal.wsgi"], {}, "thread", True),
        # runserver's autoreloader parent only watches files; its child serves.
        (["manage.py", "runserver"], {}, "thread", False),
        (["manage.py", "migrate"], {"RUN_MAIN": "true"}, "thread", False),
        (["manage.py", "db_worker"], {}, "thread", False),
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, "off", False),
        (["/venv/bin/gunicorn", "consent_portal.wsgi"], {}, "off", False),
        (["pytest"], {}, "thread", False),
    ],
)
def test_only_a_serving_process_runs_the_pump(argv, environ, mode, expected):
    assert webhooks.should_run_pump(argv=argv, environ=environ, mode=mode) is expected


def test_under_pytest_no_pump_thread_is_started(settings):
    # pyproject.toml turns the pump off for the suite; tests deliver with deliver_due().
    assert settings.CODAT_SANDBOX_WEBHOOK_PUMP == "off"
    assert webhooks.start_pump_if_serving() is False
    assert not any(thread.name == "codat-sandbox-webhook-pump" for thread in threading.enumerate())


def test_the_pump_thread_calls_deliver_due_until_stopped(monkeypatch):
    calls = threading.Event()
    failures = []

    def fake_deliver_due(now=None):
        if not failures:
            failures.append("first call fails")
            raise RuntimeError("database restarting")
        calls.set()
        return 0

    monkeypatch.setattr(webhooks, "deliver_due", fake_deliver_due)
    pump = webhooks.WebhookPump(interval=0.01)
    pump.start()
    try:
        assert calls.wait(timeout=5), "the pump stopped after a failure"
    finally:
        pump.stop()
        pump.join(timeout=5)
    assert not pump.is_alive()
