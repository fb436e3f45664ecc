"""Processing verified Codat webhooks (docs/architecture.md §6; W4, W6, B3, T4).

Intake (`connections.webhooks`) has already verified the signature and stored the raw body.
Here the body is read, mapped to a tenant only through `Company.codat_company_id` (T4), and
applied newest-wins by Codat's `generatedDate` (W6). Processing an event twice changes nothing
the second time; an event that cannot be understood is quarantined as `unprocessable` without
touching any tenant (B3). No call to Codat is made: the payload is the news.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from codat import types as codat_types
from codat.parsing import parse_connection as parse_codat_connection
from codat.parsing import parse_datetime
from companies.models import Company
from connections.models import Connection, DataSync, WebhookEvent
from connections.services import connection_mark_deleted, connection_status_apply

logger = logging.getLogger("connections.webhooks")
security_log = logging.getLogger("consent_portal.security")

# What `codat_process_webhooks` picks up by default: never-finished work only. (A drain takes
# `received` alone: a failed event waits for an operator rather than retrying on every burst.)
RETRYABLE_STATUSES = (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED)
# Events a drain reads per query; it keeps reading until none are left.
DRAIN_BATCH_SIZE = 100

# Documented by Codat (Webhooks.json) but nothing the portal acts on: acknowledged, not
# quarantined, so an operator subscribing to them by mistake sees "ignored", not alarms.
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
_WRITE_EVENT = re.compile(r"[A-Za-z]{1,50}\.write\.(?:successful|unsuccessful)")
_DATA_TYPE = re.compile(r"[A-Za-z][A-Za-z-]{0,49}")
_DATASET_STATUS = re.compile(r"[A-Za-z]{1,40}")
# Characters PostgreSQL text cannot hold (NUL) or that only confuse logs and the admin.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Unprocessable(Exception):
    """The event is authentic but not something we can apply; it is quarantined (B3)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Envelope:
    event_id: str
    event_type: str
    generated_at: datetime | None
    payload: Any


@dataclass(frozen=True)
class Outcome:
    status: str
    text: str
    company: Company | None = None


# --- reading the body ------------------------------------------------------------------------


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
        raise Unprocessable(f"body is not JSON ({type(exc).__name__})") from None


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


def _is_legacy(document: Mapping[str, Any]) -> bool:
    # Codat's deprecated "rule" webhooks: PascalCase, RuleType/AlertId, no eventType.
    return "eventType" not in document and ("RuleType" in document or "AlertId" in document)


def _event_type_of(document: Mapping[str, Any]) -> Any:
    # The schema names it `eventType`; several of Codat's own examples for connection.* and
    # company.created use `type`. Accept either rather than quarantine real events.
    event_type = document.get("eventType")
    return event_type if event_type is not None else document.get("type")


def envelope_from(document: Any) -> Envelope:
    if not isinstance(document, dict):
        raise Unprocessable(f"body is a JSON {type(document).__name__}, not an object")
    if _is_legacy(document):
        raise Unprocessable(
            f"legacy rule payload (RuleType {clean_text(document.get('RuleType'), 100)!r}) "
            "is not supported; subscribe to the current event types"
        )
    event_type = _event_type_of(document)
    if not isinstance(event_type, str) or not event_type:
        raise Unprocessable("no eventType")
    return Envelope(
        event_id=clean_text(document.get("id"), 100),
        event_type=event_type,
        generated_at=event_time(document.get("generatedDate")),
        payload=document.get("payload"),
    )


def intake_columns(body: bytes) -> dict[str, Any]:
    """The searchable columns of a freshly received event, best effort; never raises.

    The raw body is the record. These only help operators find it."""
    try:
        document = load_document(body)
    except Unprocessable:
        return {}
    if not isinstance(document, dict):
        return {}
    if _is_legacy(document):
        return {
            "event_id": clean_text(document.get("AlertId"), 100),
            "event_type": clean_text(f"legacy:{clean_text(document.get('RuleType'), 90)}", 100),
        }
    return {
        "event_id": clean_text(document.get("id"), 100),
        "event_type": clean_text(_event_type_of(document), 100),
        "generated_at": event_time(document.get("generatedDate")),
    }


# --- payload pieces --------------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unprocessable(f"{where} is missing or not an object")
    return value


def _uuid(value: Any, where: str) -> uuid.UUID:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise Unprocessable(f"{where} is missing or not a UUID")


def _generated_at(envelope: Envelope) -> datetime:
    # Without it we cannot tell new from stale (W6), so we do not guess.
    if envelope.generated_at is None:
        raise Unprocessable("generatedDate is missing or unreadable")
    return envelope.generated_at


def _reference_company_id(payload: Any) -> uuid.UUID:
    payload = _object(payload, "payload")
    reference = _object(payload.get("referenceCompany"), "payload.referenceCompany")
    return _uuid(reference.get("id"), "payload.referenceCompany.id")


def _company(codat_company_id: uuid.UUID) -> Company | None:
    # The only way from a Codat company to a tenant (T4).
    return Company.objects.filter(codat_company_id=codat_company_id).first()


def _unknown_company(envelope: Envelope, codat_company_id: uuid.UUID) -> Outcome:
    logger.warning(
        "Codat webhook %s for unknown Codat company %s; stored, no tenant touched",
        envelope.event_type,
        codat_company_id,
    )
    return Outcome(
        WebhookEvent.Status.UNKNOWN_COMPANY, f"no company has Codat id {codat_company_id}"
    )


def _warn_if_another_tenants(company: Company, codat_connection_ids: Iterable[uuid.UUID]) -> None:
    owners = Connection.objects.filter(codat_connection_id__in=list(codat_connection_ids)).exclude(
        company=company
    )
    for codat_connection_id, owner_id in owners.values_list("codat_connection_id", "company_id"):
        security_log.warning(
            "Codat webhook names connection %s of company %s under company %s; ignored",
            codat_connection_id,
            owner_id,
            company.id,
        )


def _codat_error_entries(value: Any) -> list[dict[str, str | None]]:
    """dataConnectionErrors with only the fields we keep, each a clean string or None."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Unprocessable("payload.connection.dataConnectionErrors is not a list of objects")
    keys = ("statusCode", "statusText", "errorMessage", "erroredOnUtc", "status", "resolvedOnUtc")
    return [{key: _scalar_text(item[key]) or None for key in keys if key in item} for item in value]


def _scalar_text(value: Any) -> str:
    # Codat sends statusCode as a string, but a number is the same code.
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return clean_text(value, 500)


def _codat_connection(data: dict[str, Any], *, status: str) -> codat_types.Connection:
    """The webhook's connection as the Codat client would have parsed it, with the status the
    event type implies (the same connection read through the API)."""
    data = {**data, "dataConnectionErrors": _codat_error_entries(data.get("dataConnectionErrors"))}
    # lastSync is re-read so an unstorable date (year 1 at +14:00) becomes "unknown".
    return replace(
        parse_codat_connection(data), status=status, last_sync=event_time(data.get("lastSync"))
    )


# --- connection events -----------------------------------------------------------------------


def _locked_connection(company: Company, codat_connection_id: uuid.UUID) -> Connection | None:
    return (
        Connection.objects.select_for_update()
        .filter(company=company, codat_connection_id=codat_connection_id)
        .first()
    )


def _disconnected_status(data: dict[str, Any]) -> str:
    reported = data.get("status")
    if reported in (Connection.Status.UNLINKED, Connection.Status.DEAUTHORIZED):
        return reported
    # Access is gone either way; Deauthorized is the state that asks the customer to re-link.
    logger.warning(
        "connection.disconnected with status %r; recording Deauthorized",
        clean_text(reported, 40),
    )
    return Connection.Status.DEAUTHORIZED


_STATUS_AFTER: dict[str, Callable[[dict[str, Any]], str]] = {
    "connection.connected": lambda data: Connection.Status.LINKED,
    "connection.reconnected": lambda data: Connection.Status.LINKED,
    # Linking failed or was cancelled: Codat leaves the connection waiting for authorisation.
    "connection.failed": lambda data: Connection.Status.PENDING_AUTH,
    "connection.disconnected": _disconnected_status,
}


def _on_connection_event(envelope: Envelope) -> Outcome:
    codat_company_id = _reference_company_id(envelope.payload)
    data = _object(envelope.payload.get("connection"), "payload.connection")
    codat_connection_id = _uuid(data.get("id"), "payload.connection.id")
    changes_status = envelope.event_type in _STATUS_AFTER
    generated_at = _generated_at(envelope) if changes_status else envelope.generated_at
    company = _company(codat_company_id)
    if company is None:
        return _unknown_company(envelope, codat_company_id)

    connection = _locked_connection(company, codat_connection_id)
    if connection is None:
        # Our rows come from our own link flow; a connection made elsewhere (Codat's portal,
        # another client) is not adopted from a webhook.
        _warn_if_another_tenants(company, [codat_connection_id])
        return Outcome(
            WebhookEvent.Status.PROCESSED,
            f"ignored: connection {codat_connection_id} is not one of ours",
            company,
        )
    if connection.is_deleted:
        return Outcome(WebhookEvent.Status.PROCESSED, "ignored: the connection is deleted", company)
    if envelope.event_type == "connection.deleted":
        return _connection_deleted(connection, generated_at, company)
    if not changes_status:  # connection.created, for a row our link flow already made
        return Outcome(WebhookEvent.Status.PROCESSED, "nothing to do: already known", company)
    return _connection_status_change(envelope, data, connection, _generated_at(envelope), company)


def _connection_status_change(
    envelope: Envelope,
    data: dict[str, Any],
    connection: Connection,
    generated_at: datetime,
    company: Company,
) -> Outcome:
    if connection.status_event_at is not None and generated_at <= connection.status_event_at:
        return Outcome(
            WebhookEvent.Status.PROCESSED,
            f"stale: generated {generated_at.isoformat()}, already applied "
            f"{connection.status_event_at.isoformat()}",
            company,
        )
    if envelope.event_type == "connection.failed" and not connection.is_pending:
        return Outcome(
            WebhookEvent.Status.PROCESSED,
            f"ignored: failed linking, but the connection is {connection.status}",
            company,
        )
    status = _STATUS_AFTER[envelope.event_type](data)
    try:
        snapshot = _codat_connection(data, status=status)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Unprocessable(f"payload.connection unreadable ({type(exc).__name__})") from None
    before = connection.status
    connection_status_apply(connection, snapshot)
    connection.status_event_at = generated_at
    connection.save(
        update_fields=[
            "status",
            "status_changed_at",
            "linked_at",
            "last_sync",
            "last_error",
            "status_event_at",
            "access_lost_notified_at",
        ]
    )
    logger.info(
        "Codat %s: connection %s %s -> %s",
        envelope.event_type,
        connection.id,
        before,
        connection.status,
    )
    return Outcome(
        WebhookEvent.Status.PROCESSED,
        f"connection {connection.id}: {before} -> {connection.status}",
        company,
    )


def _advance_status_event_at(connection: Connection, generated_at: datetime | None) -> None:
    if generated_at is not None and (
        connection.status_event_at is None or generated_at > connection.status_event_at
    ):
        connection.status_event_at = generated_at
        connection.save(update_fields=["status_event_at"])


def _connection_deleted(
    connection: Connection, generated_at: datetime | None, company: Company
) -> Outcome:
    # Deletion at Codat cannot be undone, so it applies whatever order it arrives in.
    before = connection.status
    connection_mark_deleted(connection)
    _advance_status_event_at(connection, generated_at)
    logger.info("Codat connection.deleted: connection %s %s -> Deleted", connection.id, before)
    return Outcome(
        WebhookEvent.Status.PROCESSED, f"connection {connection.id}: {before} -> Deleted", company
    )


def _on_company_deleted(envelope: Envelope) -> Outcome:
    payload = _object(envelope.payload, "payload")
    codat_company_id = _uuid(payload.get("id"), "payload.id")
    company = _company(codat_company_id)
    if company is None:
        return _unknown_company(envelope, codat_company_id)
    connections = list(
        Connection.objects.select_for_update().for_company(company).current().order_by("pk")
    )
    for connection in connections:
        connection_mark_deleted(connection)
        _advance_status_event_at(connection, envelope.generated_at)
    # The company row stays: it carries the consent history and the tenant's members.
    logger.warning(
        "Codat company %s was deleted at Codat: %d connection(s) of company %s marked Deleted",
        codat_company_id,
        len(connections),
        company.id,
    )
    return Outcome(
        WebhookEvent.Status.PROCESSED,
        f"company deleted at Codat: {len(connections)} connection(s) marked Deleted",
        company,
    )


# --- read events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ReadResult:
    codat_connection_id: uuid.UUID
    data_type: str
    status: str
    records_modified: bool
    issues: list[dict[str, Any]]


def _issues(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Unprocessable("dataTypes[].issues is not a list of objects")
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


def _read_results(payload: dict[str, Any]) -> list[_ReadResult]:
    # Every entry is checked before anything is written: a bad entry quarantines the whole
    # event rather than applying half of it (B3).
    entries = payload.get("dataTypes")
    if not isinstance(entries, list):
        raise Unprocessable("payload.dataTypes is missing or not a list")
    results = []
    for index, entry in enumerate(entries):
        where = f"payload.dataTypes[{index}]"
        entry = _object(entry, where)
        data_type = entry.get("dataType")
        status = entry.get("status")
        if not isinstance(data_type, str) or not _DATA_TYPE.fullmatch(data_type):
            raise Unprocessable(f"{where}.dataType is missing or malformed")
        if not isinstance(status, str) or not _DATASET_STATUS.fullmatch(status):
            raise Unprocessable(f"{where}.status is missing or malformed")
        results.append(
            _ReadResult(
                codat_connection_id=_uuid(entry.get("connectionId"), f"{where}.connectionId"),
                data_type=data_type,
                status=status,
                records_modified=entry.get("recordsModified") is True,
                issues=_issues(entry.get("issues")),
            )
        )
    return results


def _on_read_completed(envelope: Envelope) -> Outcome:
    codat_company_id = _reference_company_id(envelope.payload)
    generated_at = _generated_at(envelope)
    results = _read_results(envelope.payload)
    company = _company(codat_company_id)
    if company is None:
        return _unknown_company(envelope, codat_company_id)

    wanted = {result.codat_connection_id for result in results}
    connections = {
        connection.codat_connection_id: connection
        for connection in Connection.objects.select_for_update()
        .filter(company=company, codat_connection_id__in=wanted)
        .order_by("pk")
    }
    _warn_if_another_tenants(company, wanted - connections.keys())

    recorded = stale = skipped = 0
    for result in results:
        connection = connections.get(result.codat_connection_id)
        if connection is None or connection.is_deleted:
            skipped += 1
            continue
        sync = (
            DataSync.objects.select_for_update()
            .filter(connection=connection, data_type=result.data_type)
            .first()
        )
        if sync is not None and sync.last_event_at >= generated_at:
            stale += 1
            continue
        if sync is None:
            sync = DataSync(connection=connection, data_type=result.data_type)
        sync.status = result.status
        sync.records_modified = result.records_modified
        sync.issues = result.issues
        sync.last_event_at = generated_at
        if result.status == DataSync.Status.COMPLETE:
            if sync.last_success_at is None or generated_at > sync.last_success_at:
                sync.last_success_at = generated_at
            if connection.last_sync is None or generated_at > connection.last_sync:
                connection.last_sync = generated_at
                connection.save(update_fields=["last_sync"])
        sync.save()
        recorded += 1
    return Outcome(
        WebhookEvent.Status.PROCESSED,
        f"{recorded} data type(s) recorded, {stale} stale, {skipped} not for our connections",
        company,
    )


# --- events we acknowledge and do not act on -------------------------------------------------


def _on_ignored(envelope: Envelope) -> Outcome:
    company = None
    payload = envelope.payload
    if isinstance(payload, dict) and isinstance(payload.get("referenceCompany"), dict):
        try:
            codat_company_id = _reference_company_id(payload)
        except Unprocessable:
            codat_company_id = None
        if codat_company_id is not None:
            company = _company(codat_company_id)
            if company is None:
                return _unknown_company(envelope, codat_company_id)
    if envelope.event_type == "client.rateLimit.reached":
        logger.warning("Codat reports our daily API quota is used up (client.rateLimit.reached)")
    return Outcome(WebhookEvent.Status.PROCESSED, "ignored: not used by the portal", company)


_HANDLERS: dict[str, Callable[[Envelope], Outcome]] = {
    "connection.created": _on_connection_event,
    "connection.connected": _on_connection_event,
    "connection.failed": _on_connection_event,
    "connection.disconnected": _on_connection_event,
    "connection.reconnected": _on_connection_event,
    "connection.deleted": _on_connection_event,
    "company.deleted": _on_company_deleted,
    "read.completed": _on_read_completed,
    "read.completed.initial": _on_read_completed,
}


def _handler_for(event_type: str) -> Callable[[Envelope], Outcome]:
    handler = _HANDLERS.get(event_type)
    if handler is not None:
        return handler
    if event_type in IGNORED_EVENT_TYPES or _WRITE_EVENT.fullmatch(event_type):
        return _on_ignored
    raise Unprocessable(f"unknown eventType {clean_text(event_type, 100)!r}")


def _process(event: WebhookEvent) -> Outcome:
    envelope = envelope_from(load_document(bytes(event.body)))
    return _handler_for(envelope.event_type)(envelope)


# --- the entry point -------------------------------------------------------------------------


def webhook_event_process(
    *, event_id: str | uuid.UUID, statuses: Iterable[str] = RETRYABLE_STATUSES
) -> str:
    """Process one stored event if its status is in `statuses`; returns its status after.

    The event row is locked for the duration, so two workers handed the same event apply it
    once. Tenant changes run in a savepoint: an unprocessable or failing event leaves no
    partial state behind, while the event itself records what happened. Nothing is raised:
    by now Codat has had its 2xx, and a failed event waits for `codat_process_webhooks`.
    """
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            logger.warning("Codat webhook event %s not found; nothing to process", event_id)
            return "missing"
        if event.status not in set(statuses):
            return event.status
        event.attempts += 1
        event.error = ""
        try:
            with transaction.atomic():
                outcome = _process(event)
        except Unprocessable as exc:
            outcome = Outcome(WebhookEvent.Status.UNPROCESSABLE, "")
            event.error = clean_text(exc.reason, 1000)
            logger.warning(
                "Codat webhook %s (%s) quarantined as unprocessable: %s",
                event.webhook_id,
                event.event_type or "no event type",
                event.error,
            )
        except Exception as exc:
            outcome = Outcome(WebhookEvent.Status.FAILED, "")
            event.error = clean_text(f"{type(exc).__name__}: {exc}", 2000)
            logger.exception(
                "Codat webhook %s (%s) failed to process", event.webhook_id, event.event_type
            )
        event.status = outcome.status
        event.outcome = clean_text(outcome.text, 1000)
        if outcome.company is not None:
            event.company = outcome.company
        event.processed_at = timezone.now()
        event.save(
            update_fields=["status", "outcome", "error", "company", "processed_at", "attempts"]
        )
    return event.status


def webhook_events_drain(*, batch_size: int = DRAIN_BATCH_SIZE) -> int:
    """Process every event still `received`, oldest first; returns how many it tried.

    Events that arrive while it runs are picked up by the next batch. Each event is tried at
    most once per drain, so one that cannot leave `received` cannot hold it in a loop; `failed`
    events are left to `codat_process_webhooks`, not retried on every burst.
    """
    tried = 0
    # Only an event whose processing left it `received` would be read again; skip those.
    stuck: set[uuid.UUID] = set()
    while True:
        batch = list(
            WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED)
            .exclude(pk__in=stuck)
            .order_by("received_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            return tried
        for pk in batch:
            after = webhook_event_process(event_id=pk, statuses=(WebhookEvent.Status.RECEIVED,))
            tried += 1
            if after == WebhookEvent.Status.RECEIVED:
                stuck.add(pk)
