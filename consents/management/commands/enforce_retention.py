"""Delete at Codat what the consent wording says we no longer keep (docs/promises.md P1).

Cron-safe and idempotent: run it daily or hourly. A deletion Codat refuses or never answers
stays scheduled, with its error for staff, and is tried again on the next run.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from companies.scoping import scopes_disabled
from consents.notifications import deletion_notices_send
from consents.services import retention_enforce


class Command(BaseCommand):
    help = "Delete at Codat the connections (and companies) whose retention period has ended."

    @scopes_disabled()  # works across every company
    def handle(self, *args, **options) -> None:
        run = retention_enforce()
        told = deletion_notices_send()
        for record in run.deleted:
            what = record.platform_name or f"Codat company {record.codat_company_id}"
            self.stdout.write(f"Deleted {what} for {record.company}: {record.reason}")
        for row in run.failed:
            self.stdout.write(f"Still scheduled {row}: {row.last_error}")
        self.stdout.write(
            f"Deleted: {len(run.deleted)}; still scheduled after an error: {len(run.failed)}; "
            f"businesses told: {told}."
        )
