"""Codat's webhook messages read into typed events (docs/codat.md §8.3, §8.4).

Pure: a verified body goes in, a typed event comes out, or `UnprocessableWebhook` says what is
wrong with it (B3). Nothing here knows our tables; `connections.webhook_processing` applies the
events to them. Codat's schemas `ConnectionWebhook`, `CompanyWebhook` and
`ReadCompletedWebhook` become `ConnectionEvent` / `ConnectionStatusEvent`,
`CompanyDeletedEvent` and `ReadCompletedEvent`; other documented types are `IgnoredEvent`.

Every string taken from a payload into an event is cleaned (`clean_text`): the body is
authentic but not trusted, and may hold characters PostgreSQL cannot store.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeAlias

from codat.errors import UnprocessableWebhook
from codat.parsing import parse_connection, parse_datetime
from codat.types import Connection

# Documented by Codat but nothing the portal acts on: read as IgnoredEvent rather than refused,
# so an operator subscribing to them by mistake sees "ignored", not alarms.
IGNORED_EVENT_TYPES = frozenset(
    {
        "company.created",
        "company.product.added",
        "company.product.removed",
        "client.rateLimit.reached",
        "client.rateLimit.reset",
        "expenses.sync.successful",
        "expenses.sync.unsuccessful",
        "bankFeeds.sourceAccount.connected",
        "bankFeeds.sourceAccount.disconnected",
        "reports.categorizedBankStatement.generate.successful",
        "reports.categorizedBankStatement.generate.unsuccessful",
    }
)
CONNECTION_EVENT_TYPES = frozenset({"connection.created", "connection.deleted"})
CONNECTION_STATUS_EVENT_TYPES = frozenset(
    {
        "connection.connected",
        "connection.reconnected",
        "connection.failed",
        "connection.disconnected",
    }
)
READ_COMPLETED_EVENT_TYPES = frozenset({"read.completed", "read.completed.initial"})
COMPANY_DELETED_EVENT_TYPE = "company.deleted"
# Every event type read into a typed event the app acts on: what a webhook consumer must
# subscribe to (`manage.py codat_setup`); the rest are acknowledged and ignored.
HANDLED_EVENT_TYPES = (
    CONNECTION_EVENT_TYPES
    | CONNECTION_STATUS_EVENT_TYPES
    | READ_COMPLETED_EVENT_TYPES
    | {COMPANY_DELETED_EVENT_TYPE}
)

# What connection.disconnected may leave a connection as (docs/codat.md §8.3).
_DISCONNECTED_STATUSES = ("Unlinked", "Deauthorized")
_WRITE_EVENT = re.compile(r"[A-Za-z]{1,50}\.write\.(?:successful|unsuccessful)")
_DATA_TYPE = re.compile(r"[A-Za-z][A-Za-z-]{0,49}")
_DATASET_STATUS = re.compile(r"[A-Za-z]{1,40}")
# Characters PostgreSQL text cannot hold (NUL) or that only confuse logs and the admin.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Envelope:
    """What every current message has: `{id, eventType, generatedDate, payload}`."""

    event_id: str
    event_type: str
    generated_at: datetime | None
    payload: Any


@dataclass(frozen=True)
class Summary:
    """What an operator searches stored messages by; the best that can be read, never refused."""

    event_id: str = ""
    event_type: str = ""
    generated_at: datetime | None = None


@dataclass(frozen=True)
class ConnectionEvent:
    """`connection.created` or `connection.deleted`: news of the connection's existence."""

    event_type: str
    generated_at: datetime | None
    company_id: uuid.UUID
    connection_id: uuid.UUID


@dataclass(frozen=True)
class ConnectionStatusEvent:
    """`connection.connected`, `.reconnected`, `.failed` or `.disconnected`: a new status.

    `generated_at` is always known: without it new news cannot be told from stale (W6).
    `connection` is the payload's `Connection` as sent; `snapshot()` reads it.
    """

    event_type: str
    generated_at: datetime
    company_id: uuid.UUID
    connection_id: uuid.UUID
    connection: dict[str, Any]

    @property
    def status_after(self) -> str:
        """The connection's status after this event, as Codat's API would then show it."""
        if self.event_type == "connection.failed":
            # Linking failed or was cancelled: Codat leaves it waiting for authorisation.
            return "PendingAuth"
        if self.event_type == "connection.disconnected":
            reported = self.connection.get("status")
            return str(reported) if reported in _DISCONNECTED_STATUSES else "Deauthorized"
        return "Linked"

    @property
    def status_assumed(self) -> bool:
        """True for a disconnection whose payload names neither status it can have; access is
        gone either way, and Deauthorized is the state that asks the customer to re-link."""
        return (
            self.event_type == "connection.disconnected"
            and self.connection.get("status") not in _DISCONNECTED_STATUSES
        )

    @property
    def reported_status(self) -> str:
        return clean_text(self.connection.get("status"), 40)

    def snapshot(self) -> Connection:
        """The connection as the API would show it now, with `status_after` as its status."""
        try:
            errors = _error_entries(self.connection.get("dataConnectionErrors"))
            data = {**self.connection, "dataConnectionErrors": errors}
            # lastSync is re-read so an unstorable date (year 1 at +14:00) becomes "unknown".
            return replace(
                parse_connection(data),
                status=self.status_after,
                last_sync=event_time(data.get("lastSync")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UnprocessableWebhook(
                f"payload.connection unreadable ({type(exc).__name__})"
            ) from None


@dataclass(frozen=True)
class CompanyDeletedEvent:
    """`company.deleted`; the payload is the company itself."""

    event_type: str
    generated_at: datetime | None
    company_id: uuid.UUID


@dataclass(frozen=True)
class DataTypeRead:
    """One `dataTypes` entry of a read: one data type over one connection."""

    connection_id: uuid.UUID
    data_type: str
    status: str  # a dataset status (docs/codat.md §6.4)
    records_modified: bool
    issues: list[dict[str, Any]]  # each {type, message, links}, cleaned


@dataclass(frozen=True)
class ReadCompletedEvent:
    """`read.completed` or `read.completed.initial`; every entry is checked before one is
    returned, so a bad entry refuses the whole event rather than half of it being applied."""

    event_type: str
    generated_at: datetime
    company_id: uuid.UUID
    data_types: tuple[DataTypeRead, ...]


@dataclass(frozen=True)
class IgnoredEvent:
    """A documented event the portal does not act on; `company_id` when it names one."""

    event_type: str
    generated_at: datetime | None
    company_id: uuid.UUID | None


# Every event `read_webhook` can return.
Event: TypeAlias = (
    ConnectionEvent
    | ConnectionStatusEvent
    | CompanyDeletedEvent
    | ReadCompletedEvent
    | IgnoredEvent
)


# --- the body and its envelope ----------------------------------------------------------------


def read_webhook(body: bytes) -> Event:
    """A verified body as its typed event; UnprocessableWebhook if it cannot be one."""
    return read_event(read_envelope(load_document(body)))


def clean_text(value: Any, max_length: int) -> str:
    """A string from the payload made safe to store and log: no control characters, no lone
    surrogates (PostgreSQL rejects both), bounded length. Anything not a string gives ""."""
    if not isinstance(value, str):
        return ""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", value)[:max_length]


def load_document(body: bytes) -> Any:
    try:
        return json.loads(body)
    # RecursionError: deeply nested arrays are valid JSON that the parser cannot hold.
    except (ValueError, RecursionError) as exc:
        raise UnprocessableWebhook(f"body is not JSON ({type(exc).__name__})") from None


def event_time(value: Any) -> datetime | None:
    """Codat's generatedDate as an aware UTC datetime, or None if unreadable or unstorable."""
    moment = parse_datetime(value)
    if moment is None:
        return None
    try:
        # "0001-01-01T00:00:00+14:00" parses, but has no UTC equivalent to store.
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def _is_legacy(document: dict[str, Any]) -> bool:
    # Codat's deprecated "rule" webhooks (§8.4): PascalCase, RuleType/AlertId, no eventType.
    return "eventType" not in document and ("RuleType" in document or "AlertId" in document)


def _event_type_of(document: dict[str, Any]) -> Any:
    # The schema names it `eventType`; several of Codat's own examples for connection.* and
    # company.created use `type` (§8.3). Accept either rather than refuse real events.
    event_type = document.get("eventType")
    return event_type if event_type is not None else document.get("type")


def read_envelope(document: Any) -> Envelope:
    if not isinstance(document, dict):
        raise UnprocessableWebhook(f"body is a JSON {type(document).__name__}, not an object")
    if _is_legacy(document):
        raise UnprocessableWebhook(
            f"legacy rule payload (RuleType {clean_text(document.get('RuleType'), 100)!r}) "
            "is not supported; subscribe to the current event types"
        )
    event_type = _event_type_of(document)
    if not isinstance(event_type, str) or not event_type:
        raise UnprocessableWebhook("no eventType")
    return Envelope(
        event_id=clean_text(document.get("id"), 100),
        event_type=event_type,
        generated_at=event_time(document.get("generatedDate")),
        payload=document.get("payload"),
    )


def summarise(body: bytes) -> Summary:
    """The searchable columns of a freshly received message, best effort; never raises."""
    try:
        document = load_document(body)
    except UnprocessableWebhook:
        return Summary()
    if not isinstance(document, dict):
        return Summary()
    if _is_legacy(document):
        return Summary(
            event_id=clean_text(document.get("AlertId"), 100),
            event_type=clean_text(f"legacy:{clean_text(document.get('RuleType'), 90)}", 100),
        )
    return Summary(
        event_id=clean_text(document.get("id"), 100),
        event_type=clean_text(_event_type_of(document), 100),
        generated_at=event_time(document.get("generatedDate")),
    )


def read_event(envelope: Envelope) -> Event:
    event_type = envelope.event_type
    if event_type in CONNECTION_EVENT_TYPES or event_type in CONNECTION_STATUS_EVENT_TYPES:
        return _connection_event(envelope)
    if event_type == COMPANY_DELETED_EVENT_TYPE:
        return _company_deleted(envelope)
    if event_type in READ_COMPLETED_EVENT_TYPES:
        return _read_completed(envelope)
    if event_type in IGNORED_EVENT_TYPES or _WRITE_EVENT.fullmatch(event_type):
        return _ignored(envelope)
    raise UnprocessableWebhook(f"unknown eventType {clean_text(event_type, 100)!r}")


# --- payload pieces ---------------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnprocessableWebhook(f"{where} is missing or not an object")
    return value


def _uuid(value: Any, where: str) -> uuid.UUID:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise UnprocessableWebhook(f"{where} is missing or not a UUID")


def _generated_at(envelope: Envelope) -> datetime:
    # Without it we cannot tell new from stale (W6), so we do not guess.
    if envelope.generated_at is None:
        raise UnprocessableWebhook("generatedDate is missing or unreadable")
    return envelope.generated_at


def _reference_company_id(payload: Any) -> uuid.UUID:
    payload = _object(payload, "payload")
    reference = _object(payload.get("referenceCompany"), "payload.referenceCompany")
    return _uuid(reference.get("id"), "payload.referenceCompany.id")


def _scalar_text(value: Any) -> str:
    # Codat sends statusCode as a string, but a number is the same code.
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return clean_text(value, 500)


def _error_entries(value: Any) -> list[dict[str, str | None]]:
    """dataConnectionErrors with only the fields we keep, each a clean string or None."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise UnprocessableWebhook(
            "payload.connection.dataConnectionErrors is not a list of objects"
        )
    keys = ("statusCode", "statusText", "errorMessage", "erroredOnUtc", "status", "resolvedOnUtc")
    return [{key: _scalar_text(item[key]) or None for key in keys if key in item} for item in value]


def _issues(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise UnprocessableWebhook("dataTypes[].issues is not a list of objects")
    kept = []
    for item in value:
        links = item.get("links") if isinstance(item.get("links"), dict) else {}
        kept.append(
            {
                "type": clean_text(item.get("type"), 100),
                "message": clean_text(item.get("message"), 2000),
                "links": {
                    clean_text(key, 50): clean_text(link, 500)
                    for key, link in list(links.items())[:10]
                    if isinstance(link, str)
                },
            }
        )
    return kept


# --- one reader per kind of event -------------------------------------------------------------


def _connection_event(envelope: Envelope) -> ConnectionEvent | ConnectionStatusEvent:
    company_id = _reference_company_id(envelope.payload)
    data = _object(envelope.payload.get("connection"), "payload.connection")
    connection_id = _uuid(data.get("id"), "payload.connection.id")
    if envelope.event_type in CONNECTION_EVENT_TYPES:
        return ConnectionEvent(
            event_type=envelope.event_type,
            generated_at=envelope.generated_at,
            company_id=company_id,
            connection_id=connection_id,
        )
    return ConnectionStatusEvent(
        event_type=envelope.event_type,
        generated_at=_generated_at(envelope),
        company_id=company_id,
        connection_id=connection_id,
        connection=data,
    )


def _company_deleted(envelope: Envelope) -> CompanyDeletedEvent:
    payload = _object(envelope.payload, "payload")
    return CompanyDeletedEvent(
        event_type=envelope.event_type,
        generated_at=envelope.generated_at,
        company_id=_uuid(payload.get("id"), "payload.id"),
    )


def _read_completed(envelope: Envelope) -> ReadCompletedEvent:
    company_id = _reference_company_id(envelope.payload)
    generated_at = _generated_at(envelope)
    entries = envelope.payload.get("dataTypes")
    if not isinstance(entries, list):
        raise UnprocessableWebhook("payload.dataTypes is missing or not a list")
    results = []
    for index, entry in enumerate(entries):
        where = f"payload.dataTypes[{index}]"
        entry = _object(entry, where)
        data_type = entry.get("dataType")
        status = entry.get("status")
        if not isinstance(data_type, str) or not _DATA_TYPE.fullmatch(data_type):
            raise UnprocessableWebhook(f"{where}.dataType is missing or malformed")
        if not isinstance(status, str) or not _DATASET_STATUS.fullmatch(status):
            raise UnprocessableWebhook(f"{where}.status is missing or malformed")
        results.append(
            DataTypeRead(
                connection_id=_uuid(entry.get("connectionId"), f"{where}.connectionId"),
                data_type=data_type,
                status=status,
                records_modified=entry.get("recordsModified") is True,
                issues=_issues(entry.get("issues")),
            )
        )
    return ReadCompletedEvent(
        event_type=envelope.event_type,
        generated_at=generated_at,
        company_id=company_id,
        data_types=tuple(results),
    )


def _ignored(envelope: Envelope) -> IgnoredEvent:
    company_id = None
    payload = envelope.payload
    if isinstance(payload, dict) and isinstance(payload.get("referenceCompany"), dict):
        try:
            company_id = _reference_company_id(payload)
        except UnprocessableWebhook:
            company_id = None
    return IgnoredEvent(
        event_type=envelope.event_type,
        generated_at=envelope.generated_at,
        company_id=company_id,
    )
