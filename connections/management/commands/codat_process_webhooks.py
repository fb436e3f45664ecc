"""Re-run processing for stored Codat webhooks that never finished (operators' tool)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from companies.scoping import scopes_disabled
from connections.models import WebhookEvent
from connections.webhook_processing import RETRYABLE_STATUSES, webhook_event_process
from consents.notifications import access_notices_send


class Command(BaseCommand):
    help = (
        "Process stored Codat webhook events that are still received or failed, oldest first. "
        "Safe to repeat: an event that is processed is never applied twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--status",
            action="append",
            choices=WebhookEvent.Status.values,
            help="Statuses to pick up (repeatable). Default: received and failed. Use "
            "unprocessable or unknown_company after a fix or a late company mapping.",
        )
        parser.add_argument(
            "--webhook-id", action="append", help="Only these webhook ids (repeatable)."
        )
        parser.add_argument("--limit", type=int, default=None, help="At most this many events.")

    @scopes_disabled()  # works across every company
    def handle(self, *args: Any, **options: Any) -> None:
        statuses = tuple(options["status"] or RETRYABLE_STATUSES)
        events = WebhookEvent.objects.filter(status__in=statuses).order_by("received_at")
        if options["webhook_id"]:
            events = events.filter(webhook_id__in=options["webhook_id"])
        if options["limit"] is not None:
            events = events[: options["limit"]]
        pending = list(events.values_list("pk", "webhook_id", "event_type", "status"))
        if not pending:
            self.stdout.write(f"No Codat webhook events with status {', '.join(statuses)}.")
            return
        counts: dict[str, int] = {}
        for pk, webhook_id, event_type, before in pending:
            after = webhook_event_process(event_id=pk, statuses=statuses)
            counts[after] = counts.get(after, 0) + 1
            event = WebhookEvent.objects.only("outcome", "error").get(pk=pk)
            detail = event.error or event.outcome
            self.stdout.write(
                f"{webhook_id} {event_type or '(no event type)'}: {before} -> {after}"
                + (f" ({detail})" if detail else "")
            )
        # Connections whose access these events ended or restored: tell their members.
        access_notices_send()
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        style = self.style.ERROR if counts.get(WebhookEvent.Status.FAILED) else self.style.SUCCESS
        self.stdout.write(style(f"Processed {len(pending)} event(s): {summary}."))
