"""Everything we hold about one company, as one JSON document, for a subject access request (P4).

Written out piece by piece (`company_export` yields text), so that a company with years of
webhooks and evidence is streamed to staff, never built in memory as one string. The keys
are stable; a new kind of record gets a new key, and no key changes meaning. The format:

    format            "consent-portal/subject-access/1"
    generated_at      when this export was made (ISO 8601, UTC)
    company           id, name, codat_company_id, created_at, closed_at
    members           one per membership: user_id, username, email, name, role, is_active,
                      date_joined, last_login, joined_at (an erased member shows the pseudonym)
    connections       ours, per Codat connection: status, platform, dates, last error
    link_attempts     each trip to Codat's Link page: who, when, what came back
    data_syncs        per connection and data type, Codat's latest read
    codat_sync_state  what Codat should fetch for the company and whether it does (or null)
    consents          the current decision per product
    consent_events    the evidence, oldest first, as recorded
    consent_texts     the exact wording each consent and event refers to
    emails_sent       the notices recorded as sent: banking reminders and access-lost notices
                      (receipts and other mail are sent but not recorded one by one)
    webhook_events    every Codat webhook stored for the company, with its body
    codat_deletions   deletions of the company at Codat, pending or done
    connection_events changes in each connection's access: linked, expired, paused, …
    scheduled_deletions  deletions at Codat that retention calls for, with their dates
    deletion_records  what was deleted at Codat, when and why (evidence)
    data_use          every read of the company's data through the consent gate: product,
                      purpose, reader, what was read, refused or not there yet (P3)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.utils import timezone

from companies.models import Company, Membership
from companies.scoping import scope_only
from connections.models import (
    CodatCompanyDeletion,
    Connection,
    ConnectionEvent,
    DataSync,
    LinkAttempt,
    WebhookEvent,
)
from consents.models import (
    CodatSyncState,
    Consent,
    ConsentEvent,
    ConsentReminder,
    ConsentText,
    DataUse,
    DeletionRecord,
    ScheduledDeletion,
)

FORMAT = "consent-portal/subject-access/1"
CHUNK = 500


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)  # UUIDs, decimals, IP addresses


def _row(**fields: Any) -> dict[str, Any]:
    return {key: _value(value) for key, value in fields.items()}


def _members(company: Company) -> Iterator[dict]:
    memberships = Membership.objects.filter(company=company).select_related("user")
    for membership in memberships.order_by("created_at").iterator(chunk_size=CHUNK):
        user = membership.user
        yield _row(
            user_id=user.pk,
            username=user.username,
            email=user.email,
            name=user.get_full_name(),
            role=membership.role,
            is_active=user.is_active,
            date_joined=user.date_joined,
            last_login=user.last_login,
            joined_at=membership.created_at,
        )


def _connections(company: Company) -> Iterator[dict]:
    for c in Connection.objects.filter(company=company).order_by("created_at").iterator(CHUNK):
        yield _row(
            id=c.id,
            codat_connection_id=c.codat_connection_id,
            platform_key=c.platform_key,
            platform_name=c.platform_name,
            source_type=c.source_type,
            status=c.status,
            created_at=c.created_at,
            linked_at=c.linked_at,
            authorised_at=c.authorised_at,
            last_sync=c.last_sync,
            deleted_at=c.deleted_at,
            last_error=c.last_error,
            access_lost_notified_at=c.access_lost_notified_at,
        )


def _link_attempts(company: Company) -> Iterator[dict]:
    attempts = LinkAttempt.objects.filter(company=company).order_by("created_at")
    for a in attempts.iterator(CHUNK):
        yield _row(
            id=a.id,
            user_id=a.user_id,
            connection_id=a.connection_id,
            created_at=a.created_at,
            expires_at=a.expires_at,
            used_at=a.used_at,
            status_code=a.status_code,
            error_message=a.error_message,
            status_text=a.status_text,
        )


def _data_syncs(company: Company) -> Iterator[dict]:
    syncs = DataSync.objects.filter(connection__company=company).order_by("connection", "data_type")
    for s in syncs.iterator(CHUNK):
        yield _row(
            connection_id=s.connection_id,
            data_type=s.data_type,
            status=s.status,
            records_modified=s.records_modified,
            issues=s.issues,
            last_event_at=s.last_event_at,
            last_success_at=s.last_success_at,
        )


def _sync_state(company: Company) -> dict | None:
    state = CodatSyncState.objects.filter(company=company).first()
    if state is None:
        return None
    return _row(
        desired_data_types=state.desired_data_types,
        applied_data_types=state.applied_data_types,
        pending=state.pending,
        attempts=state.attempts,
        last_error=state.last_error,
        applied_at=state.applied_at,
    )


def _consents(company: Company) -> Iterator[dict]:
    consents = Consent.objects.filter(company=company).select_related("product", "text")
    for c in consents.order_by("granted_at").iterator(CHUNK):
        yield _row(
            id=c.id,
            product=c.product.slug,
            state=c.state,
            data_types=c.data_types,
            text_id=c.text_id,
            granted_by=c.granted_by_id,
            granted_at=c.granted_at,
            withdrawn_by=c.withdrawn_by_id,
            withdrawn_at=c.withdrawn_at,
            banking_confirmed_at=c.banking_confirmed_at,
        )


def _consent_events(company: Company) -> Iterator[dict]:
    events = ConsentEvent.objects.filter(company=company).select_related("product")
    for e in events.order_by("occurred_at").iterator(CHUNK):
        yield _row(
            id=e.id,
            consent_id=e.consent_id,
            product=e.product.slug,
            action=e.action,
            actor=e.actor_id,
            occurred_at=e.occurred_at,
            text_id=e.text_id,
            text_sha256=e.text_sha256,
            data_types=e.data_types,
            ip_address=e.ip_address,
            user_agent=e.user_agent,
            request_id=e.request_id,
            method=e.method,
            surface=e.surface,
            details=e.details,
        )


def _consent_texts(company: Company) -> Iterator[dict]:
    used = set(Consent.objects.filter(company=company).values_list("text_id", flat=True))
    used |= set(
        ConsentEvent.objects.filter(company=company, text__isnull=False).values_list(
            "text_id", flat=True
        )
    )
    texts = ConsentText.objects.filter(pk__in=used).select_related("product")
    for t in texts.order_by("product__slug", "version"):
        yield _row(
            id=t.pk,
            product=t.product.slug,
            version=t.version,
            sha256=t.sha256,
            published_at=t.published_at,
            body=t.body,
        )


def _emails_sent(company: Company) -> Iterator[dict]:
    reminders = ConsentReminder.objects.filter(consent__company=company).select_related(
        "consent__product"
    )
    for r in reminders.order_by("sent_at").iterator(CHUNK):
        yield _row(
            kind=f"banking_reminder_{r.kind}",
            product=r.consent.product.slug,
            sent_at=r.sent_at,
            about=r.expires_at,
        )
    notified = Connection.objects.filter(company=company, access_lost_notified_at__isnull=False)
    for c in notified.order_by("access_lost_notified_at"):
        yield _row(kind="access_lost", connection_id=c.id, sent_at=c.access_lost_notified_at)
    told = ScheduledDeletion.objects.filter(company=company, notified_at__isnull=False)
    for d in told.order_by("notified_at"):
        yield _row(kind="data_deleted", connection_id=d.connection_id, sent_at=d.notified_at)


def _body(raw: bytes) -> Any:
    try:
        return json.loads(bytes(raw))
    except ValueError:
        return {"base64": base64.b64encode(bytes(raw)).decode()}


def _webhook_events(company: Company) -> Iterator[dict]:
    events = WebhookEvent.objects.filter(company=company).order_by("received_at")
    for w in events.iterator(CHUNK):
        yield _row(
            webhook_id=w.webhook_id,
            event_type=w.event_type,
            generated_at=w.generated_at,
            received_at=w.received_at,
            status=w.status,
            outcome=w.outcome,
            body=_body(w.body),
        )


def _codat_deletions(company: Company) -> Iterator[dict]:
    for d in CodatCompanyDeletion.objects.filter(company=company):
        yield _row(
            codat_company_id=d.codat_company_id,
            reason=d.reason,
            requested_at=d.requested_at,
            attempts=d.attempts,
            last_attempt_at=d.last_attempt_at,
            next_attempt_at=d.next_attempt_at,
            last_error=d.last_error,
            deleted_at=d.deleted_at,
        )


def _connection_events(company: Company) -> Iterator[dict]:
    events = ConnectionEvent.objects.filter(company=company).order_by("occurred_at")
    for e in events.iterator(CHUNK):
        yield _row(connection_id=e.connection_id, kind=e.kind, occurred_at=e.occurred_at)


def _scheduled_deletions(company: Company) -> Iterator[dict]:
    for d in ScheduledDeletion.objects.filter(company=company).order_by("delete_after"):
        yield _row(
            target=d.target,
            connection_id=d.connection_id,
            codat_company_id=d.codat_company_id,
            delete_after=d.delete_after,
            reason=d.reason,
            holds=d.holds,
            scheduled_at=d.scheduled_at,
            attempts=d.attempts,
            last_error=d.last_error,
            done_at=d.done_at,
        )


def _deletion_records(company: Company) -> Iterator[dict]:
    records = DeletionRecord.objects.filter(company=company).order_by("deleted_at")
    for r in records.iterator(CHUNK):
        yield _row(
            target=r.target,
            connection_id=r.connection_id,
            codat_company_id=r.codat_company_id,
            codat_connection_id=r.codat_connection_id,
            platform_name=r.platform_name,
            cause=r.cause,
            deleted_at=r.deleted_at,
            promised_by=r.promised_by,
            reason=r.reason,
            holds=r.holds,
            actor_id=r.actor_id,
        )


def _data_use(company: Company) -> Iterator[dict]:
    uses = DataUse.objects.filter(company=company).select_related("product")
    for u in uses.order_by("occurred_at").iterator(CHUNK):
        yield _row(
            occurred_at=u.occurred_at,
            product=u.product.slug,
            purpose=u.purpose,
            reader_kind=u.reader_kind,
            reader_id=u.reader_id,
            reader_name=u.reader_name,
            outcome=u.outcome,
            data_types=u.data_types,
            refused_data_types=u.refused_data_types,
            unavailable_data_types=u.unavailable_data_types,
            codat_calls=u.codat_calls,
        )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _array(rows: Iterable[dict]) -> Iterator[str]:
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + "\n    " + _dump(row)
    yield "\n  ]"


def company_export(company: Company) -> Iterator[str]:
    """The document, in pieces; joined they are one JSON object with the keys above.

    It is read while the response is sent, after the view (and the admin's unscoped context)
    has returned, so it sets its own scope: this company's rows only (T3)."""
    with scope_only(company=company):
        yield from _document(company)


def _document(company: Company) -> Iterator[str]:
    header = {
        "format": FORMAT,
        "generated_at": timezone.now().isoformat(),
        "company": _row(
            id=company.id,
            name=company.name,
            codat_company_id=company.codat_company_id,
            created_at=company.created_at,
            closed_at=company.closed_at,
        ),
        "codat_sync_state": _sync_state(company),
    }
    yield "{\n"
    for key, value in header.items():
        yield f"  {_dump(key)}: {_dump(value)},\n"
    sections = [
        ("members", _members),
        ("connections", _connections),
        ("link_attempts", _link_attempts),
        ("data_syncs", _data_syncs),
        ("consents", _consents),
        ("consent_events", _consent_events),
        ("consent_texts", _consent_texts),
        ("emails_sent", _emails_sent),
        ("webhook_events", _webhook_events),
        ("codat_deletions", _codat_deletions),
        ("connection_events", _connection_events),
        ("scheduled_deletions", _scheduled_deletions),
        ("deletion_records", _deletion_records),
        ("data_use", _data_use),
    ]
    for index, (key, rows) in enumerate(sections):
        yield f"  {_dump(key)}: "
        yield from _array(rows(company))
        yield ",\n" if index < len(sections) - 1 else "\n"
    yield "}\n"
