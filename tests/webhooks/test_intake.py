"""The intake view: cheap refusals (B2), exactly once (W4), fast answers (W5), no redirect, and
logs without secrets."""

from __future__ import annotations

import base64
import logging
import time
from datetime import UTC, datetime

import httpx
import pytest
import respx
from django.db import connection
from django_tasks_db.models import DBTaskResult
from standardwebhooks import Webhook

from connections import webhook_processing
from connections.models import Connection, WebhookEvent
from tests.webhooks.steps import (
    SECRET,
    URL,
    as_svix,
    connection_event,
    encode,
    new_webhook_id,
    post,
    signed_headers,
)

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


# --- B2: refused before verification ----------------------------------------------------------


@pytest.fixture
def verification_spy(monkeypatch) -> list[bytes]:
    calls: list[bytes] = []
    original = Webhook.verify

    def spy(self, data, headers, **kwargs):
        calls.append(data)
        return original(self, data, headers, **kwargs)

    monkeypatch.setattr(Webhook, "verify", spy)
    return calls


def test_a_body_over_the_limit_is_refused_before_verification(client, verification_spy):
    body = b'{"pad": "' + b"x" * (256 * 1024) + b'"}'

    response = post(client, body, signed_headers(body))

    assert response.status_code == 413
    assert verification_spy == []
    assert not WebhookEvent.objects.exists()


def test_the_limit_is_a_setting(client, settings, verification_spy):
    settings.CODAT_WEBHOOK_MAX_BODY_BYTES = 100
    body = encode({"eventType": "connection.created", "pad": "x" * 100})

    assert post(client, body, signed_headers(body)).status_code == 413
    assert verification_spy == []


def test_a_body_over_djangos_upload_limit_is_refused_before_verification(
    client, settings, verification_spy
):
    # Django's own ceiling (RequestDataTooBig) applies when it is below ours.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = encode({"eventType": "connection.created", "pad": "x" * 2000})

    response = post(client, body, signed_headers(body))

    assert response.status_code == 413
    assert verification_spy == []
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "options"])
def test_other_methods_are_not_allowed(client, method):
    body = encode({"eventType": "connection.created"})

    response = getattr(client, method)(URL, headers=signed_headers(body))

    assert response.status_code == 405
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/jsonp",
        "application/json-patch+json",
        "",
    ],
)
def test_a_content_type_other_than_json_is_refused(client, verification_spy, content_type):
    body = encode({"eventType": "connection.created"})

    response = post(client, body, signed_headers(body), content_type=content_type)

    assert response.status_code == 415
    assert verification_spy == []
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_parameters_or_other_case_is_accepted(client, content_type):
    body = encode({"eventType": "connection.created"})

    assert post(client, body, signed_headers(body), content_type=content_type).status_code == 202


# --- W4: exactly once ---------------------------------------------------------------------------


def test_the_same_message_twice_makes_one_row_and_one_change(
    client, xero, django_capture_on_commit_callbacks
):
    body = encode(connection_event("connection.connected", T1))
    headers = signed_headers(body)

    with django_capture_on_commit_callbacks(execute=True) as first_callbacks:
        first = post(client, body, headers)
    with django_capture_on_commit_callbacks(execute=True) as second_callbacks:
        second = post(client, body, headers)

    assert (first.status_code, second.status_code) == (202, 200)
    # One drain queued; the rest of what runs after the commit is the processing's own (the
    # pages' version moving on, companies.page_cache).
    drains = [c for c in first_callbacks if c.__name__ == "webhook_drain_request"]
    assert len(drains) == 1
    assert second_callbacks == []  # nothing queued for the duplicate
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (WebhookEvent.Status.PROCESSED, 1)
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_a_retry_with_a_new_timestamp_is_still_the_same_message(client, xero):
    # Codat re-signs each retry (new timestamp, new signature) under the same webhook-id.
    body = encode(connection_event("connection.connected", T1))
    webhook_id = new_webhook_id()
    now = int(time.time())

    first = post(client, body, signed_headers(body, webhook_id=webhook_id, timestamp=now - 60))
    retry = post(client, body, signed_headers(body, webhook_id=webhook_id, timestamp=now))

    assert (first.status_code, retry.status_code) == (202, 200)
    assert WebhookEvent.objects.count() == 1


def test_ids_are_kept_past_codats_retry_window(client, xero):
    body = encode(connection_event("connection.connected", T1))
    webhook_id = new_webhook_id()
    post(client, body, signed_headers(body, webhook_id=webhook_id))
    WebhookEvent.objects.update(received_at=datetime(2020, 1, 1, tzinfo=UTC))

    # Eight days on the same id comes back: still recognised (no TTL purges it).
    response = post(client, body, signed_headers(body, webhook_id=webhook_id))

    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 1


# Codat delivers through Svix, whose headers may be named svix-* instead of webhook-*.


def test_a_delivery_with_svix_headers_is_stored_and_processed(
    client, xero, django_capture_on_commit_callbacks
):
    body = encode(connection_event("connection.connected", T1))
    headers = as_svix(signed_headers(body))

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body, headers)

    assert response.status_code == 202
    event = WebhookEvent.objects.get()
    assert event.webhook_id == headers["svix-id"]
    assert (event.status, bytes(event.body)) == (WebhookEvent.Status.PROCESSED, body)
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_the_same_message_under_either_header_naming_is_one_row(client, xero):
    body = encode(connection_event("connection.connected", T1))
    headers = signed_headers(body)

    first = post(client, body, as_svix(headers))
    second = post(client, body, headers)

    assert (first.status_code, second.status_code) == (202, 200)
    assert WebhookEvent.objects.count() == 1


def test_which_header_naming_was_used_is_logged_at_debug_only(client, caplog):
    caplog.set_level(logging.DEBUG)
    body = encode({"eventType": "connection.created"})

    post(client, body, as_svix(signed_headers(body)))
    post(client, body, signed_headers(body))

    naming = [r for r in caplog.records if "signature headers named" in r.getMessage()]
    assert [r.getMessage().rsplit(" ", 1)[-1] for r in naming] == ["svix-*", "webhook-*"]
    assert all(r.levelno == logging.DEBUG for r in naming)


# --- W5: answer fast, process after commit, never call Codat inline ------------------------


@pytest.fixture
def slow_codat(settings):
    """Codat faked at the transport: every call would take 20 s."""
    settings.CODAT_SANDBOX_IN_PROCESS = False
    settings.CODAT_BASE_URL = "https://api.codat.io"

    def slow(request):
        time.sleep(20)
        return httpx.Response(200, json={})

    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().mock(side_effect=slow)
        yield route


def test_the_answer_comes_at_once_and_processing_runs_on_commit(
    client, xero, slow_codat, django_capture_on_commit_callbacks
):
    body = encode(connection_event("connection.connected", T1))

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, body, signed_headers(body))
    elapsed = time.monotonic() - started

    assert response.status_code == 202
    assert elapsed < 1
    # Stored, but not applied until the transaction commits and the task runs.
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.RECEIVED
    xero.refresh_from_db()
    assert xero.status == Connection.Status.PENDING_AUTH
    assert len(callbacks) == 1

    callbacks[0]()

    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
    assert slow_codat.call_count == 0  # neither the view nor processing asked Codat


def test_slow_processing_does_not_delay_the_answer(
    client, xero, monkeypatch, settings, django_capture_on_commit_callbacks
):
    # Production processes on the database task backend (README): the request stores the
    # event and, once it commits, queues a drain for the worker. Here processing (what the
    # drain calls for each event) takes seconds; the answer must not wait for it, even counting
    # what runs when the request's insert commits.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    pause = [5.0]
    processed = []
    real_process = webhook_processing.webhook_event_process

    def slow_process(**kwargs):
        processed.append(kwargs["event_id"])
        time.sleep(pause[0])
        return real_process(**kwargs)

    monkeypatch.setattr(webhook_processing, "webhook_event_process", slow_process)
    body = encode(connection_event("connection.connected", T1))

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, signed_headers(body))
    elapsed = time.monotonic() - started

    assert response.status_code == 202
    assert len(callbacks) == 1  # the commit asked for a drain…
    assert elapsed < 1
    assert processed == []  # …which is queued, not run in the request
    [drain] = DBTaskResult.objects.all()
    assert drain.task_path == "connections.tasks.drain_codat_webhooks"

    # The queued drain is what runs the slow processing (so the test is not vacuous).
    pause[0] = 0
    drain.task.call()

    event = WebhookEvent.objects.get()
    assert processed == [event.pk]
    assert event.status == WebhookEvent.Status.PROCESSED


def test_a_database_outage_answers_503_so_codat_retries(client, monkeypatch):
    from django.db import OperationalError
    from django.db.backends.utils import CursorWrapper

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", down)
    body = encode({"eventType": "connection.created"})

    assert post(client, body, signed_headers(body)).status_code == 503
    monkeypatch.undo()
    assert not WebhookEvent.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_after_the_database_dropped_our_connection_is_stored(client):
    # A restart or a proxy drops the connections servers keep between requests; the intake
    # sends no health check first, so its insert finds out, and retries on a new connection.
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no server to drop the connection")
    first = encode({"eventType": "connection.created"})
    assert post(client, first, signed_headers(first)).status_code == 202
    ours = connection.connection.info.backend_pid
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [ours])
    finally:
        other.close()
    second = encode({"eventType": "connection.created"})

    response = post(client, second, signed_headers(second))

    assert response.status_code == 202
    assert WebhookEvent.objects.count() == 2
    assert connection.connection.info.backend_pid != ours


# --- D3: no redirect to HTTPS for the webhook ---------------------------------------------------


def test_plain_http_to_the_webhook_is_not_redirected(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    body = encode({"eventType": "connection.created"})

    response = client.post(
        URL, data=body, content_type="application/json", headers=signed_headers(body), secure=False
    )

    assert response.status_code == 202
    assert client.get("/", secure=False).status_code == 301  # pages still redirect


# --- logs ------------------------------------------------------------------------------------


def test_refusals_are_logged_without_the_secret_or_the_body(client, caplog, settings):
    caplog.set_level(logging.DEBUG)
    marker = "sensitive-customer-data-7f3a"
    body = encode({"eventType": "connection.created", "note": marker})
    good = signed_headers(body)
    attempts = [
        {**good, "webhook-signature": "v1," + base64.b64encode(bytes(32)).decode()},
        {**good, "webhook-signature": "v1,a,b"},
        {**good, "webhook-timestamp": "1e30"},
        {**good, "webhook-id": ""},
    ]
    for headers in attempts:
        post(client, body, headers)
    settings.CODAT_WEBHOOK_SECRETS = ["whsec_"]
    post(client, body, good)

    refusals = [r for r in caplog.records if r.name == "consent_portal.security"]
    assert len(refusals) == len(attempts) + 1
    assert all(r.levelno >= logging.WARNING for r in refusals)
    text = caplog.text
    assert SECRET not in text
    assert SECRET.removeprefix("whsec_") not in text
    assert marker not in text
    assert good["webhook-signature"] not in text


def test_accepted_and_processed_events_log_no_secret(client, xero, caplog, deliver):
    caplog.set_level(logging.DEBUG)

    deliver(connection_event("connection.connected", T1))
    deliver(b"not json at all")

    assert "Codat webhook" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET.removeprefix("whsec_") not in caplog.text
