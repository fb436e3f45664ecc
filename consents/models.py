"""Use, as opposed to access: what each product may do with a company's data, and the proof.

`Consent` is the current state per company × product; `ConsentEvent` is the append-only
evidence of every change; `ConsentText` is the exact wording a customer agreed to. Evidence and
wording are immutable in the ORM (below) and in the database (triggers, migration 0002).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Cast, Coalesce, Greatest
from django.utils import timezone

from codat.types import source_type_of
from companies.models import Company
from companies.scoping import CompanyScopedManager
from connections.models import Connection, SourceType
from consents import row_insert
from consents.data_types import describe

BANKING_CONSENT_PERIOD = timedelta(days=90)
# The first reminder goes this long before the clock ends.
BANKING_FIRST_REMINDER = timedelta(days=7)
# How long the evidence of a consent is kept once the consent has ended (withdrawn, expired,
# or the account closed): six years, the limitation period for a claim about it, counted from
# the consent's newest event. Only `manage.py purge_evidence` removes evidence, and only past
# this; on PostgreSQL the database enforces the same figure (consents/db.py), written there by
# a migration, so changing it needs a new migration that calls create_triggers() again.
EVIDENCE_KEPT_FOR = timedelta(days=6 * 365 + 2)
# The name under which ConsentQuerySet.with_banking_clock() puts each consent's bank
# authorisation on it, so that a page listing consents asks once, not once per consent.
_BANK_AUTHORISED_AT = "linked_bank_authorised_at"


class ImmutableRecordError(Exception):
    """Raised on any attempt to change or remove an append-only record."""


class ProductQuerySet(models.QuerySet):
    def active(self) -> ProductQuerySet:
        return self.filter(active=True)


class Product(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    purpose = models.TextField(help_text="Why this product reads the data, in plain words.")
    required_source_types = models.JSONField(
        default=list, help_text='Kinds of connection it needs, e.g. ["Accounting", "Banking"].'
    )
    data_types = models.JSONField(default=list, help_text="Codat data type keys it always reads.")
    optional_data_types = models.JSONField(
        default=list,
        blank=True,
        help_text="Codat data type keys it reads only when that kind of connection exists.",
    )
    active = models.BooleanField(default=True)
    display_order = models.PositiveSmallIntegerField(default=0)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["display_order", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def all_data_types(self) -> list[str]:
        extra = [t for t in self.optional_data_types if t not in self.data_types]
        return [*self.data_types, *extra]

    @property
    def optional_source_types(self) -> list[str]:
        seen: list[str] = []
        for key in self.optional_data_types:
            kind = source_type_of(key)
            if kind not in self.required_source_types and kind not in seen:
                seen.append(kind)
        return seen

    @property
    def source_types(self) -> list[str]:
        return [*self.required_source_types, *self.optional_source_types]

    def described_data_types(self):
        return describe(self.data_types)

    def described_optional_data_types(self):
        return describe(self.optional_data_types)


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk changes bypass save(); refuse them too (C2)."""

    def update(self, **kwargs):
        raise ImmutableRecordError(f"{self.model.__name__} rows cannot be updated")

    def delete(self):
        raise ImmutableRecordError(f"{self.model.__name__} rows cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise ImmutableRecordError(f"{self.model.__name__} rows cannot be updated")

    def update_or_create(self, *args, **kwargs):
        raise ImmutableRecordError(f"{self.model.__name__} rows cannot be updated")


class AppendOnlyModel(models.Model):
    """A row is written once. save() on an existing row, and delete(), raise.

    Each subclass declares its own manager over `AppendOnlyQuerySet`, so that bulk changes
    raise too: a tenant-scoped one (ConsentEvent) cannot be a subtype of a plain one here.
    """

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self._refuse_if_written()
        super().save(*args, **kwargs)

    def insert(self) -> None:
        """Write this new row, as save() would, in one prepared INSERT (consents.row_insert)."""
        self._refuse_if_written()
        row_insert.insert_now(self)

    def insert_sent(self) -> row_insert.Done | row_insert.InFlight:
        """Send this new row's INSERT; `wait()` on the result before the response that
        depends on it is returned (consents.row_insert)."""
        self._refuse_if_written()
        return row_insert.insert_sent(self)

    def _refuse_if_written(self) -> None:
        if not self._state.adding:
            raise ImmutableRecordError(f"{type(self).__name__} rows cannot be changed")

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError(f"{type(self).__name__} rows cannot be deleted")


class ConsentText(AppendOnlyModel):
    """One published version of a product's consent wording. Editing publishes a new one."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="texts")
    version = models.PositiveIntegerField()
    body = models.TextField()
    sha256 = models.CharField(max_length=64, editable=False)
    published_at = models.DateTimeField(default=timezone.now)
    # What the wording promises about data already read once the product stops using it
    # (consent ended, or the connection it came through disconnected): kept this many days,
    # then deleted at Codat by `manage.py enforce_retention` (docs/promises.md P1).
    retention_days = models.PositiveIntegerField(
        help_text="Days the data read for this product is kept after its use ends, then deleted."
    )
    retention_summary = models.CharField(
        max_length=200,
        help_text='The same promise in plain words, as the wording puts it, e.g. "for 30 days".',
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["product", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="consenttext_version")
        ]

    def __str__(self) -> str:
        return f"{self.product} v{self.version}"

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)


class ConsentQuerySet(models.QuerySet):
    def active(self) -> ConsentQuerySet:
        return self.filter(state=Consent.State.ACTIVE)

    def for_company(self, company: Company) -> ConsentQuerySet:
        return self.filter(company=company)

    def with_banking_clock(self) -> ConsentQuerySet:
        """Each consent with its company's bank authorisation (see Consent.bank_authorised_at)
        read in the same query."""
        return self.annotate(
            **{
                _BANK_AUTHORISED_AT: models.Subquery(
                    _linked_bank_authorisations(company=models.OuterRef("company")).values(
                        "authorised_at"
                    )[:1]
                )
            }
        )

    def banking_notice_due(self, now: datetime) -> ConsentQuerySet:
        """Active consents of bank data that `send_reminders` has something to do for: a clock
        ending within 7 days or ended, not yet paused this cycle; or a clock restarted (a
        reconnect at the bank) after a pause, while it runs. Selected in SQL, so that consents
        with nothing due are never read, however many there are."""
        own_yes = Coalesce("banking_confirmed_at", "granted_at")
        paused = ConsentReminder.objects.with_scopes_disabled().filter(
            consent=models.OuterRef("pk"), kind=ConsentReminder.Kind.LAPSED
        )
        return (
            self.active()
            .alias(data_types_text=Cast("data_types", models.TextField()))
            .filter(data_types_text__contains='"banking-')
            .with_banking_clock()
            .alias(
                clock_started=Greatest(own_yes, Coalesce(_BANK_AUTHORISED_AT, own_yes)),
            )
            .alias(
                paused_this_cycle=models.Exists(
                    paused.filter(sent_at__gte=models.OuterRef("clock_started"))
                ),
                paused_before=models.Exists(
                    paused.filter(sent_at__lt=models.OuterRef("clock_started"))
                ),
            )
            .filter(
                models.Q(
                    clock_started__lte=now - BANKING_CONSENT_PERIOD + BANKING_FIRST_REMINDER,
                    paused_this_cycle=False,
                )
                | models.Q(clock_started__gt=now - BANKING_CONSENT_PERIOD, paused_before=True)
            )
        )


def _linked_bank_authorisations(*, company) -> models.QuerySet:
    """The company's Linked bank connections, the longest-authorised first."""
    return Connection.objects.filter(
        company=company,
        source_type=SourceType.BANKING,
        status=Connection.Status.LINKED,
        authorised_at__isnull=False,
    ).order_by("authorised_at")


class Consent(models.Model):
    """The current decision for one company × product. History lives in ConsentEvent."""

    class State(models.TextChoices):
        ACTIVE = "active", "Sharing"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="consents")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="consents")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    data_types = models.JSONField(default=list)
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="consents")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # When the customer last said yes to this consent's bank data: the grant, then each
    # "Yes, keep sharing". One of the two starts of the banking clock (banking_expires_at).
    banking_confirmed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CompanyScopedManager.from_queryset(ConsentQuerySet)()

    class Meta:
        ordering = ["product__display_order"]
        constraints = [
            # One decision per company and product: two grants racing make one consent.
            models.UniqueConstraint(fields=["company", "product"], name="consent_per_product")
        ]
        # The admin's list (newest grant first, whole or by state) and its date filters.
        indexes = [
            models.Index(fields=["granted_at"], name="consent_granted_at"),
            models.Index(fields=["state", "granted_at"], name="consent_state_granted"),
            models.Index(fields=["withdrawn_at"], name="consent_withdrawn_at"),
        ]

    def __str__(self) -> str:
        return f"{self.product} for {self.company}: {self.get_state_display()}"

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    @property
    def banking_data_types(self) -> list[str]:
        return [t for t in self.data_types if source_type_of(t) == "Banking"]

    # --- the Open Banking clock ---------------------------------------------------------------
    #
    # Open Banking's 90 days run from the customer's authorisation at the bank, and since 2022
    # UK rules also let us, the third party, reconfirm with the customer instead of sending
    # them back to the bank. So the clock restarts at whichever came last:
    # - the customer's own yes to us: the grant or a "Yes, keep sharing" (banking_confirmed_at);
    # - an authorisation at the bank: linking or reconnecting a bank connection.
    # Bank data flows from every Linked bank connection the company has, so the one authorised
    # longest ago decides: past its 90 days, the bank data is paused (for all of them) until
    # the customer reconfirms or reconnects it. With no bank connection Linked, the customer's
    # own yes alone sets the date.

    @property
    def bank_authorised_at(self) -> datetime | None:
        """When the company's longest-authorised Linked bank connection was last authorised at
        the bank; None when no bank connection is Linked."""
        if _BANK_AUTHORISED_AT not in self.__dict__:
            self.__dict__[_BANK_AUTHORISED_AT] = (
                _linked_bank_authorisations(company=self.company_id)
                .values_list("authorised_at", flat=True)
                .first()
            )
        return self.__dict__[_BANK_AUTHORISED_AT]

    def refresh_from_db(self, *args, **kwargs) -> None:
        # The bank's authorisation may have moved on too (a reconnect): read it again.
        self.__dict__.pop(_BANK_AUTHORISED_AT, None)
        super().refresh_from_db(*args, **kwargs)

    @property
    def banking_clock_started_at(self) -> datetime | None:
        if not self.banking_data_types:
            return None
        starts = [self.banking_confirmed_at or self.granted_at, self.bank_authorised_at]
        return max(start for start in starts if start is not None)

    @property
    def banking_expires_at(self) -> datetime | None:
        started = self.banking_clock_started_at
        return None if started is None else started + BANKING_CONSENT_PERIOD

    def banking_lapsed(self, now=None) -> bool:
        expires = self.banking_expires_at
        return expires is not None and expires <= (now or timezone.now())


class ConsentEvent(AppendOnlyModel):
    """Evidence of one consent decision (C1): who, when, what wording, which data, how."""

    class Action(models.TextChoices):
        GRANT = "grant", "Granted"
        RECONFIRM = "reconfirm", "Reconfirmed"
        WITHDRAW = "withdraw", "Withdrawn"
        EXPIRE = "expire", "Expired"
        STAFF = "staff", "Staff action"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="events")
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="consent_events")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Empty for actions the system took (an expiry).",
    )
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    text = models.ForeignKey(
        ConsentText, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    text_sha256 = models.CharField(max_length=64, blank=True)
    data_types = models.JSONField(default=list)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    method = models.CharField(max_length=20, help_text="web, admin or system")
    surface = models.CharField(max_length=100, blank=True, help_text="The page it came from.")
    details = models.JSONField(default=dict, blank=True)

    # Append-only (C2) and scoped to its company (T3).
    objects = CompanyScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        ordering = ["occurred_at"]
        indexes = [
            models.Index(fields=["company", "occurred_at"], name="consentevent_company"),
            # The admin's action and method filters, in date order: a rare action (a staff
            # withdrawal) is found from the index, not by reading every event for a page of it.
            models.Index(fields=["action", "occurred_at"], name="consentevent_action"),
            models.Index(fields=["method", "occurred_at"], name="consentevent_method"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.product} at {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def reason(self) -> str:
        """Why staff withdrew at the customer's request, as they recorded it; else ""."""
        return self.details.get("reason", "")

    @property
    def label_for_customer(self) -> str:
        """The decision as the customer's history, receipt and emails name it. A withdrawal
        staff made at the customer's request is the bank's, not one staff member's."""
        if self.action == self.Action.STAFF:
            return f"Withdrawn by {settings.BANK_NAME}"
        return self.get_action_display()

    @property
    def label_for_staff(self) -> str:
        if self.action == self.Action.STAFF:
            return "Withdrawn by staff at the customer's request"
        return self.get_action_display()

    @property
    def state_after(self) -> str:
        """The consent's state as this decision left it, whatever it is now (a withdrawal of a
        consent agreed to again since is still a withdrawal)."""
        states: dict[str, str] = {
            self.Action.GRANT: Consent.State.ACTIVE,
            self.Action.RECONFIRM: Consent.State.ACTIVE,
            self.Action.WITHDRAW: Consent.State.WITHDRAWN,
            self.Action.STAFF: Consent.State.WITHDRAWN,
            self.Action.EXPIRE: Consent.State.EXPIRED,
        }
        return states[self.action]

    @property
    def data_held(self) -> list[dict]:
        """What a withdrawal said would happen to each connection's data already held: kept
        for other products, deleted now, or deleted at Codat on `delete_after`."""
        return [
            {
                **entry,
                "delete_after": (
                    datetime.fromisoformat(entry["delete_after"])
                    if entry.get("delete_after")
                    else None
                ),
            }
            for entry in self.details.get("data_held", [])
        ]


class CodatSyncState(models.Model):
    """What Codat's sync settings for a company should be, and whether Codat has them yet.

    A consent decision stands even when Codat is down; this row keeps the update pending and
    retried until Codat confirms it, and staff can see what is outstanding.
    """

    company = models.OneToOneField(
        Company, on_delete=models.PROTECT, related_name="codat_sync_state"
    )
    desired_data_types = models.JSONField(default=list)
    applied_data_types = models.JSONField(default=list)
    pending = models.BooleanField(default=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    objects = CompanyScopedManager()

    class Meta:
        verbose_name = "Codat sync settings state"

    def __str__(self) -> str:
        return f"Codat sync settings for {self.company}: {'pending' if self.pending else 'ok'}"


class ConsentReminderManager(CompanyScopedManager["ConsentReminder"]):
    """A reminder belongs to a company through its consent."""

    lookup = "consent__company"


class ConsentReminder(models.Model):
    """One notice about a consent's banking clock, sent at most once per clock cycle, so that
    `manage.py send_reminders` can run every hour without repeating itself."""

    class Kind(models.TextChoices):
        WEEK = "7d", "7 days before"
        DAY = "1d", "1 day before"
        LAPSED = "lapsed", "Paused"

    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=6, choices=Kind.choices)
    expires_at = models.DateTimeField(help_text="The end of the clock cycle it is about.")
    sent_at = models.DateTimeField(default=timezone.now)

    objects = ConsentReminderManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consent", "kind", "expires_at"], name="consentreminder_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} reminder for {self.consent}"


class EvidencePurge(models.Model):
    """One run of `manage.py purge_evidence`: the record that evidence was removed, and why.

    While a run's row is open (`finished_at` empty, inside its transaction) SQLite's trigger
    lets expired evidence be deleted; PostgreSQL checks its own flag and role (consents/db.py).
    """

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Evidence of consents whose newest event is older than this went.
    cutoff = models.DateTimeField()
    events_deleted = models.PositiveIntegerField(default=0)
    # Which consents' evidence went, by id: no names, nothing else about them.
    consent_ids = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Evidence purge at {self.started_at:%Y-%m-%d %H:%M}: {self.events_deleted} events"


class DeletionTarget(models.TextChoices):
    CONNECTION = "connection", "A connection and its data"
    COMPANY = "company", "The company at Codat"


class ScheduledDeletionQuerySet(models.QuerySet):
    def open(self) -> ScheduledDeletionQuerySet:
        return self.filter(done_at__isnull=True)

    def due(self, now: datetime) -> ScheduledDeletionQuerySet:
        return self.open().filter(delete_after__lte=now)


class ScheduledDeletion(models.Model):
    """A deletion at Codat that a retention promise calls for, and whether it is done.

    Derived, not decided: `consents.retention.retention_schedule_refresh` rewrites a company's
    open rows from its consents, wording and connections, so a re-grant or a reconnect takes
    a row away again. `manage.py enforce_retention` carries out the due ones and keeps a
    failed one open, with its error, for the next run. The evidence is DeletionRecord.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="scheduled_deletions"
    )
    target = models.CharField(max_length=10, choices=DeletionTarget.choices)
    connection = models.ForeignKey(
        Connection, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    codat_company_id = models.UUIDField()
    delete_after = models.DateTimeField(db_index=True)
    reason = models.TextField()
    # The promises that set the date: one entry per product (see retention.Hold.as_json).
    holds = models.JSONField(default=list, blank=True)
    scheduled_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # When the members were told it was done; claimed once (consents.notifications).
    notified_at = models.DateTimeField(null=True, blank=True)

    objects = CompanyScopedManager.from_queryset(ScheduledDeletionQuerySet)()

    class Meta:
        ordering = ["delete_after"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection"],
                condition=models.Q(done_at__isnull=True, connection__isnull=False),
                name="scheduleddeletion_open_per_connection",
            ),
            models.UniqueConstraint(
                fields=["codat_company_id"],
                condition=models.Q(done_at__isnull=True, target="company"),
                name="scheduleddeletion_open_per_codat_company",
            ),
        ]

    def __str__(self) -> str:
        what = self.connection.platform_name if self.connection else "Codat company"
        return f"{what} for {self.company}, after {self.delete_after:%Y-%m-%d %H:%M}"


class DeletionRecord(AppendOnlyModel):
    """Evidence that data was deleted at Codat: what, when, and why (append-only, like
    ConsentEvent)."""

    class Cause(models.TextChoices):
        RETENTION = "retention", "Retention period ended"
        CUSTOMER = "customer", "The customer's own choice"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    target = models.CharField(max_length=10, choices=DeletionTarget.choices)
    connection = models.ForeignKey(
        Connection, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    codat_company_id = models.UUIDField()
    codat_connection_id = models.UUIDField(null=True, blank=True)
    platform_name = models.CharField(max_length=100, blank=True)
    cause = models.CharField(max_length=10, choices=Cause.choices)
    deleted_at = models.DateTimeField(default=timezone.now, db_index=True)
    promised_by = models.DateTimeField(
        null=True, blank=True, help_text="The date the promises set; empty for the customer's own."
    )
    reason = models.TextField()
    holds = models.JSONField(default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    objects = CompanyScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        ordering = ["deleted_at"]

    def __str__(self) -> str:
        what = self.platform_name or "Codat company"
        return f"{what} deleted at Codat {self.deleted_at:%Y-%m-%d %H:%M}"


class DataUse(AppendOnlyModel):
    """One use of a company's data for one product (P3): what was read, why, by whom, and what
    the consent gate refused. Written by the gated read path (consents.data_use), never edited.

    `codat_calls` is how many requests went to Codat; 0 means the read was served from the copy
    we keep of what Codat last handed over (consents.data_use, cached_read).
    """

    class Reader(models.TextChoices):
        CUSTOMER = "customer", "You or a colleague, on the dashboard"
        STAFF = "staff", "Our staff"
        SYSTEM = "system", "A scheduled job"

    class Outcome(models.TextChoices):
        READ = "read", "Read"
        PARTLY_REFUSED = "partly_refused", "Read in part; the rest refused"
        REFUSED = "refused", "Refused: no live consent covers it"
        UNAVAILABLE = "unavailable", "Nothing to read yet"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="data_uses")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    purpose = models.CharField(max_length=200)
    reader_kind = models.CharField(max_length=10, choices=Reader.choices)
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    # The reader's name as it was at the time: staff are named in the log for good.
    reader_name = models.CharField(max_length=150, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    data_types = models.JSONField(default=list, help_text="Read, from Codat or our copy.")
    refused_data_types = models.JSONField(default=list, blank=True)
    unavailable_data_types = models.JSONField(default=list, blank=True)
    codat_calls = models.PositiveIntegerField(default=0)

    # Append-only like the consent evidence, and scoped to its company (T3).
    objects = CompanyScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["company", "product", "occurred_at"], name="datause_company"),
            # Every product's uses together, newest first: the company page and the export.
            models.Index(fields=["company", "occurred_at"], name="datause_company_occurred"),
        ]

    def __str__(self) -> str:
        outcome = self.get_outcome_display().lower()
        return f"{self.product} {outcome} at {self.occurred_at:%Y-%m-%d %H:%M}"

    def described_data_types(self):
        return describe(self.data_types)

    def described_refused_data_types(self):
        return describe(self.refused_data_types)
