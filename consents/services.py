"""Consent decisions and what follows from them.

Every decision is written together with its evidence in one transaction (C4): if the evidence
cannot be written, nothing changes. What Codat must do as a result (sync settings, refreshes,
unlinking) happens after the commit and never undoes the decision when Codat is down.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from codat.client import CodatClient
from codat.errors import CodatError, CodatRejected, CodatUnavailable
from codat.types import DATA_TYPES, SyncSetting, source_type_of
from companies import page_cache
from companies.batching import in_batches
from companies.codat_client import get_client
from companies.models import Company
from companies.requests import client_ip
from companies.selectors import member_emails
from companies.services import codat_company_delete_and_forget
from connections.models import Connection, Integration
from connections.services import (
    LinkStart,
    codat_company_ensure,
    connection_delete_at_codat,
    connection_disconnect,
    connection_mark_deleted,
    connection_start,
    connection_unlink,
)
from consents import retention, selectors
from consents.data_types import describe
from consents.data_use import cached_reads_forget
from consents.db import expired_evidence_delete
from consents.models import (
    BANKING_CONSENT_PERIOD,
    EVIDENCE_KEPT_FOR,
    CodatSyncState,
    Consent,
    ConsentEvent,
    ConsentReminder,
    ConsentText,
    DeletionRecord,
    DeletionTarget,
    EvidencePurge,
    Product,
    ScheduledDeletion,
)

logger = logging.getLogger("consents")
audit_log = logging.getLogger("consent_portal.security")

# Codat refreshes each consented data type this often (hours) once it has been fetched.
SYNC_SCHEDULE_HOURS = 24
# Waits between retries of a sync-settings update Codat refused or never answered.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)


class TextChanged(Exception):
    """The wording changed between showing it and the customer agreeing; show it again."""


class ProductUnavailable(Exception):
    pass


class AlreadyWithdrawn(Exception):
    pass


class ReasonRequired(ValueError):
    """Staff withdrawing for a customer must say why: the customer is shown the reason."""


@dataclass(frozen=True)
class RequestMeta:
    """How a decision was made, for the evidence (C1)."""

    surface: str
    method: str = "web"
    ip_address: str | None = None
    user_agent: str = ""
    request_id: str = ""

    def as_staff(self) -> RequestMeta:
        return dataclasses.replace(self, method="admin")

    @classmethod
    def from_request(cls, request: HttpRequest, *, surface: str) -> RequestMeta:
        return cls(
            surface=surface,
            ip_address=client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:500],
            request_id=request.headers.get("x-request-id", "")[:100] or uuid.uuid4().hex,
        )


def text_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


class RetentionMissing(ValueError):
    """A product's first wording must say how long its data is kept."""


@transaction.atomic
def consent_text_publish(
    *,
    product: Product,
    body: str,
    retention_days: int | None = None,
    retention_summary: str = "",
) -> ConsentText:
    """A new version of a product's wording. Published versions are never edited (C3).

    Without a retention period the new version keeps the one the previous version promised;
    a product's first version must state its own."""
    latest = ConsentText.objects.select_for_update().filter(product=product).order_by("-version")
    previous = latest.first()
    if retention_days is None:
        if previous is None:
            raise RetentionMissing(product.slug)
        retention_days = previous.retention_days
        retention_summary = retention_summary or previous.retention_summary
    version = (previous.version if previous else 0) + 1
    text = ConsentText(
        product=product,
        version=version,
        body=body,
        sha256=text_hash(body),
        retention_days=retention_days,
        retention_summary=retention_summary,
    )
    text.full_clean()
    text.save()
    page_cache.catalogue_changed()  # every page that names the wording or its retention
    return text


def _record(
    *,
    consent: Consent,
    action: str,
    actor: User | None,
    meta: RequestMeta,
    text: ConsentText | None,
    details: dict | None = None,
) -> ConsentEvent:
    event = ConsentEvent(
        consent=consent,
        company=consent.company,
        product=consent.product,
        action=action,
        actor=actor,
        occurred_at=timezone.now(),
        text=text,
        text_sha256=text.sha256 if text else "",
        data_types=list(consent.data_types),
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        request_id=meta.request_id,
        method=meta.method,
        surface=meta.surface,
        details=details or {},
    )
    event.full_clean()
    event.save()
    # Every change to a consent is recorded here: the company's pages show it from now on.
    page_cache.facts_changed(consent.company_id)
    audit_log.info(
        "Consent %s: company=%s product=%s actor=%s event=%s",
        action,
        consent.company_id,
        consent.product.slug,
        getattr(actor, "pk", None),
        event.id,
    )
    return event


@transaction.atomic
def evidence_purge(*, now=None) -> EvidencePurge:
    """Remove the evidence of every consent that ended more than EVIDENCE_KEPT_FOR ago (its
    newest event older than that, the consent no longer active), and record the run. The only
    code that deletes evidence; the database lets nothing else do it (consents/db.py).

    A consent's evidence goes whole or not at all, so what is kept always tells its full story.
    On PostgreSQL the database's clock decides which rows have expired, not ours.
    """
    now = now or timezone.now()
    run = EvidencePurge.objects.create(started_at=now, cutoff=now - EVIDENCE_KEPT_FOR)
    cutoff = db_connection.ops.adapt_datetimefield_value(run.cutoff)
    consent_ids = [
        str(uuid.UUID(str(i))) for i in expired_evidence_delete(db_connection, cutoff=cutoff)
    ]
    run.events_deleted = len(consent_ids)
    run.consent_ids = sorted(set(consent_ids))
    for company_id in set(
        Consent.objects.with_scopes_disabled()
        .filter(pk__in=run.consent_ids)
        .values_list("company_id", flat=True)
    ):
        page_cache.facts_changed(company_id)  # their histories are shorter now
    run.finished_at = timezone.now()
    run.save(update_fields=["events_deleted", "consent_ids", "finished_at"])
    audit_log.info(
        "Evidence purged: %s events of %s consents ended before %s",
        run.events_deleted,
        len(run.consent_ids),
        run.cutoff.isoformat(),
    )
    return run


@transaction.atomic
def consent_grant(
    *,
    company: Company,
    product: Product,
    actor: User,
    text_shown: ConsentText,
    meta: RequestMeta,
) -> tuple[Consent, ConsentEvent | None]:
    """Record that `actor` agreed, for `company`, to `product` using its data types.

    Returns the consent and the new event; the event is None when the consent was already
    active (a double submit records nothing twice).
    """
    # One decision at a time per business: racing grants queue here, and the second finds
    # the first one's consent (backed by the unique constraint on company × product).
    Company.objects.select_for_update().get(pk=company.pk)
    if not product.active:
        raise ProductUnavailable(product.slug)
    latest = selectors.current_text(product)
    if latest is None or text_shown.pk != latest.pk:
        raise TextChanged(product.slug)

    consent = Consent.objects.filter(company=company, product=product).first()
    if consent is not None and consent.is_active:
        return consent, None
    now = timezone.now()
    if consent is None:
        consent = Consent(company=company, product=product)
    consent.state = Consent.State.ACTIVE
    consent.data_types = product.all_data_types
    consent.text = latest
    consent.granted_by = actor
    consent.granted_at = now
    consent.banking_confirmed_at = now
    consent.withdrawn_at = None
    consent.withdrawn_by = None
    consent.full_clean()
    consent.save()
    event = _record(
        consent=consent, action=ConsentEvent.Action.GRANT, actor=actor, meta=meta, text=latest
    )
    codat_sync_settings_changed(company=company)
    retention.retention_schedule_refresh(company=company)
    transaction.on_commit(lambda: send_receipt(event=event))
    return consent, event


@dataclass
class WithdrawResult:
    consent: Consent
    event: ConsentEvent
    disconnected: list[Connection] = field(default_factory=list)
    failed: list[Connection] = field(default_factory=list)


WITHDRAW_ONLY = "withdraw"
WITHDRAW_AND_DISCONNECT = "disconnect"
WITHDRAW_AND_DELETE = "delete"


def consent_withdraw(
    *,
    consent: Consent,
    actor: User,
    meta: RequestMeta,
    choice: str = WITHDRAW_ONLY,
    on_behalf: bool = False,
    reason: str = "",
    receipt: bool = True,
) -> WithdrawResult:
    """Withdraw at once (C5). With `disconnect`, connections no other product needs are
    unlinked at Codat (access revoked, cached data kept); with `delete`, they are deleted
    (access and cached data gone). `on_behalf`: staff acting at the customer's request,
    recorded as a staff action with the `reason` they give, which the customer is shown.
    `receipt=False` when the caller tells the customer itself (closing an account sends one
    confirmation for everything)."""
    reason = reason.strip()
    if on_behalf and not reason:
        raise ReasonRequired(consent.product.slug)
    with transaction.atomic():
        Company.objects.select_for_update().get(pk=consent.company_id)
        consent = Consent.objects.select_related("company", "product").get(pk=consent.pk)
        if not consent.is_active:
            raise AlreadyWithdrawn(consent.product.slug)
        impact = selectors.withdraw_impact(consent.company, consent.product)
        targets = impact.orphaned_connections if choice != WITHDRAW_ONLY else []
        consent.state = Consent.State.WITHDRAWN
        consent.withdrawn_at = timezone.now()
        consent.withdrawn_by = actor
        consent.save()
        deleting_now = {c.pk for c in targets} if choice == WITHDRAW_AND_DELETE else set()
        data_held = [
            {
                "connection": str(fate.connection.pk),
                "platform": fate.connection.platform_name,
                "kept_for": [product.name for product in fate.used_by],
                "deleted_now": fate.connection.pk in deleting_now,
                "delete_after": (
                    None
                    if fate.connection.pk in deleting_now or fate.delete_after is None
                    else fate.delete_after.isoformat()
                ),
            }
            for fate in retention.data_held_for(consent)
        ]
        event = _record(
            consent=consent,
            action=ConsentEvent.Action.STAFF if on_behalf else ConsentEvent.Action.WITHDRAW,
            actor=actor,
            meta=meta,
            text=consent.text,
            details={
                "effect": "withdraw",
                "choice": choice,
                "stopped_data_types": [t.key for t in impact.stop_reading],
                "connections": [str(c.id) for c in targets],
                "data_held": data_held,
                **({"reason": reason} if on_behalf else {}),
            },
        )
        codat_sync_settings_changed(company=consent.company)
        retention.retention_schedule_refresh(company=consent.company)
        if receipt:
            transaction.on_commit(lambda: send_receipt(event=event))
        # The copies of read data may no longer be used (P3); the gate refuses them anyway.
        transaction.on_commit(lambda: cached_reads_forget(company=consent.company))

    result = WithdrawResult(consent=consent, event=event)
    if targets:
        _disconnect_after_withdrawal(
            result, targets, actor=actor, delete=choice == WITHDRAW_AND_DELETE
        )
        retention.retention_schedule_refresh(company=consent.company)
    return result


def _disconnect_after_withdrawal(
    result: WithdrawResult, targets: list[Connection], *, actor, delete: bool
) -> None:
    for connection in targets:
        try:
            if delete:
                connection_disconnect(connection=connection, actor=actor)
                _deletion_record(
                    company=connection.company,
                    connection=connection,
                    codat_company_id=connection.company.codat_company_id,
                    cause=DeletionRecord.Cause.CUSTOMER,
                    reason=f"You chose to delete it when withdrawing from "
                    f"{result.consent.product.name}.",
                    actor=actor,
                )
            elif connection.status == Connection.Status.LINKED:
                connection_unlink(connection=connection, actor=actor)
            else:
                continue  # nothing authorised to revoke
        except CodatError as exc:
            logger.warning("After withdrawal, %s could not be disconnected: %s", connection, exc)
            result.failed.append(connection)
        else:
            result.disconnected.append(connection)


def send_receipt(*, event: ConsentEvent) -> None:
    """Email the customer a receipt of their decision. Best effort: the record is the proof.

    A staff action is receipted to the customer who had granted the consent, not to staff."""
    customer = event.consent.granted_by if event.action == event.Action.STAFF else event.actor
    if customer is None or not customer.email:
        return
    context = {
        "event": event,
        "customer": customer,
        "data_types": describe(event.data_types),
        "site_url": settings.SITE_URL,
    }
    label = event.label_for_customer
    # Only the first letter lowered: "withdrawn by Example Bank" keeps the bank's capitals.
    subject = f"Your consent receipt: {event.product.name} {label[:1].lower()}{label[1:]}"
    try:
        send_mail(
            subject,
            render_to_string("consents/email/receipt.txt", context),
            None,
            [customer.email],
        )
    except Exception:
        logger.exception("Could not send the consent receipt for event %s", event.id)


# --- keeping Codat's sync settings to exactly what is consented -----------------------------


def codat_sync_settings_changed(*, company: Company) -> CodatSyncState:
    """Within a decision's transaction: record what Codat should now have, and apply it after
    the commit. The decision stands whatever Codat does next."""
    state, _ = CodatSyncState.objects.select_for_update().get_or_create(company=company)
    state.desired_data_types = sorted(selectors.allowed_data_types(company))
    state.pending = True
    state.next_attempt_at = timezone.now()
    state.save()
    transaction.on_commit(lambda: enqueue_sync_settings(company_id=company.pk))
    return state


def enqueue_sync_settings(*, company_id, run_after=None) -> None:
    # Imported here rather than at the top: the task module imports this one to run the
    # service, so importing it back at load time would be a cycle.
    from consents.tasks import apply_codat_sync_settings

    task = apply_codat_sync_settings
    if run_after is not None:
        if not task.get_backend().supports_defer:
            return  # `manage.py consents_retry_sync` (cron) picks it up when due
        task = task.using(run_after=run_after)
    task.enqueue(str(company_id))


def codat_client(*, budget: float | None = None) -> CodatClient:
    """A Codat client whose data-type calls pass the consent gate (the only one: design, and
    docs/architecture.md). Clients made without it refuse every data-type call."""
    return get_client(budget=budget, data_type_gate=selectors.allowed_data_types_for_codat_company)


def connection_start_consented(
    *, company: Company, user: User, integration: Integration
) -> LinkStart:
    """Begin linking `integration`, having first told Codat to fetch only what is consented.

    Codat fetches on first link whatever the company's sync settings say, so they must say
    exactly what is consented before the customer authorises anything (possibly nothing)."""
    with codat_client() as client:
        codat_company_ensure(company=company, client=client)
        _sync_settings_before_linking(company=company, client=client)
        return connection_start(company=company, user=user, integration=integration, client=client)


def _sync_settings_before_linking(*, company: Company, client: CodatClient) -> None:
    state = CodatSyncState.objects.filter(company=company).first()
    if state is not None and not state.pending:
        return
    if not codat_sync_settings_apply(company=company, client=client):
        state = CodatSyncState.objects.get(company=company)
        raise CodatUnavailable(f"Sync settings not applied: {state.last_error}")


class SyncSettingsNotApplied(Exception):
    """Codat answered, but reading its settings back shows something other than we sent."""


def codat_sync_settings_for(consented: list[str]) -> list[SyncSetting]:
    """A company's sync settings naming every Codat data type: the consented ones fetched on
    first link and refreshed, every other one switched off. A type left out would follow the
    client-wide settings, which on Codat fetch everything by default (docs/codat.md §6.2)."""
    return [
        SyncSetting(
            data_type=data_type,
            fetch_on_first_link=True,
            sync_schedule=SYNC_SCHEDULE_HOURS,
            sync_order=order,
        )
        for order, data_type in enumerate(consented)
    ] + [
        SyncSetting(data_type=data_type, fetch_on_first_link=False, sync_schedule=0, sync_order=0)
        for data_type in DATA_TYPES
        if data_type not in consented
    ]


def _confirm_sync_settings(sent: list[SyncSetting], read_back: list[SyncSetting]) -> None:
    """Raise unless Codat now fetches, by itself, exactly what was sent: every type named with
    the same first-link and schedule, and no other type switched on."""
    found = {setting.data_type: setting for setting in read_back}
    for setting in sent:
        have = found.pop(setting.data_type, None)
        if have is None or (have.fetch_on_first_link, have.sync_schedule) != (
            setting.fetch_on_first_link,
            setting.sync_schedule,
        ):
            raise SyncSettingsNotApplied(
                f"Codat's settings for {setting.data_type} read back as "
                f"{'missing' if have is None else _describe(have)}, not {_describe(setting)}"
            )
    unknown_on = sorted(
        t for t, have in found.items() if have.fetch_on_first_link or have.sync_schedule
    )
    if unknown_on:
        raise SyncSettingsNotApplied(
            f"Codat fetches data types we do not know of: {', '.join(unknown_on)}"
        )


def _describe(setting: SyncSetting) -> str:
    return (
        f"fetchOnFirstLink={str(setting.fetch_on_first_link).lower()} "
        f"syncSchedule={setting.sync_schedule}"
    )


def codat_sync_settings_apply(*, company: Company, client: CodatClient | None = None) -> bool:
    """Set the company's Codat sync settings to fetch exactly the consented data types (every
    other type named and switched off), read them back, and queue a refresh of the newly
    consented ones. True when Codat has them; False leaves it pending with a retry scheduled
    (also when Codat accepted settings that read back differently)."""
    if client is None:
        with codat_client() as own_client:
            return codat_sync_settings_apply(company=company, client=own_client)
    state, _ = CodatSyncState.objects.get_or_create(company=company)
    if not company.codat_company_id:
        return False  # applied as soon as the Codat company exists (connection_start_consented)
    if company.is_closed:
        # The whole Codat company is being deleted (connections.CodatCompanyDeletion): there is
        # nothing left to fetch, and nothing to retry here.
        CodatSyncState.objects.filter(pk=state.pk).update(
            pending=False, next_attempt_at=None, last_error="account closed"
        )
        return True
    desired = sorted(selectors.allowed_data_types(company))
    codat_id = str(company.codat_company_id)
    linked_kinds = selectors.linked_source_types(company)
    newly_consented = [
        t
        for t in desired
        if t not in state.applied_data_types and source_type_of(t) in linked_kinds
    ]
    now = timezone.now()
    wanted = codat_sync_settings_for(desired)
    try:
        client.set_sync_settings(codat_id, wanted)
        _confirm_sync_settings(wanted, client.get_sync_settings(codat_id))
        for data_type in newly_consented:
            try:
                client.queue_data_type(codat_id, data_type)
            except CodatRejected as exc:
                # Typically "already in progress": Codat is fetching it anyway.
                logger.info("Codat did not queue %s for %s: %s", data_type, codat_id, exc)
    except (CodatError, SyncSettingsNotApplied) as exc:
        delay = RETRY_DELAYS[min(state.attempts, len(RETRY_DELAYS) - 1)]
        CodatSyncState.objects.filter(pk=state.pk).update(
            pending=True,
            attempts=state.attempts + 1,
            last_error=f"{type(exc).__name__}: {exc}"[:1000],
            last_attempt_at=now,
            next_attempt_at=now + delay,
        )
        logger.warning(
            "Codat sync settings for company %s not applied (attempt %s): %s",
            company.pk,
            state.attempts + 1,
            exc,
        )
        enqueue_sync_settings(company_id=company.pk, run_after=now + delay)
        return False
    # A decision made while we were talking to Codat leaves the state pending for its own run.
    still_current = sorted(selectors.allowed_data_types(company)) == desired
    CodatSyncState.objects.filter(pk=state.pk).update(
        desired_data_types=desired,
        applied_data_types=desired,
        pending=not still_current,
        attempts=0,
        last_error="",
        last_attempt_at=now,
        next_attempt_at=None if still_current else now,
        applied_at=now,
    )
    return True


def codat_sync_settings_retry_due(*, now=None) -> tuple[int, int]:
    """Apply every pending update whose retry is due. Returns (applied, still pending)."""
    now = now or timezone.now()
    due = CodatSyncState.objects.filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True),
        pending=True,
        company__codat_company_id__isnull=False,
    )
    applied = failed = 0
    for state in in_batches(due.select_related("company")):
        if codat_sync_settings_apply(company=state.company):
            applied += 1
        else:
            failed += 1
    return applied, failed


# --- the 90-day Open Banking clock ------------------------------------------------------------


class NothingToReconfirm(Exception):
    pass


@transaction.atomic
def consent_reconfirm(*, consent: Consent, actor: User, meta: RequestMeta) -> ConsentEvent:
    """ "Yes, keep sharing": restart the banking clock without a bank login (a new event)."""
    Company.objects.select_for_update().get(pk=consent.company_id)
    consent = Consent.objects.select_related("company", "product", "text").get(pk=consent.pk)
    if not consent.is_active or not consent.banking_data_types:
        raise NothingToReconfirm(consent.product.slug)
    was_lapsed = consent.banking_lapsed()
    consent.banking_confirmed_at = timezone.now()
    consent.save(update_fields=["banking_confirmed_at", "updated_at"])
    event = _record(
        consent=consent,
        action=ConsentEvent.Action.RECONFIRM,
        actor=actor,
        meta=meta,
        text=consent.text,
        details={"scope": "banking", "resumed": was_lapsed},
    )
    if was_lapsed:
        codat_sync_settings_changed(company=consent.company)
    transaction.on_commit(lambda: send_receipt(event=event))
    return event


def banking_reminders_send(*, now=None) -> dict[str, int]:
    """Remind 7 days and 1 day before a banking clock ends; when it ends, pause the bank's data
    (record an expiry, tell Codat) and say so. Each notice goes once per clock cycle, so this is
    safe to run every hour. A clock restarted by a reconnect at the bank resumes the bank's
    data at Codat here too, since no consent decision did."""
    now = now or timezone.now()
    sent = {kind: 0 for kind in ConsentReminder.Kind.values}
    resume: dict[object, Company] = {}
    consents = (
        Consent.objects.banking_notice_due(now)
        .select_related("company", "product", "text")
        .prefetch_related("reminders")
    )
    for consent in in_batches(consents):
        started = consent.banking_clock_started_at
        if started is None:
            continue
        expires = started + BANKING_CONSENT_PERIOD
        reminders = list(consent.reminders.all())
        paused_before = any(
            r.kind == ConsentReminder.Kind.LAPSED and r.sent_at < started for r in reminders
        )
        if expires > now and paused_before:
            resume[consent.company_id] = consent.company
        if expires - now > timedelta(days=7):
            continue
        if expires <= now:
            kind = ConsentReminder.Kind.LAPSED
        elif expires - now <= timedelta(days=1):
            kind = ConsentReminder.Kind.DAY
        else:
            kind = ConsentReminder.Kind.WEEK
        # Once per cycle, even if its end moved within the cycle: a bank connection that
        # expires at the bank hands the clock to the next one, or back to the consent's own
        # date, which must not pause (or remind) a second time.
        if any(r.kind == kind and r.sent_at >= started for r in reminders):
            continue
        with transaction.atomic():
            _, created = ConsentReminder.objects.get_or_create(
                consent=consent, kind=kind, expires_at=expires, defaults={"sent_at": now}
            )
            if not created:
                continue
            if kind == ConsentReminder.Kind.LAPSED:
                _record(
                    consent=consent,
                    action=ConsentEvent.Action.EXPIRE,
                    actor=None,
                    meta=RequestMeta(surface="send_reminders", method="system"),
                    text=consent.text,
                    details={
                        "scope": "banking",
                        "paused_data_types": consent.banking_data_types,
                        "expired_at": expires.isoformat(),
                    },
                )
                codat_sync_settings_changed(company=consent.company)
            notice = BankingNotice(
                consent=consent,
                kind=kind,
                expires_at=expires,
                recipients=member_emails(consent.company),
            )
            transaction.on_commit(notice.send)
        sent[kind] += 1
    sent["resumed"] = sum(_banking_resume(company=company) for company in resume.values())
    return sent


def _banking_resume(*, company: Company) -> bool:
    """Tell Codat to fetch bank data again that a lapsed clock paused and a reconnect at the
    bank has since restarted (a "Yes, keep sharing" does this itself). True if it had to."""
    state = CodatSyncState.objects.filter(company=company).first()
    if state is None or not set(selectors.allowed_data_types(company)) - set(
        state.desired_data_types
    ):
        return False
    with transaction.atomic():
        codat_sync_settings_changed(company=company)
    logger.info("Bank data resumed at Codat for company %s after a reconnect", company.pk)
    return True


@dataclass(frozen=True)
class BankingNotice:
    consent: Consent
    kind: str
    expires_at: object
    recipients: list[str]

    def send(self) -> None:
        if not self.recipients:
            return
        product = self.consent.product
        subject = (
            f"{product.name} has paused using your bank data"
            if self.kind == ConsentReminder.Kind.LAPSED
            else f"Keep sharing your bank data with {product.name}?"
        )
        context = {
            "consent": self.consent,
            "kind": self.kind,
            "expires_at": self.expires_at,
            "keep_sharing_url": f"{settings.SITE_URL}/products/{product.slug}/keep-sharing/",
        }
        try:
            send_mail(
                subject,
                render_to_string("consents/email/banking_reminder.txt", context),
                None,
                self.recipients,
            )
        except Exception:
            logger.exception("Could not send the banking notice for consent %s", self.consent.pk)


# --- retention: deleting at Codat what the wording says we no longer keep ---------------------


@dataclass
class RetentionRun:
    deleted: list[DeletionRecord] = field(default_factory=list)
    failed: list[ScheduledDeletion] = field(default_factory=list)


def retention_enforce(*, now=None) -> RetentionRun:
    """Carry out every scheduled deletion whose date has come (docs/promises.md P1).

    The schedule of each company that changed since it was last worked out, or has something
    due, is worked out afresh first (retention.companies_to_enforce), so a consent granted
    again or a connection linked again since is never deleted, and a connection that ended
    at the provider (a webhook, not a decision here) gets its date. A deletion is recorded in
    the same transaction that marks it done; if Codat fails, the row stays open with its error
    and the next run tries again. A second run finds nothing due: safe for cron."""
    now = now or timezone.now()
    run = RetentionRun()
    # Only a company with a Codat company has anything there to delete; of those, only the
    # ones that changed since their schedule was worked out, or have something due.
    companies = retention.companies_to_enforce(now)
    with codat_client() as client:
        for company in in_batches(companies):
            retention.retention_schedule_refresh(company=company)
            for target in (DeletionTarget.CONNECTION, DeletionTarget.COMPANY):
                due = ScheduledDeletion.objects.due(now).filter(company=company, target=target)
                due_ids = list(due.values_list("pk", flat=True))
                for row_id in due_ids:
                    _scheduled_deletion_carry_out(row_id=row_id, client=client, now=now, run=run)
                if target == DeletionTarget.CONNECTION and due_ids:
                    # With its connections gone the company itself may be due now.
                    retention.retention_schedule_refresh(company=company)
    return run


def _scheduled_deletion_carry_out(*, row_id, client: CodatClient, now, run: RetentionRun) -> None:
    # The row stays locked while Codat is asked, so two runs at once delete (and record) once.
    with transaction.atomic():
        row = (
            ScheduledDeletion.objects.select_for_update(of=("self",))
            .select_related("company", "connection", "connection__company")
            .filter(pk=row_id, done_at__isnull=True)
            .first()
        )
        if row is None:
            return
        try:
            if row.target == DeletionTarget.CONNECTION:
                assert row.connection is not None
                connection_delete_at_codat(connection=row.connection, client=client)
                connection_mark_deleted(row.connection)
            else:
                left = client.list_all_connections(str(row.codat_company_id))
                if left:
                    raise CodatRejected(f"Codat still holds {len(left)} connection(s)")
                codat_company_delete_and_forget(company=row.company, client=client)
                # A later Codat company starts from nothing: its settings are sent afresh.
                CodatSyncState.objects.filter(company=row.company).update(
                    pending=True, applied_data_types=[], next_attempt_at=None
                )
        except CodatError as exc:
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            row.last_attempt_at = now
            row.save(update_fields=["attempts", "last_error", "last_attempt_at"])
            logger.warning(
                "Scheduled deletion %s not done (attempt %s): %s", row.pk, row.attempts, exc
            )
            run.failed.append(row)
            return
        row.done_at = now
        row.last_attempt_at = now
        row.attempts += 1
        row.last_error = ""
        row.save(update_fields=["done_at", "last_attempt_at", "attempts", "last_error"])
        run.deleted.append(
            _deletion_record(
                company=row.company,
                connection=row.connection,
                codat_company_id=row.codat_company_id,
                cause=DeletionRecord.Cause.RETENTION,
                promised_by=row.delete_after,
                reason=row.reason,
                holds=row.holds,
            )
        )


def _deletion_record(*, company, connection, codat_company_id, cause, reason, **extra):
    record = DeletionRecord(
        company=company,
        target=DeletionTarget.CONNECTION if connection else DeletionTarget.COMPANY,
        connection=connection,
        codat_company_id=codat_company_id,
        codat_connection_id=connection.codat_connection_id if connection else None,
        platform_name=connection.platform_name if connection else "",
        cause=cause,
        deleted_at=timezone.now(),
        reason=reason,
        **extra,
    )
    record.full_clean()
    record.save()
    page_cache.facts_changed(company)  # "Data deleted at Codat" on My consents
    audit_log.info(
        "Deleted at Codat: company=%s connection=%s cause=%s record=%s",
        company.pk,
        getattr(connection, "pk", None),
        cause,
        record.pk,
    )
    return record


def connection_disconnect_recorded(
    *, connection: Connection, actor: User, reason: str = "You disconnected it."
) -> DeletionRecord:
    """The customer disconnects (or staff, at their request): the connection and its data go
    at Codat now, by the customer's own choice, recorded as evidence and receipted to the
    business's members; the schedule forgets the connection."""
    connection_disconnect(connection=connection, actor=actor)
    company = connection.company
    with transaction.atomic():
        record = _deletion_record(
            company=company,
            connection=connection,
            codat_company_id=company.codat_company_id,
            cause=DeletionRecord.Cause.CUSTOMER,
            reason=reason,
            actor=actor,
        )
        retention.retention_schedule_refresh(company=company)
    recipients = member_emails(company)
    transaction.on_commit(lambda: deletion_receipt_send(record=record, recipients=recipients))
    return record


def deletion_receipt_send(*, record: DeletionRecord, recipients: list[str]) -> None:
    """Tell the customer what was deleted at Codat, when and why. Best effort: the record is
    the proof."""
    deletion_mail_send(
        what=record.platform_name,
        deleted_at=record.deleted_at,
        reason=record.reason,
        by_customer=record.cause == DeletionRecord.Cause.CUSTOMER,
        recipients=recipients,
    )


def deletion_mail_send(
    *, what: str, deleted_at, reason: str, by_customer: bool, recipients: list[str]
) -> None:
    recipients = [r for r in recipients if r]
    if not recipients:
        return
    context = {
        "what": what,
        "deleted_at": deleted_at,
        "reason": reason,
        "by_customer": by_customer,
        "site_url": settings.SITE_URL,
    }
    try:
        send_mail(
            f"{what or 'Your business'}: data deleted at Codat",
            render_to_string("consents/email/data_deleted.txt", context),
            None,
            recipients,
        )
    except Exception:
        logger.exception("Could not send the deletion notice about %s", what or "a company")
