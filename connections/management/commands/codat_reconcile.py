"""Repair what missed webhooks left stale: read every company's connections, and each linked
connection's pull operations, from Codat and apply them. Prints each change; safe to run at any
time."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from codat.errors import CodatError
from companies.batching import in_batches
from companies.models import Company
from companies.scoping import scopes_disabled
from connections.services import codat_reconcile
from consents.notifications import access_notices_send


class Command(BaseCommand):
    help = "Read every company's connections and their pull operations from Codat; repair our copy."

    @scopes_disabled()  # works across every company
    def handle(self, *args, **options) -> None:
        # A closed account's Codat company is deleted, or about to be: nothing to reconcile.
        companies = Company.objects.filter(codat_company_id__isnull=False, closed_at__isnull=True)
        changed = failed = reconciled = 0
        for company in in_batches(companies):
            reconciled += 1
            try:
                changes = codat_reconcile(company=company)
            except CodatError as exc:
                failed += 1
                self.stderr.write(f"{company.name}: Codat failed ({exc}); try again later")
                continue
            for line in changes:
                self.stdout.write(line)
            changed += len(changes)
            access_notices_send(company=company)
        self.stdout.write(f"Reconciled {reconciled} companies: {changed} changes, {failed} failed.")
