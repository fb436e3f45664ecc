"""Forget unfinished sign-ups whose emailed link has expired. Safe to run at any time."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from companies.services import pending_signups_purge


class Command(BaseCommand):
    help = "Delete unfinished sign-ups (name, email, business name) whose link has expired."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = pending_signups_purge()
        self.stdout.write(f"Forgot {deleted} unfinished sign-up(s) whose link had expired.")
