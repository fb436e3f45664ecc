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

    class Meta:
        db_table = "codat_sandbox_connection"
        ordering = ["created", "id"]
        verbose_name = "sandbox connection"

    def __str__(self) -> str:
        return f"{self.integration_key} {self.status} ({self.id})"
