"""Retry Codat sync-settings updates that are pending and due. Safe to run from cron."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from companies.scoping import scopes_disabled
from consents.services import codat_sync_settings_retry_due


class Command(BaseCommand):
    help = "Apply pending Codat sync-settings updates whose retry is due."

    @scopes_disabled()  # works across every company
    def handle(self, *args, **options) -> None:
        applied, pending = codat_sync_settings_retry_due()
        self.stdout.write(f"Applied {applied}; still pending {pending}.")
