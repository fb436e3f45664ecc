"""Codat's webhook bodies read into typed events, with no database (docs/codat.md §8.3, §8.4).

What the events do to our rows is tests/webhooks/test_processing.py; here only the reading.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from codat.errors import UnprocessableWebhook
from codat.webhook_events import (
    CompanyDeletedEvent,
    ConnectionEvent,
    ConnectionStatusEvent,
    DataTypeRead,
    IgnoredEvent,
    ReadCompletedEvent,
    Summary,
    read_webhook,
    summarise,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "codat" / "webhooks"
EXAMPLE_TIME = datetime(2024, 8, 8, 17, 10, 34, 15000, tzinfo=UTC)
COMPANY_ID = uuid.UUID("0498e921-9b53-4396-a412-4f2f5983b0a2")
CONNECTION_ID = uuid.UUID("ee2eb431-c0fa-4dc9-93fa-d29781c12bcd")


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_codats_connected_example_is_a_status_event_with_its_connection():
    # Codat's own example names the event under `type`, not `eventType`.
    event = read_webhook(body(example("connection_connected")))

    assert isinstance(event, ConnectionStatusEvent)
    assert (event.event_type, event.generated_at) == ("connection.connected", EXAMPLE_TIME)
    assert (event.company_id, event.connection_id) == (COMPANY_ID, CONNECTION_ID)
    assert event.status_after == "Linked"
    snapshot = event.snapshot()
    assert (snapshot.id, snapshot.status, snapshot.integration_key) == (
        str(CONNECTION_ID),
        "Linked",
        "dfxm",
    )
    assert snapshot.last_sync == datetime(2022, 10, 27, 10, 22, 43, 646000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "status_after"),
    [
        ("connection_disconnected_unlinked", "Unlinked"),
        ("connection_disconnected_deauthorized", "Deauthorized"),
        ("connection_failed", "PendingAuth"),
        ("connection_reconnected", "Linked"),
    ],
)
def test_each_status_event_names_the_status_it_leaves(name, status_after):
    event = read_webhook(body(example(name)))

    assert isinstance(event, ConnectionStatusEvent)
    assert event.status_after == status_after
    assert event.status_assumed is False


def test_a_disconnection_with_an_odd_status_is_taken_as_deauthorized():
    document = example("connection_disconnected_unlinked")
    document["payload"]["connection"]["status"] = "Linked\x00"

    event = read_webhook(body(document))

    assert isinstance(event, ConnectionStatusEvent)
    assert (event.status_after, event.status_assumed) == ("Deauthorized", True)
    assert event.reported_status == "Linked"


@pytest.mark.parametrize("name", ["connection_created", "connection_deleted"])
def test_created_and_deleted_carry_no_status(name):
    event = read_webhook(body(example(name)))

    assert type(event) is ConnectionEvent
    assert event.connection_id == CONNECTION_ID


def test_a_status_event_without_generated_date_is_unprocessable():
    document = example("connection_connected")
    del document["generatedDate"]

    with pytest.raises(UnprocessableWebhook, match="generatedDate"):
        read_webhook(body(document))


def test_garbled_connection_errors_are_unprocessable_only_when_read():
    # Reading the event must not refuse it: the processor may find it stale or not ours first.
    document = example("connection_failed")
    document["payload"]["connection"]["dataConnectionErrors"] = "oops"
    event = read_webhook(body(document))

    assert isinstance(event, ConnectionStatusEvent)
    with pytest.raises(UnprocessableWebhook, match="dataConnectionErrors"):
        event.snapshot()


def test_codats_read_completed_example_lists_each_data_type():
    event = read_webhook(body(example("read_completed")))

    assert event == ReadCompletedEvent(
        event_type="read.completed",
        generated_at=datetime(2022, 10, 23, tzinfo=UTC),
        company_id=COMPANY_ID,
        data_types=(
            DataTypeRead(
                connection_id=uuid.UUID("2e9d2c44-f675-40ba-8049-353bfcb5e171"),
                data_type="invoices",
                status="Complete",
                records_modified=False,
                issues=[],
            ),
        ),
    )


def test_one_bad_data_type_entry_refuses_the_whole_read():
    document = example("read_completed")
    document["payload"]["dataTypes"].append({"connectionId": "nope", "dataType": "bills"})

    with pytest.raises(UnprocessableWebhook, match=r"dataTypes\[1\]"):
        read_webhook(body(document))


def test_company_deleted_names_the_company_from_its_payload():
    event = read_webhook(body(example("company_deleted")))

    assert isinstance(event, CompanyDeletedEvent)
    assert event.company_id == uuid.UUID(example("company_deleted")["payload"]["id"])


def test_documented_events_the_portal_does_not_use_are_ignored_not_refused():
    rate_limit = read_webhook(body(example("client_rate_limit_reached")))
    write = read_webhook(
        body(
            {
                "eventType": "invoices.write.successful",
                "payload": {"referenceCompany": {"id": str(COMPANY_ID)}},
            }
        )
    )

    assert rate_limit == IgnoredEvent("client.rateLimit.reached", rate_limit.generated_at, None)
    assert isinstance(write, IgnoredEvent) and write.company_id == COMPANY_ID


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not an object"),
        (b'{"payload": {}}', "no eventType"),
        (b'{"eventType": "connection.teleported"}', "unknown eventType"),
    ],
)
def test_unusable_bodies_say_why(raw, reason):
    with pytest.raises(UnprocessableWebhook) as caught:
        read_webhook(raw)

    assert reason in caught.value.reason


def test_a_legacy_rule_payload_is_refused_and_labelled_for_operators():
    raw = body(example("legacy_data_connection_status_changed"))

    with pytest.raises(UnprocessableWebhook, match="legacy"):
        read_webhook(raw)
    assert summarise(raw) == Summary(
        event_id="a9367074-b5c3-42c4-9be4-be129f43577e",
        event_type="legacy:DataConnectionStatusChanged",
    )


def test_a_summary_never_raises_and_strips_what_postgresql_cannot_store():
    assert summarise(b"\xff not json") == Summary()
    assert summarise(b'{"id": "a\\u0000b", "eventType": "x\\ud800"}') == Summary(
        event_id="ab", event_type="x?"
    )
