"""W4 under real concurrency: 20 simultaneous deliveries of one message (PostgreSQL only)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.test import Client

from connections import webhook_processing
from connections.models import Connection, WebhookEvent
from tests.webhooks.steps import connection_event, encode, post, signed_headers

PARALLEL = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_deliveries_make_one_row_and_one_change(xero, monkeypatch):
    if db_connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so nothing would race")

    processed: list[str] = []
    real_process = webhook_processing.webhook_event_process

    def counting_process(**kwargs):
        processed.append(str(kwargs["event_id"]))
        return real_process(**kwargs)

    monkeypatch.setattr(webhook_processing, "webhook_event_process", counting_process)
    body = encode(connection_event("connection.connected", datetime(2026, 11, 28, tzinfo=UTC)))
    headers = signed_headers(body)
    start = threading.Barrier(PARALLEL)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait()
            statuses.append(post(Client(), body, headers).status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(statuses) == [200] * (PARALLEL - 1) + [202]
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (WebhookEvent.Status.PROCESSED, 1)
    assert processed == [str(event.pk)]
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
