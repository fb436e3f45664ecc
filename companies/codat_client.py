"""The Django side of the Codat client: one configured from settings, per unit of work.

`codat/` is a plain library that knows nothing of Django or of our apps; this is where the app
chooses what it talks to (the real Codat, or the built-in sandbox inside this process) and
hands the client what it needs: the key, timeouts, budget, a circuit breaker in the shared
cache, and — from the consents app, the only one that knows what customers agreed to — the
consent gate (and, for reads of the data, each product's own: consents.data_use). A client built
here without a gate refuses every data-type call and every read (fail closed).
"""

from __future__ import annotations

import httpx
from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string

from codat.breaker import CircuitBreaker
from codat.client import CodatClient, DataTypeGate, ReadGate, ReadObserver
from codat.transport import InProcessTransport

# Named by string: the sandbox is an optional app, installed only while it is on.
SANDBOX_WSGI_APP = "codat_sandbox.inprocess.wsgi_app"


def get_client(
    *,
    budget: float | None = None,
    data_type_gate: DataTypeGate | None = None,
    read_gate: ReadGate | None = None,
    read_observer: ReadObserver | None = None,
) -> CodatClient:
    """A fresh client per unit of work, configured from Django settings.

    In sandbox mode the key is the sandbox's, and with CODAT_SANDBOX_IN_PROCESS the requests go
    straight into the sandbox's WSGI app instead of over a socket to this same server, through
    a transport that keeps the read timeout and so the budget (X1; see codat.transport).
    """
    transport: httpx.BaseTransport | None = None
    if settings.CODAT_SANDBOX_ENABLED:
        api_key = settings.CODAT_SANDBOX_KEY
        if settings.CODAT_SANDBOX_IN_PROCESS:
            transport = InProcessTransport(import_string(SANDBOX_WSGI_APP))
    else:
        api_key = settings.CODAT_API_KEY
    return CodatClient(
        api_key=api_key,
        base_url=settings.CODAT_BASE_URL,
        transport=transport,
        connect_timeout=settings.CODAT_CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.CODAT_READ_TIMEOUT_SECONDS,
        budget=settings.CODAT_REQUEST_BUDGET_SECONDS if budget is None else budget,
        data_type_gate=data_type_gate,
        read_gate=read_gate,
        read_observer=read_observer,
        breaker=_circuit_breaker(),
    )


def _circuit_breaker() -> CircuitBreaker | None:
    if settings.CODAT_CIRCUIT_FAIL_MAX <= 0:
        return None
    return CircuitBreaker(
        cache,
        fail_max=settings.CODAT_CIRCUIT_FAIL_MAX,
        reset_timeout=settings.CODAT_CIRCUIT_RESET_SECONDS,
    )
