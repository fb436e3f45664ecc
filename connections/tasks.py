"""Background work for connections, through the django-tasks API.

Webhook processing is coalesced. The intake stores each event durably, then asks for a drain:
a task that applies every event still `received`. A drain that starts after an event has
committed is bound to see it, so a process that has queued a drain which cannot have started
yet need not queue another. On a backend that can defer (the database backend, RQ) each drain
is therefore due a moment after it is queued, and events arriving in that moment ride on it:
a burst of a thousand webhooks costs a handful of queue entries, not a thousand, and the
intake stays one INSERT with no other network round trip.

Nothing rests on this economy. The event row is the record; if a process dies between the
commit and the queueing, the next drain from any process, or `codat_process_webhooks
--status received` from cron, picks the event up.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.utils import timezone
from django_tasks import task

from companies.scoping import scopes_disabled
from connections.models import CodatCompanyDeletion
from connections.services import codat_company_delete
from connections.webhook_processing import webhook_events_drain
from consents.notifications import access_notices_send

logger = logging.getLogger("connections.webhooks")

# How long after being queued a drain becomes due: events committed meanwhile share it.
DRAIN_DELAY = timedelta(milliseconds=500)
# A worker whose clock runs ahead of ours would start a drain early. NTP keeps clocks within
# milliseconds; a drain due sooner than this is treated as possibly started already.
DRAIN_CLOCK_MARGIN = timedelta(milliseconds=200)

_lock = threading.Lock()
# When this process queued its last drain, and when that drain becomes due; None before the
# first.
_last_drain: tuple[datetime, datetime] | None = None


@task()
def drain_codat_webhooks() -> int:
    """Apply every stored Codat webhook that is still `received`; returns how many were tried.

    Events belong to whichever company Codat names, so this works across tenants. Members of
    a connection whose access the events ended or restored are told afterwards, explicitly."""
    with scopes_disabled():
        tried = webhook_events_drain()
        access_notices_send()
        return tried


@task()
def delete_codat_company(deletion_id: int) -> bool:
    """One attempt at a pending Codat company deletion; a failure queues the next (and cron's
    `codat_delete_companies` retries it too, should the queue lose it)."""
    with scopes_disabled():
        deletion = CodatCompanyDeletion.objects.filter(pk=deletion_id).first()
        if deletion is None:
            return False
        return codat_company_delete(deletion=deletion)


def webhook_drain_request() -> None:
    """Make sure a drain will run after this moment (called once an event has committed).

    Never raises: the event is stored and Codat gets its 2xx whatever happens here.
    """
    global _last_drain
    try:
        if not drain_codat_webhooks.get_backend().supports_defer:
            # The immediate backend runs the drain here and now; nothing to coalesce.
            drain_codat_webhooks.enqueue()
            return
        now = timezone.now()
        with _lock:
            if _last_drain is not None:
                queued_at, due = _last_drain
                # Not due yet, so it will see this event. (If our clock has gone back past the
                # moment we queued it, that drain may be due far later: queue a fresh one.)
                if queued_at <= now < due - DRAIN_CLOCK_MARGIN:
                    return
            due = now + DRAIN_DELAY
            drain_codat_webhooks.using(run_after=due).enqueue()
            _last_drain = (now, due)
    except Exception:
        logger.exception(
            "Could not queue Codat webhook processing; stored events stay received until the "
            "next drain or `manage.py codat_process_webhooks`"
        )


def forget_queued_drain() -> None:
    """Forget the drain this process queued, so the next event queues its own (tests; a new
    process starts this way anyway)."""
    global _last_drain
    with _lock:
        _last_drain = None
