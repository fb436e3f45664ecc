"""An httpx transport into a WSGI app in this process that keeps the request's read timeout.

httpx's own `WSGITransport` ignores timeouts: it calls the app synchronously in the caller's
thread and waits for as long as the app takes. Against the in-process sandbox that broke X1: an
injected 30 s latency held the customer's web request for 30 s, past the read timeout and the
client's per-request budget, where over HTTP the socket read would have given up.

Why the app runs in the caller's thread, and is told when to stop, rather than being abandoned
by a bounded wait on a worker thread:

- The in-process sandbox must share the caller's database connection and transaction (see
  `codat_sandbox.inprocess`): a test holds its rows in one transaction that is rolled back at the
  end, and the sandbox has to see them and write next to them. Django's connections are per
  thread, so a worker thread would not see uncommitted rows, could wait on the caller's row
  locks, and would go on running (and holding its own connection) after the caller gave up.
- Instead the transport tells the app when the client stops waiting: the WSGI environ carries
  `READ_DEADLINE_ENVIRON_KEY`, a `time.monotonic()` instant, now plus the request's read timeout
  (which the client has already capped at what is left of its budget). The sandbox's injected
  latency sleeps no later than that instant, then handles the request as it would have.
- An answer that comes at or after the deadline is dropped and `httpx.ReadTimeout` is raised,
  as the socket read would have raised over HTTP, after the same time. The client's handling of
  timeouts (retries within the budget, CodatUnavailable, the circuit breaker) applies unchanged.
  As over HTTP, the server may still have acted on the request; the client already reports a
  timed-out POST as "may have been applied".

Slowness the app does not cooperate with (a slow view) cannot be cut short from the caller's
thread, but it is still reported as ReadTimeout once it ends, so the caller sees what a real
client would. The connect and pool timeouts cannot expire: there is no socket to connect and no
pool to wait for. The write timeout neither: the body is handed over in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# A server extension variable (PEP 3333 lets servers add their own, with a prefix): the
# time.monotonic() instant after which the client no longer waits for this request's answer.
READ_DEADLINE_ENVIRON_KEY = "codat.read_deadline"


class InProcessTransport(httpx.BaseTransport):
    """Calls a WSGI app in the caller's thread; an answer later than the read timeout is a
    `httpx.ReadTimeout`, and the app is told the deadline so it can stop waiting in time."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        if read_timeout is None:
            # No read timeout: the client waits as long as it takes, as it would over HTTP.
            return httpx.WSGITransport(app=self.app).handle_request(request)

        deadline = time.monotonic() + read_timeout
        app = self.app

        def app_with_deadline(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            environ[READ_DEADLINE_ENVIRON_KEY] = deadline
            return app(environ, start_response)

        # The app has produced its status and headers by now (and the sandbox's app its whole
        # body, which it buffers), so this is when the answer "arrived".
        response = httpx.WSGITransport(app=app_with_deadline).handle_request(request)
        if time.monotonic() >= deadline:
            # Over HTTP the read would have given up at the deadline; the late answer is lost.
            response.close()
            raise httpx.ReadTimeout("timed out", request=request)
        return response
