"""Applying verified Codat webhooks to our rows (docs/architecture.md §6; W4, W6, B3, T4).

Intake (`connections.webhooks`) has already verified the signature and stored the raw body.
`codat.webhook_events` reads the body into a typed event; here the event is mapped to a tenant
only through `Company.codat_company_id` (T4) and applied newest-wins by Codat's `generatedDate`
(W6). Processing an event twice changes nothing the second time; an event that cannot be
understood is quarantined as `unprocessable` without touching any tenant (B3). No call to Codat
is made: the payload is the news.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never

from django.db import transaction
from django.utils import timezone

from codat import webhook_events
from codat.errors import UnprocessableWebhook
from codat.webhook_events import clean_text
from companies import page_cache
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


@dataclass(frozen=True)
class Outcome:
    status: str
    text: str
    company: Company | None = None


def intake_columns(body: bytes) -> dict[str, Any]:
    """The searchable columns of a freshly received event, best effort; never raises.

    The raw body is the record. These only help operators find it."""
    summary = webhook_events.summarise(body)
    return {
        "event_id": summary.event_id,
        "event_type": summary.event_type,
        "generated_at": summary.generated_at,
    }


# --- tenants ---------------------------------------------------------------------------------


def _company(codat_company_id: uuid.UUID) -> Company | None:
    # The only way from a Codat company to a tenant (T4).
    return Company.objects.filter(codat_company_id=codat_company_id).first()


def _unknown_company(event_type: str, codat_company_id: uuid.UUID) -> Outcome:
    logger.warning(
        "Codat webhook %s for unknown Codat company %s; stored, no tenant touched",
        event_type,
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


# --- connection events -----------------------------------------------------------------------


def _locked_connection(company: Company, codat_connection_id: uuid.UUID) -> Connection | None:
    return (
        Connection.objects.select_for_update()
        .filter(company=company, codat_connection_id=codat_connection_id)
        .first()
    )


def _on_connection_event(
    event: webhook_events.ConnectionEvent | webhook_events.ConnectionStatusEvent,
) -> Outcome:
    company = _company(event.company_id)
    if company is None:
        return _unknown_company(event.event_type, event.company_id)

    connection = _locked_connection(company, event.connection_id)
    if connection is None:
        # Our rows come from our own link flow; a connection made elsewhere (Codat's portal,
        # another client) is not adopted from a webhook.
        _warn_if_another_tenants(company, [event.connection_id])
        return Outcome(
            WebhookEvent.Status.PROCESSED,
            f"ignored: connection {event.connection_id} is not one of ours",
            company,
        )
    if connection.is_deleted:
        return Outcome(WebhookEvent.Status.PROCESSED, "ignored: the connection is deleted", company)
    if event.event_type == "connection.deleted":
        return _connection_deleted(connection, event.generated_at, company)
    if not isinstance(event, webhook_events.ConnectionStatusEvent):
        # connection.created, for a row our link flow already made
        return Outcome(WebhookEvent.Status.PROCESSED, "nothing to do: already known", company)
    return _connection_status_change(event, connection, company)


def _connection_status_change(
    event: webhook_events.ConnectionStatusEvent, connection: Connection, company: Company
) -> Outcome:
    generated_at = event.generated_at
    if connection.status_event_at is not None and generated_at <= connection.status_event_at:
        return Outcome(
            WebhookEvent.Status.PROCESSED,
            f"stale: generated {generated_at.isoformat()}, already applied "
            f"{connection.status_event_at.isoformat()}",
            company,
        )
    if event.event_type == "connection.failed" and not connection.is_pending:
        return Outcome(
            WebhookEvent.Status.PROCESSED,
            f"ignored: failed linking, but the connection is {connection.status}",
            company,
        )
    if event.status_assumed:
        logger.warning(
            "connection.disconnected with status %r; recording Deauthorized",
            event.reported_status,
        )
    snapshot = event.snapshot()
    before = connection.status
    connection_status_apply(connection, snapshot)
    connection.status_event_at = generated_at
    connection.save(
        update_fields=[
            "status",
            "status_changed_at",
            "linked_at",
            "authorised_at",
            "last_sync",
            "last_error",
            "status_event_at",
            "access_lost_notified_at",
        ]
    )
    page_cache.facts_changed(company)
    logger.info(
        "Codat %s: connection %s %s -> %s",
        event.event_type,
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


def _on_company_deleted(event: webhook_events.CompanyDeletedEvent) -> Outcome:
    company = _company(event.company_id)
    if company is None:
        return _unknown_company(event.event_type, event.company_id)
    connections = list(
        Connection.objects.select_for_update().for_company(company).current().order_by("pk")
    )
    for connection in connections:
        connection_mark_deleted(connection)
        _advance_status_event_at(connection, event.generated_at)
    # The company row stays: it carries the consent history and the tenant's members.
    logger.warning(
        "Codat company %s was deleted at Codat: %d connection(s) of company %s marked Deleted",
        event.company_id,
        len(connections),
        company.id,
    )
    return Outcome(
        WebhookEvent.Status.PROCESSED,
        f"company deleted at Codat: {len(connections)} connection(s) marked Deleted",
        company,
    )


# --- read events -----------------------------------------------------------------------------


def _on_read_completed(event: webhook_events.ReadCompletedEvent) -> Outcome:
    generated_at = event.generated_at
    company = _company(event.company_id)
    if company is None:
        return _unknown_company(event.event_type, event.company_id)

    wanted = {result.connection_id for result in event.data_types}
    connections = {
        connection.codat_connection_id: connection
        for connection in Connection.objects.select_for_update()
        .filter(company=company, codat_connection_id__in=wanted)
        .order_by("pk")
    }
    _warn_if_another_tenants(company, wanted - connections.keys())

    recorded = stale = skipped = 0
    for result in event.data_types:
        connection = connections.get(result.connection_id)
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
    if recorded:
        # A new pull: the connection's progress, the products' health, the dashboard's data.
        page_cache.facts_changed(company)
    return Outcome(
        WebhookEvent.Status.PROCESSED,
        f"{recorded} data type(s) recorded, {stale} stale, {skipped} not for our connections",
        company,
    )


# --- events we acknowledge and do not act on -------------------------------------------------


def _on_ignored(event: webhook_events.IgnoredEvent) -> Outcome:
    company = None
    if event.company_id is not None:
        company = _company(event.company_id)
        if company is None:
            return _unknown_company(event.event_type, event.company_id)
    if event.event_type == "client.rateLimit.reached":
        logger.warning("Codat reports our daily API quota is used up (client.rateLimit.reached)")
    return Outcome(WebhookEvent.Status.PROCESSED, "ignored: not used by the portal", company)


def _apply(event: webhook_events.Event) -> Outcome:
    if isinstance(event, webhook_events.ConnectionEvent | webhook_events.ConnectionStatusEvent):
        return _on_connection_event(event)
    if isinstance(event, webhook_events.CompanyDeletedEvent):
        return _on_company_deleted(event)
    if isinstance(event, webhook_events.ReadCompletedEvent):
        return _on_read_completed(event)
    if isinstance(event, webhook_events.IgnoredEvent):
        return _on_ignored(event)
    assert_never(event)


def _process(event: WebhookEvent) -> Outcome:
    return _apply(webhook_events.read_webhook(bytes(event.body)))


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
        except UnprocessableWebhook as exc:
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
