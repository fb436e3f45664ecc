"""Which webhooks the sandbox writes, when, and with what payload (docs/codat.md §8.3).

Every message is checked against the schema Webhooks.json gives its event type.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from codat_sandbox import services, syncs, timeline
from codat_sandbox.models import SandboxConnection, SandboxWebhookMessage

from .openapi import check_webhook_body
from .steps import connect, link_path, sync_settings

START = datetime(2026, 5, 6, 9, 0, 0, tzinfo=UTC)
LATER = timedelta(seconds=timeline.SYNC_SECONDS_MAX + 1)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def events(event_type: str | None = None) -> list[dict]:
    """Every message written so far, oldest first, parsed and checked against Webhooks.json."""
    messages = SandboxWebhookMessage.objects.order_by("id")
    if event_type is not None:
        messages = messages.filter(event_type=event_type)
    return [check_webhook_body(bytes(message.payload)) for message in messages]


def only(event_type: str) -> dict:
    [event] = events(event_type)
    return event


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- envelopes ----------------------------------------------------------------------------------


def test_every_message_has_codats_envelope_and_a_svix_style_id(bakery, clock):
    connect(bakery, "gbol", linked=True)

    for message in SandboxWebhookMessage.objects.all():
        body = json.loads(bytes(message.payload))
        assert set(body) == {"id", "eventType", "generatedDate", "payload"}
        assert uuid.UUID(body["id"])
        assert body["eventType"] == message.event_type
        assert re.fullmatch(r"msg_[0-9A-Za-z]{24}", message.msg_id)
    assert len({message.msg_id for message in SandboxWebhookMessage.objects.all()}) == 4


def test_messages_fall_due_just_after_the_call_that_caused_them(bakery, clock):
    connection = connect(bakery, "gbol")

    message = SandboxWebhookMessage.objects.get(event_type="connection.created")

    assert message.connection_id == connection.id
    assert message.generated == START
    assert message.due_at == START + timedelta(seconds=0.5)


# --- companies ----------------------------------------------------------------------------------


def test_creating_a_company_announces_company_created(bakery):
    event = only("company.created")

    assert event["payload"]["id"] == str(bakery.id)
    assert event["payload"]["name"] == "Bramble Bakery"
    assert event["payload"]["tags"] == {"uid": "cust_123", "region": "uk"}
    assert "dataConnections" not in event["payload"]


def test_deleting_a_company_announces_company_deleted_and_drops_its_unsent_reads(bakery, clock):
    sync_settings(bakery, "invoices")
    connect(bakery, "gbol", linked=True)
    company_id = str(bakery.id)

    services.company_delete(company=bakery)

    assert only("company.deleted")["payload"]["id"] == company_id
    # The outbox outlives the company; its read never finishes, so it is never announced.
    assert events("read.completed.initial") == []
    assert events("connection.deleted") == []


# --- connections --------------------------------------------------------------------------------


def test_creating_a_connection_announces_it_pending(bakery):
    connection = connect(bakery, "qhnd")

    event = only("connection.created")

    assert event["payload"]["referenceCompany"] == {
        "id": str(bakery.id),
        "name": "Bramble Bakery",
        "description": "cust_123",
        "links": {"portal": f"http://127.0.0.1:8000/sandbox/#company-{bakery.id}"},
        "tags": {"uid": "cust_123", "region": "uk"},
    }
    assert event["payload"]["connection"]["id"] == str(connection.id)
    assert event["payload"]["connection"]["status"] == "PendingAuth"
    assert event["payload"]["connection"]["integrationKey"] == "qhnd"
    assert event["payload"]["connection"]["sourceType"] == "Banking"


def test_authorising_on_the_link_page_announces_connection_connected(client, bakery, clock):
    connection = connect(bakery, "gbol")

    client.post(link_path(connection), {"outcome": "authorize"})

    event = only("connection.connected")
    assert event["payload"]["connection"]["status"] == "Linked"
    assert event["generatedDate"] == iso(START)


@pytest.mark.parametrize(
    ("outcome", "status_code"), [("cancel", "403"), ("error", "500"), ("unsupported", "501")]
)
def test_a_cancelled_or_failed_link_announces_connection_failed(
    client, bakery, outcome, status_code
):
    connection = connect(bakery, "gbol")

    client.post(link_path(connection), {"outcome": outcome})

    payload = only("connection.failed")["payload"]
    assert payload["connection"]["status"] == "PendingAuth"
    assert payload["connection"]["dataConnectionErrors"][-1]["statusCode"] == status_code
    assert payload["connection"]["dataConnectionErrors"][-1]["status"] == "Active"
    assert events("connection.connected") == []


def test_authorising_an_already_linked_connection_announces_nothing_new(client, bakery):
    connection = connect(bakery, "gbol", linked=True)
    before = SandboxWebhookMessage.objects.count()

    client.post(link_path(connection), {"outcome": "authorize"})

    assert SandboxWebhookMessage.objects.count() == before


def test_unlinking_announces_connection_disconnected(api, bakery):
    connection = connect(bakery, "gbol", linked=True)

    api.patch(f"/companies/{bakery.id}/connections/{connection.id}", {"status": "Unlinked"})

    assert only("connection.disconnected")["payload"]["connection"]["status"] == "Unlinked"


@pytest.mark.parametrize("left_as", ["Unlinked", "Deauthorized"])
def test_linking_the_same_connection_again_announces_connection_reconnected(
    client, bakery, left_as
):
    connection = connect(bakery, "gbol", linked=True)
    SandboxConnection.objects.filter(pk=connection.pk).update(status=left_as)

    client.post(link_path(connection), {"outcome": "authorize"})

    event = only("connection.reconnected")
    assert event["payload"]["connection"]["id"] == str(connection.id)
    assert event["payload"]["connection"]["status"] == "Linked"
    assert len(events("connection.connected")) == 1  # the first link only


def test_deleting_a_connection_announces_connection_deleted_as_it_was(api, bakery, clock):
    sync_settings(bakery, "invoices")
    connection = connect(bakery, "gbol", linked=True)

    api.delete(f"/companies/{bakery.id}/connections/{connection.id}")

    assert only("connection.deleted")["payload"]["connection"]["id"] == str(connection.id)
    assert events("read.completed.initial") == []  # its read will never finish


# --- reads --------------------------------------------------------------------------------------


def test_the_first_read_is_announced_once_all_its_datasets_finish(bakery, clock):
    sync_settings(bakery, "invoices", "bills", "itemReceipts", "banking-transactions")

    connection = connect(bakery, "gbol", linked=True)

    datasets = list(connection.datasets.all())
    last_finish = max(dataset.finished_at for dataset in datasets)
    message = SandboxWebhookMessage.objects.get(event_type="read.completed.initial")
    event = only("read.completed.initial")
    assert message.due_at == last_finish
    assert message.generated == last_finish
    assert message.connection_id == connection.id
    assert event["generatedDate"] == iso(last_finish)
    assert event["payload"]["referenceCompany"]["id"] == str(bakery.id)
    assert "modifiedFromDate" not in event["payload"]
    assert sorted(
        (item["dataType"], item["status"], item["recordsModified"])
        for item in event["payload"]["dataTypes"]
    ) == [
        ("bills", "Complete", True),
        ("invoices", "Complete", True),
        ("itemReceipts", "NotSupported", False),
    ]
    assert all(
        item["connectionId"] == str(connection.id) and item["issues"] == []
        for item in event["payload"]["dataTypes"]
    )
    assert events("read.completed") == []


def test_a_first_read_with_nothing_to_fetch_is_still_announced(bakery, clock):
    sync_settings(bakery)  # every type off
    connect(bakery, "gbol", linked=True)

    event = only("read.completed.initial")

    assert event["payload"]["dataTypes"] == []
    assert SandboxWebhookMessage.objects.get(event_type="read.completed.initial").due_at == (
        START + timedelta(seconds=0.5)
    )


def test_each_authorisation_has_its_own_initial_read(client, bakery, clock):
    sync_settings(bakery, "invoices")
    connection = connect(bakery, "gbol", linked=True)
    clock.shift(LATER)
    services.connection_unlink(connection=connection)

    client.post(link_path(connection), {"outcome": "authorize"})

    first, second = events("read.completed.initial")
    assert first["payload"]["dataTypes"][0]["recordsModified"] is True
    assert second["payload"]["dataTypes"][0]["recordsModified"] is False
    assert second["payload"]["modifiedFromDate"] < second["generatedDate"]


def test_a_refresh_is_announced_by_read_completed_when_it_finishes(api, bakery, clock):
    sync_settings(bakery, "invoices")
    connection = connect(bakery, "gbol", linked=True)
    clock.shift(LATER)

    operation = api.post(f"/companies/{bakery.id}/data/queue/invoices").json()

    message = SandboxWebhookMessage.objects.get(event_type="read.completed")
    dataset = connection.datasets.get(pk=operation["id"])
    assert message.due_at == dataset.finished_at
    assert only("read.completed")["payload"]["dataTypes"] == [
        {
            "connectionId": str(connection.id),
            "dataType": "invoices",
            "recordsModified": False,
            "status": "Complete",
            "issues": [],
        }
    ]


def test_a_failing_refresh_is_announced_with_its_error_status(api, bakery, clock):
    sync_settings(bakery, "invoices")
    connection = connect(bakery, "gbol", linked=True)
    clock.shift(LATER)
    connection.fail_next_sync_data_types = ["invoices"]
    connection.save()

    api.post(f"/companies/{bakery.id}/data/queue/invoices")

    [item] = only("read.completed")["payload"]["dataTypes"]
    assert (item["status"], item["recordsModified"]) == ("FetchError", False)


def test_refreshing_everything_is_one_read(api, bakery, clock):
    sync_settings(bakery, "invoices", "banking-transactions")
    connect(bakery, "gbol", linked=True)
    connect(bakery, "qhnd", linked=True)
    clock.shift(LATER)

    api.post(f"/companies/{bakery.id}/data/all")

    types = [item["dataType"] for item in only("read.completed")["payload"]["dataTypes"]]
    assert sorted(types) == ["banking-transactions", "invoices"]


def test_a_connection_losing_access_mid_read_rewrites_the_unsent_announcement(bakery, clock):
    sync_settings(bakery, "invoices", "bills")
    connection = connect(bakery, "gbol", linked=True)
    clock.shift(timedelta(seconds=2))
    now = START + timedelta(seconds=2)

    syncs.end_in_flight_datasets(
        connection=connection,
        outcome="AuthError",
        error_message=syncs.AUTH_ERROR_MESSAGE,
        now=now,
    )

    message = SandboxWebhookMessage.objects.get(event_type="read.completed.initial")
    event = only("read.completed.initial")
    assert {item["status"] for item in event["payload"]["dataTypes"]} == {"AuthError"}
    assert message.generated == now
    assert message.due_at == now + timedelta(seconds=0.5)


def test_the_schema_check_is_not_vacuous(bakery):
    connect(bakery, "gbol")
    body = json.loads(
        bytes(SandboxWebhookMessage.objects.get(event_type="connection.created").payload)
    )
    del body["payload"]["connection"]["integrationKey"]

    with pytest.raises(pytest.fail.Exception, match="integrationKey"):
        check_webhook_body(json.dumps(body).encode())
