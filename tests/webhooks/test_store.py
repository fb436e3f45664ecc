"""The intake's one hand-written INSERT (`WebhookEvent.objects.store_received`) stores exactly
what the ORM would, and treats only a repeated `webhook-id` as a duplicate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, OperationalError, connection
from django.test.utils import CaptureQueriesContext

from connections.models import WebhookEvent

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GENERATED = datetime(2026, 11, 28, 11, 59, 58, 123000, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_a_stored_event_has_every_field_the_orm_would_give_it():
    body = b'{"eventType": "connection.connected", "id": "e1"}'

    stored = WebhookEvent.objects.store_received(
        webhook_id="msg_1",
        body=body,
        event_id="e1",
        event_type="connection.connected",
        generated_at=GENERATED,
    )

    assert stored is True
    row = WebhookEvent.objects.get()
    expected = WebhookEvent(
        webhook_id="msg_1",
        body=body,
        event_id="e1",
        event_type="connection.connected",
        generated_at=GENERATED,
    )
    for field in WebhookEvent._meta.concrete_fields:
        if field.attname in {"id", "body"}:
            continue
        assert getattr(row, field.attname) == getattr(expected, field.attname), field.name
    assert bytes(row.body) == body
    assert row.received_at == NOW
    assert row.status == WebhookEvent.Status.RECEIVED


def test_a_repeated_webhook_id_stores_nothing_and_changes_nothing():
    WebhookEvent.objects.store_received(webhook_id="msg_1", body=b'{"first": 1}')

    again = WebhookEvent.objects.store_received(webhook_id="msg_1", body=b'{"second": 2}')

    assert again is False
    row = WebhookEvent.objects.get()
    assert bytes(row.body) == b'{"first": 1}'


def test_a_duplicate_inside_a_transaction_leaves_it_usable():
    # This test runs inside a transaction; a failed INSERT would break it for what follows.
    WebhookEvent.objects.store_received(webhook_id="msg_1", body=b"{}")
    WebhookEvent.objects.store_received(webhook_id="msg_1", body=b"{}")

    assert WebhookEvent.objects.count() == 1


def test_only_the_webhook_id_conflict_is_ignored():
    # Any other broken row must fail loudly, never pass as a "duplicate" and be lost.
    with pytest.raises(IntegrityError):
        WebhookEvent.objects.store_received(webhook_id="msg_1", body=None)  # NOT NULL


def test_it_is_a_single_statement():
    with CaptureQueriesContext(connection) as queries:
        WebhookEvent.objects.store_received(webhook_id="msg_1", body=b"{}")

    assert len(queries.captured_queries) == 1
    assert "ON CONFLICT" in queries.captured_queries[0]["sql"]


# --- the statement is its own health check ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_no_health_check_round_trip_comes_before_the_insert(monkeypatch):
    WebhookEvent.objects.store_received(webhook_id="msg_0", body=b"{}")
    connection.close_if_unusable_or_obsolete()  # as when the next request starts
    assert connection.connection is not None
    assert connection.health_check_done is False  # CONN_HEALTH_CHECKS would check it now
    checks: list[str] = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append("SELECT 1") or True)

    stored = WebhookEvent.objects.store_received(webhook_id="msg_1", body=b"{}")

    assert stored is True
    assert checks == []


@pytest.mark.django_db(transaction=True)
def test_an_error_on_a_live_connection_is_not_retried(monkeypatch):
    from django.db.backends.utils import CursorWrapper

    WebhookEvent.objects.store_received(webhook_id="msg_0", body=b"{}")  # a connection to keep
    attempts: list[str] = []

    def failing(self, sql, params=None):
        attempts.append(sql)
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(CursorWrapper, "execute", failing)

    with pytest.raises(OperationalError):
        WebhookEvent.objects.store_received(webhook_id="msg_1", body=b"{}")
    monkeypatch.undo()  # the flush after a transactional test runs through execute() too

    assert len(attempts) == 1


def test_on_postgresql_the_values_travel_apart_from_the_statement():
    # Bound client-side, the body would be quoted into the SQL as hex, twice its size, for
    # PostgreSQL to parse back; as a parameter it is sent as it is.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite is in-process: there is nothing to send")
    body = b'{"eventType": "connection.connected"}'

    with CaptureQueriesContext(connection) as queries:
        WebhookEvent.objects.store_received(webhook_id="msg_1", body=body)

    (statement,) = [query["sql"] for query in queries.captured_queries]
    assert "msg_1" not in statement
    assert body.hex() not in statement
    assert bytes(WebhookEvent.objects.get(webhook_id="msg_1").body) == body
