"""Production runs webhook processing and sync-settings updates on the database task backend,
with `manage.py db_worker`; the request only stores the event and, at most once per moment,
queues a drain that applies every event still `received`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connections import tasks
from connections.models import Connection, WebhookEvent
from tests.webhooks.steps import (
    PLAID_CODAT_ID,
    connection_event,
    encode,
    make_connection,
    post,
    signed_headers,
)

pytestmark = pytest.mark.django_db

DATABASE_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def database_tasks(settings, monkeypatch):
    from django_tasks_db.management.commands import db_worker

    # The worker recycles stale connections between tasks; inside this test's transaction
    # that would close the very connection holding the test data.
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    settings.TASKS = DATABASE_BACKEND


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def queued_drains() -> list:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.order_by("enqueued_at"))


def run_worker() -> None:
    call_command("db_worker", batch=True, no_startup_delay=True, interval=0)


def test_a_webhook_is_stored_and_queued_then_processed_by_the_worker(
    database_tasks, clock, deliver, xero
):
    response = deliver(connection_event("connection.connected", START - timedelta(seconds=5)))

    assert response.status_code == 202
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEvent.Status.RECEIVED  # nothing processed in the request
    [drain] = queued_drains()
    assert drain.task_path == "connections.tasks.drain_codat_webhooks"
    assert drain.run_after == START + tasks.DRAIN_DELAY
    xero.refresh_from_db()
    assert xero.status == Connection.Status.PENDING_AUTH

    run_worker()  # not due yet: the drain waits for events that arrive meanwhile
    stored.refresh_from_db()
    assert stored.status == WebhookEvent.Status.RECEIVED

    clock.shift(tasks.DRAIN_DELAY)
    run_worker()

    stored.refresh_from_db()
    xero.refresh_from_db()
    assert stored.status == WebhookEvent.Status.PROCESSED
    assert xero.status == Connection.Status.LINKED


def test_a_burst_of_webhooks_shares_one_drain_that_applies_them_all(
    database_tasks, clock, deliver, acme_codat, xero
):
    plaid = make_connection(
        acme_codat, PLAID_CODAT_ID, key="suuo", name="Plaid", source_type="Banking"
    )

    deliver(connection_event("connection.connected", START))
    clock.shift(timedelta(milliseconds=100))
    deliver(connection_event("connection.connected", START, connection_id=PLAID_CODAT_ID))
    clock.shift(timedelta(milliseconds=100))
    deliver(connection_event("connection.created", START))

    assert len(queued_drains()) == 1
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"received"}

    clock.shift(tasks.DRAIN_DELAY)
    run_worker()

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    xero.refresh_from_db()
    plaid.refresh_from_db()
    assert (xero.status, plaid.status) == (Connection.Status.LINKED, Connection.Status.LINKED)


def test_an_event_after_the_queued_drain_may_have_started_queues_the_next(
    database_tasks, clock, deliver, xero
):
    deliver(connection_event("connection.created", START))
    # Within the clock margin of the first drain's due time, that drain may already have
    # read the backlog on a worker whose clock runs a little ahead: queue another.
    clock.shift(tasks.DRAIN_DELAY - tasks.DRAIN_CLOCK_MARGIN)
    deliver(connection_event("connection.connected", START))

    first, second = queued_drains()
    assert second.run_after == START + 2 * tasks.DRAIN_DELAY - tasks.DRAIN_CLOCK_MARGIN

    clock.shift(tasks.DRAIN_DELAY)
    run_worker()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


@pytest.mark.django_db(transaction=True)
def test_the_intake_is_one_insert_when_a_drain_is_already_queued(database_tasks, clock, client):
    first = encode(connection_event("connection.created", START))
    second = encode(connection_event("connection.created", START))
    post(client, first, signed_headers(first))  # queues the drain

    with CaptureQueriesContext(connection) as queries:
        response = post(client, second, signed_headers(second))

    assert response.status_code == 202
    # Autocommit: no BEGIN or COMMIT round trip, and no queue entry of its own.
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["INSERT"]
    assert len(queued_drains()) == 1


def test_if_queueing_fails_the_event_waits_for_the_next_webhook(
    database_tasks, clock, deliver, xero, monkeypatch, caplog
):
    from django_tasks_db.backend import DatabaseBackend

    real_enqueue = DatabaseBackend.enqueue

    def broken_enqueue(self, task, args, kwargs):
        raise ConnectionError("queue unavailable")

    monkeypatch.setattr(DatabaseBackend, "enqueue", broken_enqueue)
    with caplog.at_level(logging.ERROR, logger="connections.webhooks"):
        response = deliver(connection_event("connection.created", START))

    assert response.status_code == 202  # stored: Codat must not resend it
    assert queued_drains() == []
    assert "Could not queue Codat webhook processing" in caplog.text
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.RECEIVED

    monkeypatch.setattr(DatabaseBackend, "enqueue", real_enqueue)
    deliver(connection_event("connection.connected", START))  # nothing remembered: queues
    assert len(queued_drains()) == 1
    clock.shift(tasks.DRAIN_DELAY)
    run_worker()

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_cron_picks_up_received_events_if_no_drain_ever_runs(database_tasks, clock, deliver, xero):
    from io import StringIO

    deliver(connection_event("connection.connected", START))
    out = StringIO()

    call_command("codat_process_webhooks", "--status", "received", stdout=out)

    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert "received -> processed" in out.getvalue()
    clock.shift(tasks.DRAIN_DELAY)
    run_worker()  # the queued drain finds nothing left and changes nothing
    assert WebhookEvent.objects.get().attempts == 1


def test_webhooks_are_still_accepted_while_the_codat_circuit_is_open(deliver, xero):
    from django.core.cache import cache

    from codat.breaker import CircuitBreaker

    breaker = CircuitBreaker(cache, fail_max=1)
    breaker.record_failure()
    assert breaker.is_open

    response = deliver(connection_event("connection.connected", datetime.now(UTC)))

    assert response.status_code == 202
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_a_drain_leaves_failed_events_to_operators_and_takes_the_rest_oldest_first(
    database_tasks, clock, xero, monkeypatch
):
    from connections import webhook_processing

    def stored(webhook_id: str, status: str) -> WebhookEvent:
        body = encode(connection_event("connection.created", START))
        return WebhookEvent.objects.create(webhook_id=webhook_id, body=body, status=status)

    failed = stored("msg_failed", WebhookEvent.Status.FAILED)
    clock.shift(timedelta(seconds=1))
    older = stored("msg_older", WebhookEvent.Status.RECEIVED)
    clock.shift(timedelta(seconds=1))
    newer = stored("msg_newer", WebhookEvent.Status.RECEIVED)
    order: list[str] = []
    real_process = webhook_processing.webhook_event_process

    def recording_process(**kwargs):
        order.append(str(kwargs["event_id"]))
        return real_process(**kwargs)

    monkeypatch.setattr(webhook_processing, "webhook_event_process", recording_process)

    assert tasks.drain_codat_webhooks.call() == 2

    assert order == [str(older.pk), str(newer.pk)]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (WebhookEvent.Status.FAILED, 0)


def test_a_drain_does_not_loop_on_an_event_that_stays_received(database_tasks, monkeypatch):
    from connections import webhook_processing

    body = encode(connection_event("connection.created", START))
    WebhookEvent.objects.create(webhook_id="msg_stuck", body=body)
    calls: list[str] = []

    def leaves_it_received(**kwargs):
        calls.append(str(kwargs["event_id"]))
        return WebhookEvent.Status.RECEIVED

    monkeypatch.setattr(webhook_processing, "webhook_event_process", leaves_it_received)

    assert tasks.drain_codat_webhooks.call() == 1
    assert len(calls) == 1


def test_a_clock_stepped_back_does_not_leave_events_waiting_for_a_far_drain(
    database_tasks, clock, deliver, xero
):
    deliver(connection_event("connection.created", START))
    # NTP steps the clock back an hour: the drain queued "now" is, by the new clock, due in an
    # hour. Riding on it would leave this event unprocessed that long.
    clock.move_to(START - timedelta(hours=1), tick=False)
    deliver(connection_event("connection.connected", START))

    assert {drain.run_after for drain in queued_drains()} == {
        START + tasks.DRAIN_DELAY,
        START - timedelta(hours=1) + tasks.DRAIN_DELAY,
    }

    clock.shift(tasks.DRAIN_DELAY)
    run_worker()  # only the fresh drain is due, and it applies both events
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
