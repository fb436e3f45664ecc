"""Retention: the dates the wording sets for deleting data already read, and the schedule.

Data read for a product lives at Codat, in the cache of the connection it came through. Each
wording version says how long that data is kept once the product stops using it
(`ConsentText.retention_days`). A product stops using a connection when its consent ends
(withdrawn) or when the connection itself ends (unlinked), whichever is first. A connection
is kept while any active consent still uses it; otherwise it is deleted at Codat when the
longest period still running for it has passed (docs/promises.md P1).

Everything here is read from consents, wording, evidence and connections, so it can be worked
out again at any time: `retention_schedule_refresh` writes a company's `ScheduledDeletion`
rows from it (for staff, and for `manage.py enforce_retention` to carry out), and the
withdraw page asks it what a withdrawal would mean before the customer decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from codat.types import source_type_of
from companies.models import Company
from connections.models import Connection
from consents.models import (
    Consent,
    ConsentEvent,
    ConsentText,
    DeletionTarget,
    Product,
    ScheduledDeletion,
)

_AGREEING = (ConsentEvent.Action.GRANT, ConsentEvent.Action.RECONFIRM)


@dataclass(frozen=True)
class Hold:
    """One product's promise over one connection's data: kept until `until`."""

    product: Product
    text: ConsentText  # of the versions the customer agreed to, the one keeping data longest
    use_ended_at: datetime
    until: datetime

    def as_json(self) -> dict:
        return {
            "product": self.product.slug,
            "product_name": self.product.name,
            "text_version": self.text.version,
            "retention_days": self.text.retention_days,
            "retention_summary": self.text.retention_summary,
            "use_ended_at": self.use_ended_at.isoformat(),
            "until": self.until.isoformat(),
        }


@dataclass(frozen=True)
class ConnectionFate:
    """What becomes of a connection's data: kept while `used_by` is not empty, else deleted
    at Codat after the latest of its holds. A connection no product ever read from has
    neither, and is left alone."""

    connection: Connection
    used_by: list[Product] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)

    @property
    def delete_after(self) -> datetime | None:
        if self.used_by or not self.holds:
            return None
        return max(hold.until for hold in self.holds)

    @property
    def reason(self) -> str:
        return "; ".join(
            f"{hold.product.name} (wording v{hold.text.version}): "
            f"{hold.text.retention_summary or f'{hold.text.retention_days} days'}, "
            f"from {hold.use_ended_at:%d %B %Y}"
            for hold in sorted(self.holds, key=lambda h: h.until, reverse=True)
        )


@dataclass
class _ConsentHistory:
    consent: Consent
    first_granted_at: datetime
    texts: list[ConsentText]

    @property
    def longest(self) -> ConsentText:
        return max(self.texts, key=lambda text: (text.retention_days, text.version))


def _histories(company: Company) -> list[_ConsentHistory]:
    consents = list(Consent.objects.filter(company=company).select_related("product", "text"))
    events = (
        ConsentEvent.objects.filter(company=company, action__in=_AGREEING, text__isnull=False)
        .select_related("text")
        .order_by("occurred_at")
    )
    first: dict = {}
    texts: dict = {}
    for event in events:
        first.setdefault(event.consent_id, event.occurred_at)
        texts.setdefault(event.consent_id, {})[event.text_id] = event.text
    return [
        _ConsentHistory(
            consent=consent,
            first_granted_at=first.get(consent.pk, consent.granted_at),
            texts=[consent.text, *texts.get(consent.pk, {}).values()],
        )
        for consent in consents
    ]


def _consent_ended_at(consent: Consent) -> datetime | None:
    if consent.is_active:
        return None
    return consent.withdrawn_at or consent.updated_at


def connection_fates(
    company: Company, *, ending: Consent | None = None, now: datetime | None = None
) -> list[ConnectionFate]:
    """The fate of each of the company's connections not yet deleted. With `ending`, as if
    that consent were withdrawn at `now` (what the withdraw page tells the customer)."""
    now = now or timezone.now()
    histories = _histories(company)
    fates = []
    # Attempts never authorised hold nothing read for a product (and are not shown as
    # connections), so they have no fate to tell.
    for connection in Connection.objects.filter(company=company).current().shown_to_customer():
        connection_ended = (
            connection.status_changed_at
            if connection.status == Connection.Status.UNLINKED
            else None
        )
        used_by: list[Product] = []
        holds: list[Hold] = []
        for history in histories:
            consent = history.consent
            kinds = {source_type_of(t) for t in consent.data_types}
            if connection.source_type not in kinds:
                continue
            if connection_ended is not None and history.first_granted_at > connection_ended:
                continue  # granted after the connection ended: never read from it
            consent_ended = (
                now
                if ending is not None and consent.pk == ending.pk
                else _consent_ended_at(consent)
            )
            ends = [end for end in (consent_ended, connection_ended) if end is not None]
            if not ends:
                used_by.append(consent.product)
                continue
            text = history.longest
            use_ended = min(ends)
            holds.append(Hold(consent.product, text, use_ended, use_ended + text.retention))
        fates.append(ConnectionFate(connection=connection, used_by=used_by, holds=holds))
    return fates


def company_delete_after(company: Company) -> datetime | None:
    """When the company itself can go at Codat: once it has no connection left there, no
    active consent and nothing scheduled; None while anything remains."""
    if company.codat_company_id is None:
        return None
    if Connection.objects.filter(company=company).current().exists():
        return None
    consents = list(Consent.objects.filter(company=company))
    if any(consent.is_active for consent in consents):
        return None
    moments = [company.created_at]
    moments += [end for c in consents if (end := _consent_ended_at(c)) is not None]
    moments += [
        deleted
        for deleted in Connection.objects.filter(company=company).values_list(
            "deleted_at", flat=True
        )
        if deleted is not None
    ]
    return max(moments)


@transaction.atomic
def retention_schedule_refresh(*, company: Company) -> list[ScheduledDeletion]:
    """Bring the company's open scheduled deletions in line with its consents and
    connections: add or move what is due, drop what is needed again, and note when
    (`Company.retention_checked_at`). Returns the open rows."""
    Company.objects.select_for_update().get(pk=company.pk)
    company.refresh_from_db(fields=["codat_company_id"])
    Company.objects.filter(pk=company.pk).update(retention_checked_at=timezone.now())
    open_rows = ScheduledDeletion.objects.open().filter(company=company)
    codat_id = company.codat_company_id
    if codat_id is None:
        open_rows.delete()  # nothing at Codat any more to delete
        return []
    by_connection = {row.connection_id: row for row in open_rows if row.connection_id}
    wanted: dict = {}
    for fate in connection_fates(company):
        when = fate.delete_after
        if when is not None:
            wanted[fate.connection.pk] = (when, fate.reason, [h.as_json() for h in fate.holds])
    for connection_id, row in by_connection.items():
        if connection_id not in wanted:
            row.delete()
    for connection_id, (when, reason, holds) in wanted.items():
        row = by_connection.get(connection_id)
        if row is None:
            row = ScheduledDeletion(
                company=company,
                target=DeletionTarget.CONNECTION,
                connection_id=connection_id,
                codat_company_id=codat_id,
            )
        if row._state.adding or (row.delete_after, row.reason, row.holds) != (when, reason, holds):
            row.delete_after, row.reason, row.holds = when, reason, holds
            row.save()
    company_row = next((row for row in open_rows if row.target == DeletionTarget.COMPANY), None)
    company_when = company_delete_after(company)
    if company_when is None:
        if company_row is not None:
            company_row.delete()
    elif company_row is None:
        ScheduledDeletion.objects.create(
            company=company,
            target=DeletionTarget.COMPANY,
            codat_company_id=codat_id,
            delete_after=company_when,
            reason="Nothing is left at Codat for this business: no connection, no consent.",
        )
    return list(ScheduledDeletion.objects.open().filter(company=company))


# A change to a connection or consent made up to this long before a company's schedule was
# last worked out still has it worked out again: the change may have been written (and timed)
# before that check, but committed after it, unseen; and two servers' clocks may differ.
RECHECK_OVERLAP = timedelta(hours=1)


def companies_to_enforce(now: datetime) -> QuerySet[Company]:
    """The companies `enforce_retention` must look at: those whose schedule may be out of date
    (never worked out, or a connection or consent changed since, RECHECK_OVERLAP included),
    those with a deletion due, and those with nothing left to keep at Codat (their company is
    due for deletion at once). Selected in SQL: a company whose schedule is up to date and
    whose dates are still to come is never read, however many there are.

    This is enough because a schedule depends on nothing but the company's consents (each
    saved with its `updated_at`, new decisions included), its connections (each status change
    stamped `status_changed_at`, a new one included) and the wording, which is never changed
    once published: the dates it holds are fixed, and only come due."""
    checked = OuterRef("retention_checked_at")
    connections = Connection.objects.with_scopes_disabled().filter(company=OuterRef("pk"))
    consents = Consent.objects.with_scopes_disabled().filter(company=OuterRef("pk"))
    due = ScheduledDeletion.objects.with_scopes_disabled().due(now).filter(company=OuterRef("pk"))
    return Company.objects.filter(codat_company_id__isnull=False).filter(
        Q(retention_checked_at__isnull=True)
        | Exists(connections.filter(status_changed_at__gte=checked - RECHECK_OVERLAP))
        | Exists(consents.filter(updated_at__gte=checked - RECHECK_OVERLAP))
        | Exists(due)
        | (~Exists(connections.current()) & ~Exists(consents.active()))
    )


def data_held_for(consent: Consent, *, now: datetime | None = None) -> list[ConnectionFate]:
    """The fate of each connection this consent reads from, once it has ended (or, while it
    is still active, as if withdrawn `now`): kept for the products still using it, or deleted
    at Codat on the date the longest running promise sets."""
    kinds = {source_type_of(t) for t in consent.data_types}
    ending = consent if consent.is_active else None
    return [
        fate
        for fate in connection_fates(consent.company, ending=ending, now=now)
        if fate.connection.source_type in kinds
    ]
