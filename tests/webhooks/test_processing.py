"""What each Codat event does to our rows, newest-wins (W6), quarantine (B3), tenancy (T4)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.forms.models import model_to_dict

from connections.models import Connection, DataSync, WebhookEvent
from connections.webhook_processing import webhook_event_process
from tests.webhooks.steps import (
    ACME_CODAT_ID,
    OTHER_XERO_CODAT_ID,
    PLAID_CODAT_ID,
    company_deleted_event,
    connection_event,
    data_type_entry,
    make_connection,
    read_event,
)

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "codat" / "webhooks"
# Codat's documented examples share this generatedDate.
EXAMPLE_TIME = datetime(2024, 8, 8, 17, 10, 34, 15000, tzinfo=UTC)
T1 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
T2 = T1 + timedelta(minutes=5)
T3 = T1 + timedelta(minutes=10)


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def tenant_state() -> list[dict[str, Any]]:
    """Every tenant-facing row, to show an event changed nothing."""
    connections = [model_to_dict(c) | {"id": c.id} for c in Connection.objects.order_by("pk")]
    syncs = [model_to_dict(s) for s in DataSync.objects.order_by("pk")]
    return connections + syncs


def only_event() -> WebhookEvent:
    return WebhookEvent.objects.get()


@pytest.fixture
def plaid(acme_codat) -> Connection:
    return make_connection(
        acme_codat,
        PLAID_CODAT_ID,
        status=Connection.Status.LINKED,
        key="suuo",
        name="Plaid",
        source_type="Banking",
    )


def set_status(connection: Connection, status: str) -> None:
    Connection.objects.filter(pk=connection.pk).update(status=status)
    connection.refresh_from_db()


# --- Codat's documented examples, one per handled type ---------------------------------------


def test_connected_links_the_pending_connection(deliver, xero):
    response = deliver(example("connection_connected"))

    assert response.status_code == 202
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
    assert xero.linked_at is not None
    assert xero.status_event_at == EXAMPLE_TIME
    assert xero.last_sync == datetime(2022, 10, 27, 10, 22, 43, 646000, tzinfo=UTC)
    event = only_event()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.company == xero.company
    assert event.event_type == "connection.connected"  # Codat's example spells it `type`
    assert event.generated_at == EXAMPLE_TIME
    assert event.processed_at is not None


def test_failed_records_the_error_and_stays_pending(deliver, xero):
    deliver(example("connection_failed"))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.PENDING_AUTH
    assert xero.linked_at is None
    assert xero.last_error["statusCode"] == "403"
    assert xero.last_error["errorMessage"] == "User cancelled"
    assert only_event().status == WebhookEvent.Status.PROCESSED


def test_failed_does_not_touch_a_connection_that_is_no_longer_pending(deliver, xero):
    set_status(xero, Connection.Status.LINKED)

    deliver(example("connection_failed"))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
    assert xero.last_error is None
    assert only_event().outcome.startswith("ignored")


@pytest.mark.parametrize(
    "name, status",
    [
        ("connection_disconnected_unlinked", Connection.Status.UNLINKED),
        ("connection_disconnected_deauthorized", Connection.Status.DEAUTHORIZED),
    ],
)
def test_disconnected_takes_codats_status(deliver, xero, name, status):
    set_status(xero, Connection.Status.LINKED)

    deliver(example(name))

    xero.refresh_from_db()
    assert xero.status == status


def test_deauthorized_records_the_providers_error(deliver, xero):
    set_status(xero, Connection.Status.LINKED)

    deliver(example("connection_disconnected_deauthorized"))

    xero.refresh_from_db()
    assert xero.last_error["statusCode"] == "401"
    assert "de-authorized" in xero.last_error["errorMessage"]


def test_disconnected_with_an_unexpected_status_is_recorded_as_deauthorized(deliver, xero):
    set_status(xero, Connection.Status.LINKED)

    deliver(connection_event("connection.disconnected", T1, status="Linked"))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.DEAUTHORIZED


def test_reconnected_links_again_and_clears_the_error(deliver, xero):
    Connection.objects.filter(pk=xero.pk).update(
        status=Connection.Status.DEAUTHORIZED, last_error={"statusCode": "401"}
    )

    deliver(example("connection_reconnected"))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
    assert xero.last_error is None


def test_deleted_marks_our_row_deleted_and_keeps_it(deliver, xero):
    set_status(xero, Connection.Status.LINKED)

    deliver(example("connection_deleted"))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED
    assert xero.deleted_at is not None


def test_created_for_a_known_connection_changes_nothing(deliver, xero):
    before = tenant_state()

    deliver(example("connection_created"))

    assert tenant_state() == before
    assert only_event().status == WebhookEvent.Status.PROCESSED


def test_created_for_an_unknown_connection_adopts_nothing(deliver, acme_codat):
    deliver(example("connection_created"))

    assert not Connection.objects.exists()
    event = only_event()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert "not one of ours" in event.outcome


def test_connected_for_an_unknown_connection_creates_nothing(deliver, acme_codat):
    deliver(example("connection_connected"))

    assert not Connection.objects.exists()
    assert only_event().status == WebhookEvent.Status.PROCESSED


def test_company_deleted_deletes_every_connection_and_keeps_the_company(
    deliver, xero, plaid, other_xero, caplog
):
    caplog.set_level(logging.WARNING)

    deliver(example("company_deleted"))

    assert set(
        Connection.objects.filter(company=xero.company).values_list("status", flat=True)
    ) == {Connection.Status.DELETED}
    xero.company.refresh_from_db()
    assert str(xero.company.codat_company_id) == ACME_CODAT_ID
    other_xero.refresh_from_db()
    assert other_xero.status == Connection.Status.LINKED
    assert only_event().company == xero.company
    assert "deleted at Codat" in caplog.text


@pytest.mark.parametrize("name", ["read_completed", "read_completed_initial"])
def test_read_completed_records_the_data_type_and_the_last_sync(deliver, plaid, name):
    deliver(example(name))

    sync = DataSync.objects.get()
    assert (sync.connection, sync.data_type, sync.status) == (plaid, "invoices", "Complete")
    assert sync.records_modified is False
    assert sync.last_event_at == datetime(2022, 10, 23, tzinfo=UTC)
    assert sync.last_success_at == sync.last_event_at
    plaid.refresh_from_db()
    assert plaid.last_sync == sync.last_event_at
    assert only_event().status == WebhookEvent.Status.PROCESSED


def test_client_rate_limit_events_are_acknowledged_and_ignored(deliver, xero, caplog):
    caplog.set_level(logging.WARNING)
    before = tenant_state()

    deliver(example("client_rate_limit_reached"))

    assert tenant_state() == before
    event = only_event()
    assert (event.status, event.company) == (WebhookEvent.Status.PROCESSED, None)
    assert "quota" in caplog.text


# --- read.completed in detail --------------------------------------------------------------


def test_read_completed_upserts_one_row_per_connection_and_data_type(deliver, xero, plaid):
    issue = {
        "type": "warning.validation",
        "message": "2 invoices skipped",
        "links": {"logs": "https://app.codat.io/logs", "portal": "https://app.codat.io"},
    }
    deliver(
        read_event(
            T1,
            [
                data_type_entry("invoices", "Fetching"),
                data_type_entry("bills", "FetchError", issues=[issue]),
                data_type_entry("banking-transactions", connection_id=PLAID_CODAT_ID),
            ],
        )
    )
    deliver(read_event(T2, [data_type_entry("invoices", "Complete")]))

    rows = {
        (s.connection.codat_connection_id.hex[:4], s.data_type): s
        for s in DataSync.objects.select_related("connection")
    }
    assert len(rows) == 3
    invoices = DataSync.objects.get(connection=xero, data_type="invoices")
    assert (invoices.status, invoices.last_event_at, invoices.last_success_at) == (
        "Complete",
        T2,
        T2,
    )
    bills = DataSync.objects.get(connection=xero, data_type="bills")
    assert bills.status == "FetchError"
    assert bills.last_success_at is None
    assert bills.issues == [issue]
    xero.refresh_from_db()
    plaid.refresh_from_db()
    assert (xero.last_sync, plaid.last_sync) == (T2, T1)


def test_an_unfinished_read_does_not_move_the_last_sync(deliver, xero):
    deliver(read_event(T1, [data_type_entry("invoices", "Fetching")]))

    xero.refresh_from_db()
    assert xero.last_sync is None


def test_read_completed_skips_deleted_connections(deliver, xero):
    set_status(xero, Connection.Status.DELETED)

    deliver(read_event(T1, [data_type_entry("invoices")]))

    assert not DataSync.objects.exists()
    assert "1 not for our connections" in only_event().outcome


# --- W6: out of order does not roll back ----------------------------------------------------


def test_an_older_disconnect_after_a_newer_connect_leaves_it_linked(deliver, xero):
    deliver(connection_event("connection.connected", T2))
    deliver(connection_event("connection.disconnected", T1, status="Deauthorized"))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
    assert xero.status_event_at == T2
    stale = WebhookEvent.objects.get(event_type="connection.disconnected")
    assert stale.status == WebhookEvent.Status.PROCESSED
    assert stale.outcome.startswith("stale")


def test_in_order_the_disconnect_wins(deliver, xero):
    deliver(connection_event("connection.connected", T1))
    deliver(connection_event("connection.disconnected", T2, status="Deauthorized"))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.DEAUTHORIZED
    assert xero.status_event_at == T2


def test_the_same_generated_date_is_not_applied_twice(deliver, xero):
    deliver(connection_event("connection.disconnected", T1, status="Unlinked"))
    deliver(connection_event("connection.reconnected", T1))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.UNLINKED


def test_a_deleted_connection_never_comes_back(deliver, xero):
    deliver(connection_event("connection.deleted", T1))
    deliver(connection_event("connection.reconnected", T3))
    deliver(connection_event("connection.connected", T3 + timedelta(seconds=1)))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED


def test_a_late_delete_still_deletes(deliver, xero):
    deliver(connection_event("connection.connected", T3))
    deliver(connection_event("connection.deleted", T1))

    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED
    assert xero.status_event_at == T3


def test_an_older_read_does_not_replace_a_newer_one(deliver, xero):
    deliver(read_event(T2, [data_type_entry("invoices", "Complete")]))
    deliver(read_event(T1, [data_type_entry("invoices", "FetchError")]))

    sync = DataSync.objects.get()
    assert (sync.status, sync.last_event_at) == ("Complete", T2)
    assert "1 stale" in WebhookEvent.objects.get(generated_at=T1).outcome


# --- idempotent processing -------------------------------------------------------------------


def test_processing_an_event_again_changes_nothing(deliver, xero):
    deliver(connection_event("connection.connected", T1))
    event = only_event()
    before = tenant_state()

    assert webhook_event_process(event_id=event.pk) == WebhookEvent.Status.PROCESSED

    assert tenant_state() == before
    event.refresh_from_db()
    assert event.attempts == 1


def test_a_processing_error_marks_the_event_failed_and_leaves_no_partial_change(
    deliver, xero, plaid, monkeypatch, caplog
):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    # Fails after the first connection's last_sync and DataSync were written.
    original_save = DataSync.save
    calls = []

    def second_save_fails(self, *args, **kwargs):
        calls.append(self.data_type)
        if len(calls) == 2:
            boom()
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(DataSync, "save", second_save_fails)
    before = tenant_state()

    response = deliver(
        read_event(
            T1,
            [
                data_type_entry("invoices"),
                data_type_entry("banking-transactions", connection_id=PLAID_CODAT_ID),
            ],
        )
    )

    assert response.status_code == 202
    event = only_event()
    assert event.status == WebhookEvent.Status.FAILED
    assert event.error == "RuntimeError: boom"
    assert tenant_state() == before
    assert "failed to process" in caplog.text


# --- B3: authentic but unprocessable -----------------------------------------------------------


def without(document: dict[str, Any], *path: str) -> dict[str, Any]:
    target = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return document


def with_value(document: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


UNPROCESSABLE = {
    "not-json": b"this is not JSON",
    "empty-body": b"",
    "truncated-json": b'{"eventType": "connection.connected", "payload": {',
    "json-array": b"[1, 2, 3]",
    "json-string": b'"connection.connected"',
    "json-null": b"null",
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "unknown-event-type": {"eventType": "connection.teleported", "payload": {}},
    "no-event-type": {"id": "1", "payload": {}},
    "event-type-not-a-string": {"eventType": ["connection.connected"]},
    "legacy-rule": example("legacy_data_connection_status_changed"),
    "legacy-alert-only": {"AlertId": "a9367074", "Message": "hello"},
    "no-payload": without(connection_event("connection.connected", T1), "payload"),
    "no-reference-company": without(
        connection_event("connection.connected", T1), "payload", "referenceCompany"
    ),
    "reference-company-not-an-object": with_value(
        connection_event("connection.connected", T1), "acme", "payload", "referenceCompany"
    ),
    "company-id-not-a-uuid": with_value(
        connection_event("connection.connected", T1),
        "' OR 1=1 --",
        "payload",
        "referenceCompany",
        "id",
    ),
    "no-connection": without(connection_event("connection.connected", T1), "payload", "connection"),
    "connection-id-not-a-uuid": with_value(
        connection_event("connection.connected", T1), 42, "payload", "connection", "id"
    ),
    "no-generated-date": without(connection_event("connection.connected", T1), "generatedDate"),
    "garbled-generated-date": with_value(
        connection_event("connection.connected", T1), "yesterday", "generatedDate"
    ),
    "unstorable-generated-date": with_value(
        connection_event("connection.connected", T1), "0001-01-01T00:00:00+14:00", "generatedDate"
    ),
    "errors-not-a-list": with_value(
        connection_event("connection.failed", T1),
        "oops",
        "payload",
        "connection",
        "dataConnectionErrors",
    ),
    "read-without-data-types": without(read_event(T1, []), "payload", "dataTypes"),
    "read-with-one-bad-entry": read_event(
        T1, [data_type_entry("invoices"), data_type_entry("bills") | {"connectionId": "nope"}]
    ),
    "read-with-bad-data-type": read_event(T1, [data_type_entry("../../etc")]),
    "read-with-bad-issues": read_event(T1, [data_type_entry("invoices") | {"issues": "many"}]),
    "company-deleted-without-id": without(company_deleted_event(T1), "payload", "id"),
}


@pytest.mark.parametrize("document", UNPROCESSABLE.values(), ids=UNPROCESSABLE.keys())
def test_an_authentic_but_unexpected_event_is_quarantined(deliver, xero, caplog, document):
    set_status(xero, Connection.Status.PENDING_AUTH)
    before = tenant_state()
    caplog.set_level(logging.WARNING)

    response = deliver(document)

    assert response.status_code == 202  # a 2xx, so Codat does not retry it for 28 hours
    event = only_event()
    assert event.status == WebhookEvent.Status.UNPROCESSABLE
    assert event.company is None
    assert event.error
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    assert bytes(event.body) == body
    assert tenant_state() == before
    assert any(
        r.levelno == logging.WARNING and "unprocessable" in r.getMessage() for r in caplog.records
    )


def test_a_legacy_payload_is_labelled_for_operators(deliver):
    deliver(example("legacy_data_connection_status_changed"))

    event = only_event()
    assert event.event_type == "legacy:DataConnectionStatusChanged"
    assert event.event_id == "a9367074-b5c3-42c4-9be4-be129f43577e"
    assert "legacy" in event.error


# --- T4: external ids map to exactly one tenant ------------------------------------------------

UNKNOWN_CODAT_ID = "c0ffee00-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    "document",
    [
        connection_event("connection.connected", T1, company_id=UNKNOWN_CODAT_ID),
        connection_event("connection.deleted", T1, company_id=UNKNOWN_CODAT_ID),
        read_event(T1, [data_type_entry("invoices")], company_id=UNKNOWN_CODAT_ID),
        company_deleted_event(T1, company_id=UNKNOWN_CODAT_ID),
    ],
    ids=["connected", "deleted", "read", "company-deleted"],
)
def test_an_event_for_an_unknown_company_is_flagged_and_touches_no_tenant(
    deliver, xero, other_xero, caplog, document
):
    before = tenant_state()
    caplog.set_level(logging.WARNING)

    response = deliver(document)

    assert response.status_code == 202
    event = only_event()
    assert (event.status, event.company) == (WebhookEvent.Status.UNKNOWN_COMPANY, None)
    assert UNKNOWN_CODAT_ID in event.outcome
    assert tenant_state() == before
    assert "unknown Codat company" in caplog.text


def test_another_tenants_connection_under_our_company_is_ignored_and_logged(
    deliver, xero, other_xero, caplog
):
    caplog.set_level(logging.WARNING)

    deliver(connection_event("connection.disconnected", T1, connection_id=OTHER_XERO_CODAT_ID))
    deliver(read_event(T2, [data_type_entry("invoices", connection_id=OTHER_XERO_CODAT_ID)]))

    other_xero.refresh_from_db()
    assert other_xero.status == Connection.Status.LINKED
    assert not DataSync.objects.exists()
    security = [r for r in caplog.records if r.name == "consent_portal.security"]
    assert len(security) == 2
    assert str(other_xero.company_id) in security[0].getMessage()
