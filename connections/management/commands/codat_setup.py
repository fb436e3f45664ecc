"""Check or set up the Codat account the app talks to: the redirect URL, the webhook consumer
and client-wide sync settings that fetch nothing (connections/codat_setup.py). The same command
against the real Codat (CODAT_API_KEY) and the built-in sandbox; `make run` applies it."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from codat.errors import CodatError
from companies.codat_client import get_client
from connections.codat_setup import codat_setup_apply, codat_setup_check, codat_setup_wanted


class Command(BaseCommand):
    help = (
        "Check (--check) or fix (--apply) the Codat account's redirect URL, webhook consumer and "
        "client-wide sync settings. --check exits non-zero when something is missing or wrong."
    )

    def add_arguments(self, parser) -> None:
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--check", action="store_true", help="report only; change nothing")
        mode.add_argument("--apply", action="store_true", help="fix what is missing or wrong")
        parser.add_argument(
            "--sandbox-only",
            action="store_true",
            help="do nothing unless the built-in sandbox is on (for `make run`: a real Codat "
            "account is set up on purpose, with its production SITE_URL)",
        )

    def handle(self, *args, **options) -> None:
        if options["sandbox_only"] and not settings.CODAT_SANDBOX_ENABLED:
            self.stdout.write(
                "CODAT_API_KEY is set, so this is a real Codat account: left as it is. "
                "Run `manage.py codat_setup --check` / `--apply` yourself."
            )
            return
        where = "the built-in sandbox" if settings.CODAT_SANDBOX_ENABLED else "Codat"
        self.stdout.write(f"Codat account: {where} at {settings.CODAT_BASE_URL}")
        try:
            with get_client() as client:
                if options["apply"]:
                    applied = codat_setup_apply(client=client)
                    for change in applied.changes:
                        self.stdout.write(f"  changed: {change}")
                    if not applied.changes:
                        self.stdout.write("  Nothing to change.")
                    self._signing_secret_hint(new=applied.new_consumer)
                with get_client() as fresh:  # a new time budget for reading it all back
                    problems = codat_setup_check(client=fresh)
        except CodatError as exc:
            raise CommandError(f"Codat failed: {exc}") from exc
        for problem in problems:
            self.stdout.write(f"  problem: {problem}")
        if problems:
            raise CommandError(
                f"{len(problems)} problem(s) in the Codat account; "
                "`python manage.py codat_setup --apply` fixes them."
            )
        self.stdout.write("The Codat account is set up as the app needs.")

    def _signing_secret_hint(self, *, new: bool) -> None:
        url = codat_setup_wanted().webhook_url
        if settings.CODAT_SANDBOX_ENABLED:
            self.stdout.write(
                "Webhook signing secret: the sandbox signs with the first CODAT_WEBHOOK_SECRET; "
                "nothing to copy."
            )
            return
        self.stdout.write(
            ("The webhook consumer is new, so its signing secret is new. " if new else "")
            + "Codat's API never returns a consumer's signing secret: in Codat's portal open "
            f"Monitor > Webhooks, select the consumer for {url}, copy its signing secret "
            "(whsec_...) and set CODAT_WEBHOOK_SECRET to it (during a change, the old and the "
            "new one, space-separated)."
        )
