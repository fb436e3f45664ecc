"""Serve requests to the sandbox inside this process, for `httpx.WSGITransport`.

The app's Codat client can then reach the sandbox without a socket: a single-worker dev server
would otherwise wait on itself, and tests would need a live server.

Django's own `WSGIHandler` is unsuitable: it fires `request_started`/`request_finished`, whose
`close_old_connections` receiver closes or recycles the database connection. Called in the
middle of an outer request or of a test's transaction, that would end the caller's transaction
under its feet (in a test, the very transaction holding the rows it just created). The test
client's `ClientHandler` disconnects that receiver around the request, which is exactly
what is needed; this module adapts its response object to the WSGI calling convention.

    client = httpx.Client(
        transport=httpx.WSGITransport(app=wsgi_app),
        base_url="http://testserver/sandbox/codat",
    )

The call runs in the caller's thread for the same reason: that is where the caller's database
connection and transaction are. `httpx.WSGITransport` therefore cannot time out; the app's
client uses `codat.transport.InProcessTransport` instead, which tells the sandbox when the
caller stops waiting (its injected latency stops there) and then raises `httpx.ReadTimeout`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.dispatch import receiver
from django.http import HttpResponse, HttpResponseBase
from django.test.client import ClientHandler
from django.test.signals import setting_changed

StartResponse = Callable[..., Any]

_handler: ClientHandler | None = None
_handler_lock = threading.Lock()


def _get_handler() -> ClientHandler:
    # Loading the middleware chain is slow; one handler serves every request (the chain is
    # reentrant, as it is for Django's own WSGI handler under a threaded server).
    global _handler
    handler = _handler
    if handler is None:
        with _handler_lock:
            handler = _handler
            if handler is None:
                # Callers are servers using the API key, never a browser with a session, so
                # CSRF checks have nothing to protect here.
                handler = _handler = ClientHandler(enforce_csrf_checks=False)
    return handler


@receiver(setting_changed)
def _forget_handler(**kwargs: Any) -> None:
    # Middleware reads some settings once, when built (SecurityMiddleware's SSL redirect, for
    # one); a test that overrides settings must get a chain built with its values.
    global _handler
    _handler = None


def _headers(response: HttpResponseBase) -> list[tuple[str, str]]:
    headers = [(str(name), str(value)) for name, value in response.items()]
    # Each cookie is its own Set-Cookie header; they cannot be folded into one.
    headers += [
        ("Set-Cookie", morsel.output(header="").strip()) for morsel in response.cookies.values()
    ]
    return headers


def wsgi_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI application serving the whole Django project in-process, transaction-safe."""
    response = _get_handler()(environ)
    status = f"{response.status_code} {response.reason_phrase}"
    start_response(status, _headers(response))
    if response.streaming:
        # Read to the end here: `ClientHandler` closes a streaming response (with the
        # connection-closing receiver disconnected) only once its content is exhausted, and a
        # caller that stopped early would leave it open. Sandbox bodies are small (JSON, a
        # logo), so buffering costs nothing; Django turns async content into sync chunks.
        return [b"".join(response)]
    # The handler has already closed a non-streaming response (firing request_finished with
    # the connection-closing receiver disconnected); its content stays readable.
    assert isinstance(response, HttpResponse)  # what every response that does not stream is
    return [response.content]
