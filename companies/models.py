from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models


class Company(models.Model):
    """A customer's business. It maps to exactly one Codat company, created once, ever."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # Unique: an external id maps to one tenant only (T4), and one business never gets two.
    codat_company_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the owner closed the account: its members were erased and its name replaced by a
    # pseudonym then; what stays is consent evidence for its period (docs/promises.md P2).
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the company's deletion schedule at Codat was last worked out from its consents and
    # connections (consents.retention.retention_schedule_refresh); `enforce_retention` works it
    # out again only for companies whose consents or connections changed since. Null: never.
    retention_checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        # The admin's list: its order, and its dates (date_hierarchy reads the first and last).
        indexes = [
            models.Index(fields=["name"], name="company_name"),
            models.Index(fields=["created_at"], name="company_created_at"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "company"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.company} ({self.get_role_display()})"


class PendingSignup(models.Model):
    """A sign-up waiting for its emailed link: no user or company exists until then.

    Sign-up answers every email the same way, so it cannot create the account straight away;
    the account is made when someone holding both the link (the inbox) and the password chosen
    at sign-up comes back. One row per email: a later sign-up replaces it, and the old link.
    """

    # Long enough to find the mail the next day, short enough that a stray link soon stops
    # working; an unfinished sign-up's name and email are kept no longer than this.
    LINK_LIFETIME = timedelta(hours=24)

    email = models.CharField(max_length=150, unique=True)  # as normalise_email() spells it
    name = models.CharField(max_length=150)
    business_name = models.CharField(max_length=200)
    password = models.CharField(max_length=128)  # a hash, as User.password
    # Only the SHA-256 of the link's token, so a database read yields no usable link.
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Sign-up waiting for {self.email}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
