from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from companies.models import Company


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

    Logos come from our own static files (no third-party images on our pages), keyed by the
    platform key.
    """

    key = models.CharField(max_length=4, unique=True)
    name = models.CharField(max_length=100)
    source_type = models.CharField(
        max_length=20, choices=SourceType.choices, default=SourceType.OTHER
    )
    enabled = models.BooleanField(default=True)
    is_beta = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class ConnectionQuerySet(models.QuerySet):
    def current(self) -> ConnectionQuerySet:
        return self.exclude(status=Connection.Status.DELETED)

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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="connections")
    codat_connection_id = models.UUIDField(unique=True, editable=False)
    platform_key = models.CharField(max_length=4)
    platform_name = models.CharField(max_length=100)
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_AUTH)
    created_at = models.DateTimeField(default=timezone.now)
    linked_at = models.DateTimeField(null=True, blank=True)
    last_sync = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The newest active dataConnectionErrors entry Codat reported, as Codat sent it.
    last_error = models.JSONField(null=True, blank=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["company", "status"], name="connection_company_status")]

    def __str__(self) -> str:
        return f"{self.platform_name} for {self.company} ({self.status})"

    @property
    def is_deleted(self) -> bool:
        return self.status == self.Status.DELETED

    @property
    def is_linked(self) -> bool:
        return self.status == self.Status.LINKED

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING_AUTH


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

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Link attempt for {self.connection_id} ({self.status_code or 'open'})"
