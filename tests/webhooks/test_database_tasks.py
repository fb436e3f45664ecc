"""Production runs webhook processing and sync-settings updates on the database task backend,
with `manage.py db_worker`; the request only stores and enqueues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from connections.models import Connection, WebhookEvent
from tests.webhooks.conftest import connection_event

pytestmark = pytest.mark.django_db

DATABASE_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_a_webhook_is_stored_and_queued_then_processed_by_the_worker(
    settings, deliver, xero, monkeypatch
):
    from django_tasks_db.management.commands import db_worker
    from django_tasks_db.models import DBTaskResult

    # The worker recycles stale connections between tasks; inside this test's transaction
    # that would close the very connection holding the test data.
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)

    settings.TASKS = DATABASE_BACKEND
    event = connection_event("connection.connected", datetime.now(UTC) - timedelta(seconds=5))

    response = deliver(event)

    assert response.status_code == 202
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEvent.Status.RECEIVED  # nothing processed in the request
    assert DBTaskResult.objects.count() == 1
    xero.refresh_from_db()
    assert xero.status == Connection.Status.PENDING_AUTH

    call_command("db_worker", batch=True, no_startup_delay=True, interval=0)

    stored.refresh_from_db()
    xero.refresh_from_db()
    assert stored.status == WebhookEvent.Status.PROCESSED
    assert xero.status == Connection.Status.LINKED


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
