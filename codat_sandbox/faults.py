"""Faults the console injects into the sandbox API: slow answers, 429 with Retry-After, 500, 503.

Each fault applies to the next N API calls, oldest fault first, one call at a time, before the
request is authenticated or handled, as an overloaded gateway in front of Codat would. The
error bodies are Codat's `ErrorMessage`, so clients see exactly what Codat sends.

Latency stops at the caller's read deadline when the caller is in this process (the app's
client through `codat.transport.InProcessTransport`): there the sleep holds the caller's own
thread, and sleeping on after the caller stopped waiting would only hold its web request past
its timeouts. The transport then reports the late answer as a read timeout, as a socket would.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import F

from .errors import CodatApiError
from .models import SandboxFault

Kind = SandboxFault.Kind

# Codat's own wording for these statuses (docs/codat.md §7).
RATE_LIMITED_TEXT = "You have made too many requests in a given amount of time; please retry later."
SERVER_ERROR_TEXT = "There is a problem with our server. Please try again later."
UNAVAILABLE_TEXT = "The Codat API is temporarily offline for maintenance. Please try again later."

MAX_CALLS = 100
MAX_LATENCY_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 3600

# Indirection so tests can observe latency without waiting for it.
sleep = time.sleep


@transaction.atomic
def fault_add(
    *, kind: str, calls: int, retry_after: int | None = None, latency_seconds: float | None = None
) -> SandboxFault:
    fault = SandboxFault(
        kind=kind,
        remaining=calls,
        retry_after=retry_after if kind == Kind.RATE_LIMITED else None,
        latency_seconds=latency_seconds if kind == Kind.LATENCY else None,
    )
    fault.full_clean()
    fault.save()
    return fault


def faults_clear() -> None:
    SandboxFault.objects.all().delete()


def active_faults() -> list[SandboxFault]:
    return list(SandboxFault.objects.filter(remaining__gt=0))


def take_fault() -> SandboxFault | None:
    """Use up one call of the oldest fault still active; None when there is none.

    The decrement is a conditional UPDATE, so concurrent requests never share one call.
    """
    for fault in SandboxFault.objects.filter(remaining__gt=0).order_by("id")[:10]:
        taken = SandboxFault.objects.filter(pk=fault.pk, remaining__gt=0).update(
            remaining=F("remaining") - 1
        )
        if taken:
            return fault
    return None


def inject(*, deadline: float | None = None) -> None:
    """Apply the next fault, if any: sleep, or raise the error the API then sends.

    `deadline` is the `time.monotonic()` instant after which the caller no longer waits for the
    answer; latency sleeps no later than that (None: the whole latency, as over HTTP).
    """
    fault = take_fault()
    if fault is None:
        return
    if fault.kind == Kind.LATENCY:
        latency = fault.latency_seconds or 0.0
        if deadline is not None:
            latency = min(latency, max(0.0, deadline - time.monotonic()))
        sleep(latency)
    elif fault.kind == Kind.RATE_LIMITED:
        raise CodatApiError(
            429, RATE_LIMITED_TEXT, headers={"Retry-After": str(fault.retry_after or 0)}
        )
    elif fault.kind == Kind.SERVER_ERROR:
        raise CodatApiError(500, SERVER_ERROR_TEXT)
    elif fault.kind == Kind.UNAVAILABLE:
        raise CodatApiError(503, UNAVAILABLE_TEXT)
