from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, models, router
from django.utils import timezone

from companies.models import Company
from companies.scoping import CompanyScopedManager


class SourceType(models.TextChoices):
    ACCOUNTING = "Accounting", "Accounting"
    BANKING = "Banking", "Banking"
    COMMERCE = "Commerce", "Commerce"
    BANK_FEED = "BankFeed", "Bank feeds"
    EXPENSE = "Expense", "Expenses"
    OTHER = "Other", "Other"
    UNKNOWN = "Unknown", "Unknown"


# The order the picker shows its groups in.
PICKER_SOURCE_TYPES = (SourceType.ACCOUNTING, SourceType.BANKING, SourceType.COMMERCE)


class Integration(models.Model):
    """Our copy of Codat's integration catalogue, refreshed from GET /integrations.

    Logos are `PlatformLogo` rows (Codat's artwork, downloaded and served from our own origin),
    or else our own letter monograms in the static files.
    """

    key = models.CharField(max_length=4, unique=True)
    name = models.CharField(max_length=100)
    source_type = models.CharField(max_length=20, choices=SourceType, default=SourceType.OTHER)
    enabled = models.BooleanField(default=True)
    is_beta = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class PlatformLogo(models.Model):
    """A platform's logo as Codat brands it, downloaded by `codat_logos_fetch` and served by
    us (`connections:logo`), so that pages show no image from another origin (the CSP's
    `img-src 'self'`). Kept in the database because it is the one store every web node shares;
    a platform without a row shows its monogram."""

    platform_key = models.CharField(max_length=4, unique=True)
    content = models.BinaryField()
    content_type = models.CharField(max_length=30)
    # SHA-256 of the content, hex: part of the logo's URL, so a new logo is a new URL and the
    # old one can be cached for ever.
    digest = models.CharField(max_length=64)
    # Where Codat's branding said the image was; a different URL is a new logo to download.
    source_url = models.URLField(max_length=2000)
    fetched_at = models.DateTimeField(default=timezone.now)
    # When Codat's branding last still pointed at this image.
    checked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Logo of {self.platform_key}"


class ConnectionQuerySet(models.QuerySet):
    def current(self) -> ConnectionQuerySet:
        return self.exclude(status=Connection.Status.DELETED)

    def shown_to_customer(self) -> ConnectionQuerySet:
        """Without the attempts that never came to anything: a connection still waiting for
        its first authorisation (the customer cancelled at Codat, the platform failed or isn't
        supported) shares nothing, so it is no connection of theirs to list or disconnect."""
        return self.exclude(status=Connection.Status.PENDING_AUTH, authorised_at__isnull=True)

    def for_company(self, company: Company) -> ConnectionQuerySet:
        return self.filter(company=company)


class Connection(models.Model):
    """A company's connection to one platform through Codat: *access*, not *use*.

    Mirrors Codat's data connection; `Deleted` is ours, kept so the history survives a DELETE.
    """

    class Status(models.TextChoices):
        PENDING_AUTH = "PendingAuth", "Waiting for you to authorise"
        LINKED = "Linked", "Connected"
        UNLINKED = "Unlinked", "Paused"
        DEAUTHORIZED = "Deauthorized", "Access expired"
        DELETED = "Deleted", "Disconnected"

    # What each status means for the customer: the Help page's glossary, beside the labels so
    # that the words on the badges and their definitions cannot drift apart.
    STATUS_MEANINGS = {
        Status.PENDING_AUTH: "You started authorising it again but haven't finished signing in "
        "at your provider. Until you do, nothing new is read.",
        Status.LINKED: "Working: we can read the data your agreed products need, and only that.",
        Status.UNLINKED: "You chose to pause it, for example when withdrawing a consent. We no "
        "longer have access and read nothing new; what Codat had already fetched is kept. "
        "Connect it again whenever you like.",
        Status.DEAUTHORIZED: "Access ended at your provider: bank connections need renewing "
        "every 90 days, and you can also revoke access from your provider. Reconnect to carry "
        "on.",
        Status.DELETED: "You disconnected it. We no longer read from it, and keep only the "
        "record that it existed.",
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="connections")
    codat_connection_id = models.UUIDField(unique=True, editable=False)
    platform_key = models.CharField(max_length=4)
    platform_name = models.CharField(max_length=100)
    source_type = models.CharField(max_length=20, choices=SourceType)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_AUTH)
    created_at = models.DateTimeField(default=timezone.now)
    linked_at = models.DateTimeField(null=True, blank=True)
    # When the customer last authorised this connection at their bank or provider: every move
    # into Linked, the first link and each reconnect after Deauthorized or Unlinked alike.
    # Open Banking's 90 days run from here (the consents' banking clock reads it).
    authorised_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_sync = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The newest active dataConnectionErrors entry Codat reported, as Codat sent it.
    last_error = models.JSONField(null=True, blank=True)
    # generatedDate of the newest Codat webhook applied to the status above. An event that is
    # not newer is stale and must not roll the status back (W6); null until a webhook applies.
    status_event_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the members were told this connection's access had expired; cleared when it is
    # linked again, so each expiry is announced once.
    access_lost_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CompanyScopedManager.from_queryset(ConnectionQuerySet)()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["company", "status"], name="connection_company_status"),
            # The admin's list, newest first, whole or by status.
            models.Index(fields=["created_at"], name="connection_created_at"),
            models.Index(fields=["status", "created_at"], name="connection_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.platform_name} for {self.company} ({self.status})"

    @property
    def badge(self) -> str:
        return self.badge_for(self.status)

    @classmethod
    def badge_for(cls, status: str) -> str:
        """The status badge's style; the words come from the status's label."""
        styles: dict[str, str] = {
            cls.Status.LINKED: "linked",
            cls.Status.PENDING_AUTH: "pending",
            cls.Status.UNLINKED: "pending",
            cls.Status.DEAUTHORIZED: "deauthorized",
        }
        return styles.get(status, "deleted")

    @property
    def is_deleted(self) -> bool:
        return self.status == self.Status.DELETED

    @property
    def is_linked(self) -> bool:
        return self.status == self.Status.LINKED

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING_AUTH

    @property
    def never_authorised(self) -> bool:
        """Started at Codat but never authorised: an attempt, not yet a connection."""
        return self.is_pending and self.authorised_at is None


class ConnectionEvent(models.Model):
    """One change in a connection's access the customer would recognise: linked, expired,
    paused, reconnected, disconnected. Written where the status changes
    (`connection_status_apply`, `connection_mark_deleted`) so that the customer's history can
    show it; the Connection row keeps only the latest state."""

    class Kind(models.TextChoices):
        LINKED = "linked", "Connected"
        EXPIRED = "expired", "Access expired"
        PAUSED = "paused", "Paused"
        RECONNECTED = "reconnected", "Connected again"
        DISCONNECTED = "disconnected", "Disconnected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="connection_events", editable=False
    )
    connection = models.ForeignKey(
        Connection, on_delete=models.PROTECT, related_name="events", editable=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, editable=False)
    occurred_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    objects = CompanyScopedManager()

    class Meta:
        ordering = ["occurred_at"]
        # A company's history and the admin's company timeline, newest first.
        indexes = [
            models.Index(fields=["company", "occurred_at"], name="connectionevent_company"),
        ]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.kind} at {self.occurred_at:%Y-%m-%d %H:%M}"


class LinkAttempt(models.Model):
    """One trip to Codat's hosted Link page: the `state` we sent and what came back.

    Only the SHA-256 of the state is stored, so a database read does not yield usable states.
    A state is bound to the user and company that started it, used once, and expires.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="link_attempts"
    )
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="link_attempts")
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="link_attempts"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # What Codat's redirect said (statusCode / errorMessage / statusText); hints, not truth.
    status_code = models.CharField(max_length=3, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    status_text = models.CharField(max_length=500, blank=True)

    objects = CompanyScopedManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], name="linkattempt_created_at"),  # the admin's
            models.Index(fields=["company", "created_at"], name="linkattempt_company"),  # timeline
        ]

    def __str__(self) -> str:
        return f"Link attempt for {self.connection_id} ({self.status_code or 'open'})"


class DataSyncManager(CompanyScopedManager["DataSync"]):
    """A sync belongs to a company through its connection."""

    lookup = "connection__company"


class DataSync(models.Model):
    """Codat's latest read of one data type through one connection, from `read.completed`.

    A cache of what Codat's webhooks told us, newest event wins (W6); it holds no data itself.
    """

    class Status(models.TextChoices):
        # Codat's dataset status enum, verbatim (docs/codat.md §6.4). Codat may add values; we store
        # whatever it sends, so these are for display rather than validation.
        INITIAL = "Initial"
        QUEUED = "Queued"
        FETCHING = "Fetching"
        MAP_QUEUED = "MapQueued"
        MAPPING = "Mapping"
        COMPLETE = "Complete"
        FETCH_ERROR = "FetchError"
        MAP_ERROR = "MapError"
        INTERNAL_ERROR = "InternalError"
        PROCESSING_QUEUED = "ProcessingQueued"
        PROCESSING = "Processing"
        PROCESSING_ERROR = "ProcessingError"
        VALIDATION_QUEUED = "ValidationQueued"
        VALIDATING = "Validating"
        VALIDATION_ERROR = "ValidationError"
        AUTH_ERROR = "AuthError"
        CANCELLED = "Cancelled"
        NOT_SUPPORTED = "NotSupported"
        RATE_LIMIT_ERROR = "RateLimitError"
        PERMISSIONS_ERROR = "PermissionsError"
        PREREQUISITE_NOT_MET = "PrerequisiteNotMet"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="data_syncs")
    data_type = models.CharField(max_length=50)
    status = models.CharField(max_length=40, choices=Status.choices)
    records_modified = models.BooleanField(default=False)
    # Codat's issues[] for this read as sent ({type, message, links}).
    issues = models.JSONField(default=list, blank=True)
    # generatedDate of the newest event applied to this row; older events are stale (W6).
    last_event_at = models.DateTimeField()
    # generatedDate of the newest event that reported Complete.
    last_success_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DataSyncManager()

    class Meta:
        ordering = ["connection", "data_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "data_type"], name="datasync_unique_connection_data_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.data_type} via {self.connection_id}: {self.status}"

    @property
    def is_complete(self) -> bool:
        return self.status == self.Status.COMPLETE


class WebhookEventQuerySet(models.QuerySet):
    def store_received(
        self,
        *,
        webhook_id: str,
        body: bytes,
        event_id: str = "",
        event_type: str = "",
        generated_at: datetime | None = None,
    ) -> bool:
        """Store a newly received event unless its `webhook_id` is stored already; True if
        this call stored it.

        One `INSERT … ON CONFLICT (webhook_id) DO NOTHING`, written out because this is the
        hottest write in the app: under gunicorn, `create()` spent ten times longer in the ORM
        than SQLite spent storing the row. A duplicate, concurrent ones on PostgreSQL included,
        is no error (the later insert waits for the earlier to commit, then does nothing), so
        no savepoint is needed inside a transaction. Only the `webhook_id` conflict is ignored;
        anything else wrong with the row still raises. Every concrete field is written, with
        the model's defaults; a field added without a value here fails with a KeyError. In
        autocommit it is the only round trip: no BEGIN, no COMMIT, no health check.
        """
        connection = connections[router.db_for_write(self.model)]
        values = {
            "id": uuid.uuid4(),
            "webhook_id": webhook_id,
            "event_id": event_id,
            "event_type": event_type,
            "generated_at": generated_at,
            "body": body,
            "received_at": timezone.now(),
            "status": WebhookEvent.Status.RECEIVED.value,
            "company_id": None,
            "processed_at": None,
            "attempts": 0,
            "outcome": "",
            "error": "",
        }
        sql, fields = _store_received_sql(connection)
        params = [field.get_db_prep_save(values[field.attname], connection) for field in fields]
        reused = connection.connection is not None
        if connection.in_atomic_block or not reused:
            return _insert(connection, sql, params)
        # In autocommit the statement is its own health check. CONN_HEALTH_CHECKS would spend a
        # `SELECT 1` round trip on the connection kept from an earlier request, before this
        # one; instead, should that connection turn out to be dead (the database restarted, a
        # proxy dropped it), a new one is opened and the statement sent again, which ON
        # CONFLICT makes safe: had the first one committed after all, the second stores
        # nothing, the delivery is answered as a duplicate and the next drain applies it.
        # Django's own flag for "checked in this request" (django-stubs does not declare it).
        connection.health_check_done = True  # type: ignore[attr-defined]
        try:
            return _insert(connection, sql, params)
        except (OperationalError, InterfaceError):
            if connection.is_usable():
                raise  # the statement failed, not the connection
            connection.close()
            return _insert(connection, sql, params)


def _insert(connection, sql: str, params: list[object]) -> bool:
    with _parameter_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def _parameter_cursor(connection):
    """A cursor that sends the statement's values apart from its text, where that is cheaper.

    Django's PostgreSQL cursors bind client-side: psycopg quotes every value into the SQL, the
    body's bytes as a hex literal twice their size, and PostgreSQL parses it all back. Bound
    server-side, the values travel as parameters and the body as bytes, which saves about a
    tenth of the intake's CPU in Django. Statements are still not prepared: Django keeps that
    off so that transaction-pooling proxies such as PgBouncer work, and so does this.
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg  # loaded only on PostgreSQL, as Django's own backend does

    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


# Per database vendor: the statement and the fields in its column order.
_STORE_RECEIVED_SQL: dict[str, tuple[str, tuple[models.Field, ...]]] = {}


def _store_received_sql(connection) -> tuple[str, tuple[models.Field, ...]]:
    if connection.vendor not in _STORE_RECEIVED_SQL:
        fields = tuple(WebhookEvent._meta.concrete_fields)
        quote = connection.ops.quote_name
        # Only identifiers from the model's own metadata are interpolated; values are params.
        sql = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING".format(  # noqa: S608
            quote(WebhookEvent._meta.db_table),
            ", ".join(quote(field.column) for field in fields),
            ", ".join(["%s"] * len(fields)),
            quote(WebhookEvent._meta.get_field("webhook_id").column),
        )
        _STORE_RECEIVED_SQL[connection.vendor] = (sql, fields)
    return _STORE_RECEIVED_SQL[connection.vendor]


class WebhookEvent(models.Model):
    """One verified Codat webhook delivery, exactly as received, keyed by its `webhook-id`.

    Codat retries for about 28 hours with the same id, so the unique id is what makes each
    message count once (W4). Rows are kept, never expired: an id must be remembered far longer
    than the retry window. Only deliveries whose signature verified are ever stored.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, not yet processed"
        PROCESSED = "processed", "Processed"
        UNPROCESSABLE = "unprocessable", "Unprocessable (quarantined)"
        UNKNOWN_COMPANY = "unknown_company", "Unknown Codat company"
        FAILED = "failed", "Processing failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook_id = models.CharField(max_length=255, unique=True, editable=False)
    # From the envelope when it parses; blank otherwise (the raw body is the record).
    event_id = models.CharField(max_length=100, blank=True, editable=False)
    event_type = models.CharField(max_length=100, blank=True, editable=False)
    generated_at = models.DateTimeField(null=True, blank=True, editable=False)
    body = models.BinaryField(editable=False)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    # Set only through our Company.codat_company_id mapping (T4); null when unknown.
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_events",
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # What processing did, in words for operators ("Linked", "stale: …", "ignored: …").
    outcome = models.TextField(blank=True)
    error = models.TextField(blank=True)

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["status", "received_at"], name="webhookevent_status_received"),
            models.Index(fields=["event_type"], name="webhookevent_event_type"),
            # The admin's list, newest first, and the admin's company timeline.
            models.Index(fields=["received_at"], name="webhookevent_received_at"),
            models.Index(fields=["company", "received_at"], name="webhookevent_company"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'unknown event'} {self.webhook_id} ({self.status})"


class CodatCompanyDeletion(models.Model):
    """A Codat company we must delete (its connections and everything Codat fetched go with it),
    kept until Codat confirms and afterwards as the record that it did.

    Written in the same transaction as the decision that calls for it (closing an account), so
    the deletion is never lost when Codat is down: it is retried, with backoff, by a task and by
    `manage.py codat_delete_companies` from cron, until Codat answers 2xx or 404.
    """

    class Reason(models.TextChoices):
        ACCOUNT_CLOSED = "account_closed", "Account closed"

    company = models.OneToOneField(Company, on_delete=models.PROTECT, related_name="codat_deletion")
    # Copied here so that the record says what was deleted at Codat on its own.
    codat_company_id = models.UUIDField(editable=False)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    requested_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    objects = CompanyScopedManager()

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        state = "deleted" if self.deleted_at else "pending"
        return f"Codat company {self.codat_company_id} ({state})"

    @property
    def is_pending(self) -> bool:
        return self.deleted_at is None
