"""Download each platform's logo from Codat's branding and keep it for our pages
(connections/logos.py). Safe from cron, as often as wanted: what is already kept and unchanged
is neither downloaded again nor rewritten, and a failure keeps the logo shown so far."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from codat.errors import CodatError
from companies.codat_client import get_client
from connections.logos import platform_logos_fetch

# One branding call and one image per platform, a few dozen platforms: more than the
# per-request budget a customer's page gets, still bounded.
FETCH_BUDGET_SECONDS = 120.0


class Command(BaseCommand):
    help = "Download each platform's logo from Codat's branding and keep it for our pages."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="download every logo again, even one recently checked",
        )

    def handle(self, *args, **options) -> None:
        try:
            with get_client(budget=FETCH_BUDGET_SECONDS) as client:
                outcomes = platform_logos_fetch(client=client, force=options["force"])
        except CodatError as exc:
            raise CommandError(f"Codat failed ({exc}); try again later") from exc
        for outcome in outcomes:
            if outcome.outcome != "unchanged":
                self.stdout.write(str(outcome))
        counts = {
            name: sum(1 for o in outcomes if o.outcome == name)
            for name in ("stored", "unchanged", "none", "refused", "failed")
        }
        self.stdout.write(
            f"Logos of {len(outcomes)} platforms: {counts['stored']} stored, "
            f"{counts['unchanged']} unchanged, {counts['none']} without one, "
            f"{counts['refused']} refused, {counts['failed']} failed."
        )
        if counts["failed"]:
            # Non-zero, so that cron reports it; the next run tries again.
            raise CommandError(f"{counts['failed']} logo(s) could not be fetched; try again later")
