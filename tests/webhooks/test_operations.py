"""Operators: re-running processing from the command line, and the admin pages."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from connections.models import Connection, DataSync, WebhookEvent
from tests.webhooks.steps import (
    ACME_CODAT_ID,
    XERO_CODAT_ID,
    connection_event,
    data_type_entry,
    encode,
    make_connection,
    post,
    read_event,
    signed_headers,
)

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("codat_process_webhooks", *args, stdout=out)
    return out.getvalue()


def test_the_command_processes_events_left_received_or_failed(client, xero, monkeypatch):
    # Posted inside the test transaction, so the on-commit task never ran: left `received`.
    body = encode(connection_event("connection.connected", T1))
    headers = signed_headers(body)
    post(client, body, headers)
    failed_body = encode(read_event(T1, [data_type_entry("invoices")]))
    post(client, failed_body, signed_headers(failed_body))
    WebhookEvent.objects.filter(event_type="read.completed").update(
        status=WebhookEvent.Status.FAILED, error="OperationalError: was down"
    )

    output = run_command()

    assert f"{headers['webhook-id']} connection.connected: received -> processed" in output
    assert "read.completed: failed -> processed" in output
    assert "Processed 2 event(s): 2 processed." in output
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
    assert DataSync.objects.get().status == "Complete"
    assert set(WebhookEvent.objects.values_list("error", flat=True)) == {""}


def test_the_command_is_safe_to_repeat(client, xero):
    body = encode(connection_event("connection.connected", T1))
    post(client, body, signed_headers(body))
    run_command()

    assert "No Codat webhook events with status received, failed." in run_command()
    assert WebhookEvent.objects.get().attempts == 1


def test_the_command_can_retry_unknown_company_events_once_mapped(client, acme):
    body = encode(connection_event("connection.connected", T1))
    post(client, body, signed_headers(body))
    run_command()
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.UNKNOWN_COMPANY

    type(acme).objects.filter(pk=acme.pk).update(codat_company_id=ACME_CODAT_ID)
    acme.refresh_from_db()
    xero = make_connection(acme, XERO_CODAT_ID)
    output = run_command("--status", "unknown_company")

    assert "unknown_company -> processed" in output
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_staff_see_events_read_only_with_the_body_decoded(client, staff_client, xero):
    body = b'{"eventType": "connection.connected", "note": "<script>x</script> \xc3\xa9"}'
    headers = signed_headers(body)
    post(client, body, headers)
    event = WebhookEvent.objects.get()

    listing = staff_client.get("/admin/connections/webhookevent/")
    detail = staff_client.get(f"/admin/connections/webhookevent/{event.pk}/change/")

    assert listing.status_code == 200
    assert headers["webhook-id"] in listing.content.decode()
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "&lt;script&gt;x&lt;/script&gt; é" in page
    assert "<script>x</script>" not in page
    assert 'name="_save"' not in page  # nothing to edit
    assert staff_client.get("/admin/connections/webhookevent/add/").status_code == 403


def test_undecodable_bytes_show_as_replacement_characters(staff_client, acme):
    event = WebhookEvent.objects.create(webhook_id="msg_raw", body=b'{"x": "\xff"}')

    page = staff_client.get(f"/admin/connections/webhookevent/{event.pk}/change/")

    assert "\ufffd" in page.content.decode()


def test_staff_see_data_syncs(staff_client, xero):
    DataSync.objects.create(
        connection=xero, data_type="invoices", status="Complete", last_event_at=T1
    )

    response = staff_client.get("/admin/connections/datasync/")

    assert response.status_code == 200
    assert "invoices" in response.content.decode()
