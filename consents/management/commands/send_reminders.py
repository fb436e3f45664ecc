"""Open Banking 90-day clock: remind 7 days and 1 day before, pause bank data when it lapses.

Idempotent: each notice is sent once per clock cycle, so cron can run it every hour.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from companies.scoping import scopes_disabled
from consents.services import banking_reminders_send


class Command(BaseCommand):
    help = "Send banking-consent reminders and pause bank data whose 90-day clock has ended."

    @scopes_disabled()  # works across every company
    def handle(self, *args, **options) -> None:
        sent = banking_reminders_send()
        self.stdout.write(
            f"7-day reminders: {sent['7d']}; 1-day reminders: {sent['1d']}; "
            f"paused: {sent['lapsed']}; resumed after a reconnect: {sent['resumed']}."
        )
