"""Remove consent evidence whose period has passed. The only way evidence is ever deleted; safe
to run from cron (daily is plenty): a second run finds nothing more to remove."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from consents.services import evidence_purge


class Command(BaseCommand):
    help = "Delete the evidence of consents that ended longer ago than it must be kept."

    def handle(self, *args, **options) -> None:
        run = evidence_purge()
        self.stdout.write(
            f"Removed {run.events_deleted} evidence records of {len(run.consent_ids)} consents "
            f"that ended before {run.cutoff:%Y-%m-%d}."
        )
