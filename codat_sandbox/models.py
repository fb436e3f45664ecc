"""What the sandbox Codat knows: its own companies and connections, nothing of the app's.

The tables are `codat_sandbox_*` and no model here points at an app model. The sandbox must only
know what real Codat would know, so that tests against it catch the app trusting its own rows.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class SandboxCompany(models.Model):
    """A Codat company: one business sharing its data."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    tags = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)
    last_sync = models.DateTimeField(null=True, blank=True)
    # Set by `POST …/syncSettings`; until then the company follows the client's defaults.
    overrides_default_sync_settings = models.BooleanField(default=False)
    has_own_sync_settings = models.BooleanField(default=False)

    class Meta:
        db_table = "codat_sandbox_company"
        # Paging must be stable between calls, so ties on `created` fall back to the id.
        ordering = ["created", "id"]
        verbose_name = "sandbox company"
        verbose_name_plural = "sandbox companies"

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class SandboxConnection(models.Model):
    """A company's data connection to one integration (platform)."""

    class Status(models.TextChoices):
        PENDING_AUTH = "PendingAuth", "Pending authorisation"
        LINKED = "Linked", "Linked"
        UNLINKED = "Unlinked", "Unlinked"
        DEAUTHORIZED = "Deauthorized", "Deauthorised"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(
        SandboxCompany, on_delete=models.CASCADE, related_name="connections"
    )
    integration_key = models.CharField(max_length=4)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING_AUTH)
    created = models.DateTimeField(default=timezone.now)
    last_sync = models.DateTimeField(null=True, blank=True)
    # Codat's `dataConnectionErrors`, stored in the API's own shape (camelCase keys) so the API
    # can return them as they are.
    data_connection_errors = models.JSONField(default=list, blank=True)
    # Data types whose next sync over this connection the console has told to fail (FetchError).
    fail_next_sync_data_types = models.JSONField(default=list, blank=True)
    # When the customer last authorised it: scheduled refreshes of a type never fetched over
    # this connection count from here (syncs.run_due_schedules).
    linked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "codat_sandbox_connection"
        ordering = ["created", "id"]
        verbose_name = "sandbox connection"

    def __str__(self) -> str:
        return f"{self.integration_key} {self.status} ({self.id})"


class SyncSettingFields(models.Model):
    """What one sync setting says about its data type, as Codat's `SyncSetting` has it."""

    fetch_on_first_link = models.BooleanField()
    sync_schedule = models.PositiveIntegerField()
    sync_order = models.PositiveIntegerField()
    sync_from_utc = models.CharField(max_length=40, blank=True, default="")
    sync_from_window = models.PositiveIntegerField(null=True, blank=True)
    months_to_sync = models.PositiveIntegerField(null=True, blank=True)
    is_locked = models.BooleanField(null=True, blank=True)

    class Meta:
        abstract = True


class SandboxSyncSetting(SyncSettingFields):
    """One row of a company's sync settings (Codat's `SyncSetting`), set by the API."""

    company = models.ForeignKey(
        SandboxCompany, on_delete=models.CASCADE, related_name="sync_settings"
    )
    data_type = models.CharField(max_length=64)

    class Meta:
        db_table = "codat_sandbox_sync_setting"
        ordering = ["sync_order", "data_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "data_type"], name="codat_sandbox_one_setting_per_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.data_type} (first link: {self.fetch_on_first_link})"


class SandboxProfile(models.Model):
    """The Codat client's profile (`GET`/`PUT /profile`), one row; absent until first changed.

    A fresh Codat account has no redirect URL, so Link ends on Codat's own page, and its
    client-wide sync settings are Codat's defaults (timeline.client_sync_settings).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    name = models.CharField(max_length=255)
    logo_url = models.CharField(max_length=2000, blank=True, default="")
    icon_url = models.CharField(max_length=2000, blank=True, default="")
    redirect_url = models.CharField(max_length=2000, blank=True, default="")
    white_list_urls = models.JSONField(default=list, blank=True)
    confirm_company_name = models.BooleanField(null=True, blank=True)
    # The `overridesDefaults` last sent to `POST /profile/syncSettings`, echoed back by GET.
    sync_overrides_defaults = models.BooleanField(default=False)

    class Meta:
        db_table = "codat_sandbox_profile"

    def __str__(self) -> str:
        return self.name


class SandboxClientSyncSetting(SyncSettingFields):
    """One client-wide sync setting (`POST /profile/syncSettings`); a type without a row has
    Codat's default (timeline.client_sync_settings)."""

    data_type = models.CharField(max_length=64, unique=True)

    class Meta:
        db_table = "codat_sandbox_client_sync_setting"
        ordering = ["sync_order", "data_type"]

    def __str__(self) -> str:
        return f"{self.data_type} (first link: {self.fetch_on_first_link})"


class SandboxWebhookConsumer(models.Model):
    """A webhook consumer (`POST /webhooks`): an endpoint and the event types it receives."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.CharField(max_length=2000)
    event_types = models.JSONField(default=list, blank=True)
    disabled = models.BooleanField(default=False)
    company_tags = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "codat_sandbox_webhook_consumer"
        ordering = ["created", "id"]
        verbose_name = "sandbox webhook consumer"

    def __str__(self) -> str:
        return f"{self.url} ({', '.join(self.event_types) or 'every event'})"


class SandboxDataset(models.Model):
    """One pull operation: a fetch of one data type over one connection.

    Its status is not stored but read off a planned timeline (`requested` → `fetching_at` →
    `finished_at`, then `outcome`), so no worker has to move it along and tests drive it with
    the clock alone. Changing the plan (an expiring connection) rewrites the timestamps.
    """

    class Outcome(models.TextChoices):
        COMPLETE = "Complete", "Complete"
        FETCH_ERROR = "FetchError", "Fetch error"
        AUTH_ERROR = "AuthError", "Authorisation error"
        NOT_SUPPORTED = "NotSupported", "Not supported"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(SandboxCompany, on_delete=models.CASCADE, related_name="datasets")
    connection = models.ForeignKey(
        SandboxConnection, on_delete=models.CASCADE, related_name="datasets"
    )
    data_type = models.CharField(max_length=64)
    requested = models.DateTimeField()
    fetching_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error_message = models.TextField(blank=True, default="")
    status_description = models.TextField(blank=True, default="")
    # Whether the finished fetch changed Codat's cache: the first good fetch of a type over a
    # connection adds records; the sandbox's data never changes after that.
    records_modified = models.BooleanField(default=False)
    # Part of the first read after an authorisation (`read.completed.initial`).
    is_initial = models.BooleanField(default=False)
    # The `read.completed(.initial)` message announcing the read this dataset belongs to,
    # written when the dataset is queued and due when the read finishes (webhooks.py).
    completion_message = models.ForeignKey(
        "SandboxWebhookMessage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="datasets",
    )

    class Meta:
        db_table = "codat_sandbox_dataset"
        ordering = ["requested", "id"]
        indexes = [
            models.Index(
                fields=["company", "data_type", "requested"], name="codat_sbx_dataset_type_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.data_type} {self.outcome} ({self.id})"


class SandboxWebhookMessage(models.Model):
    """One webhook message in the sandbox's outbox: written with the change it announces (in the
    same transaction), sent later by `webhooks.deliver_due`, retried on Codat's schedule.

    `msg_id` is the `webhook-id` header: the same on every retry, and on a console replay (a
    new row pointing at the original through `replay_of`), exactly the duplicate a receiver
    must ignore. Company and connection ids are plain values, not foreign keys: a message
    outlives what it talks about (`company.deleted`).
    """

    # Sequential: the order messages were written in, which breaks ties between messages
    # falling due together (events of one request share a timestamp under a frozen clock).
    id = models.BigAutoField(primary_key=True)
    # What the console's URLs carry, never the sequential id.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    msg_id = models.CharField(max_length=40, db_index=True)
    event_type = models.CharField(max_length=64)
    # The exact bytes signed and sent: re-serialising could change them and break signatures.
    payload = models.BinaryField()
    company_id = models.UUIDField(null=True, blank=True, db_index=True)
    connection_id = models.UUIDField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    # When the event happened (the payload's `generatedDate`), not when it is sent.
    generated = models.DateTimeField()
    due_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    # The consumers (ids, as text) subscribed to this event when it was written, and those
    # that have answered 2xx. A message nobody subscribed to is kept but never sent.
    recipients = models.JSONField(default=list, blank=True)
    delivered_to = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "codat_sandbox_webhook_message"
        ordering = ["-id"]
        verbose_name = "sandbox webhook message"

    def __str__(self) -> str:
        return f"{self.event_type} {self.msg_id}"

    @property
    def state(self) -> str:
        if not self.recipients:
            return "no consumer"
        if self.delivered_at is not None:
            return "delivered"
        if self.failed_at is not None:
            return "failed"
        if self.attempts:
            return "retrying"
        return "pending"

    @property
    def body_text(self) -> str:
        return bytes(self.payload).decode("utf-8")


class SandboxOutboxSwitch(models.Model):
    """Whether the console holds webhook delivery (one row). While held, messages pile up in
    the outbox so a tester can reorder them before any is sent."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    held = models.BooleanField(default=False)

    class Meta:
        db_table = "codat_sandbox_outbox_switch"

    def __str__(self) -> str:
        return "held" if self.held else "delivering"


class SandboxFault(models.Model):
    """A fault the console injected into the next `remaining` API calls (oldest first)."""

    class Kind(models.TextChoices):
        LATENCY = "latency", "Latency (answer late)"
        RATE_LIMITED = "429", "429 Too Many Requests, with Retry-After"
        SERVER_ERROR = "500", "500 Internal Server Error"
        UNAVAILABLE = "503", "503 Service Unavailable"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    remaining = models.PositiveIntegerField()
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    latency_seconds = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "codat_sandbox_fault"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} × {self.remaining}"
