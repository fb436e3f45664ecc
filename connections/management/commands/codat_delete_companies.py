"""Retry Codat company deletions that are pending and due (closed accounts). Safe to run from
cron as often as you like: a deletion Codat has confirmed is never sent again."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from companies.scoping import scopes_disabled
from connections.services import codat_company_deletions_retry_due


class Command(BaseCommand):
    help = "Delete at Codat the companies whose deletion is pending and due for another try."

    @scopes_disabled()  # works across every company
    def handle(self, *args, **options) -> None:
        deleted, pending = codat_company_deletions_retry_due()
        self.stdout.write(f"Deleted {deleted}; still pending {pending}.")
