"""Requests carrying input that no view can use are refused with 400 before anything reads it.

NUL bytes are the sharp case: PostgreSQL can neither store nor compare text containing them, so
a single `%00` in an admin filter, a search box or a quoted session cookie ended as a 500
(DataError) wherever it reached a query. Bytes that are not UTF-8 are quietly turned into
replacement characters by Django, so a view would act on something the client never sent.
Neither has a legitimate use here, so both are refused once, in one place, instead of in every
view and every query; so are query strings longer than any front server passes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, get_resolver, get_urlconf, reverse

security_log = logging.getLogger("consent_portal.security")

NUL = "a NUL byte"
NOT_UTF8 = "bytes that are not UTF-8"
# Front servers refuse longer request lines anyway (gunicorn at 4 KiB, nginx at 8 KiB) and no
# link of ours comes near; longer ones only reached limits deeper down (SQLite refuses a LIKE
# pattern over 50,000 bytes, so a long admin search was a 500).
MAX_QUERY_STRING_BYTES = 8 * 1024
TOO_LONG = f"a query string over {MAX_QUERY_STRING_BYTES} bytes"


class UnusableInput(SuspiciousOperation):
    """What the 400 handler is given as the reason."""


def _raw(text: str) -> bytes:
    # Under WSGI the raw bytes arrive as latin-1 text (PEP 3333); under ASGI they are already
    # decoded, and any surrogates left in them fail the UTF-8 check, as they should.
    try:
        return text.encode("iso-8859-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogatepass")


def _percent_encoded_problem(data: bytes) -> str | None:
    # Decoding the whole string at once judges every name and value: `&` and `=` are ASCII, so
    # no UTF-8 sequence can straddle them.
    decoded = unquote_to_bytes(data)
    if b"\x00" in decoded:
        return NUL
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    return None


def _query_string_problem(data: bytes) -> str | None:
    if len(data) > MAX_QUERY_STRING_BYTES:
        return TOO_LONG
    return _percent_encoded_problem(data)


def _texts_problem(texts: Iterable[str]) -> str | None:
    return NUL if any("\x00" in text for text in texts) else None


def _multipart_problem(request: HttpRequest) -> str | None:
    # Read the raw body first so that it stays readable after the parse below, for a view that
    # wants it. The app takes no uploads, so the body's size limit costs nothing.
    request.body  # noqa: B018
    texts = [text for name, values in request.POST.lists() for text in (name, *values)]
    if problem := _texts_problem(texts):
        return problem
    # Django decodes multipart fields with replacement characters and keeps no raw bytes, so a
    # replacement character is the only trace of invalid UTF-8. No form of ours needs one.
    if any("\ufffd" in text for text in texts):
        return NOT_UTF8
    return None


def _path_of(url_name: str | None) -> str | None:
    try:
        return reverse(url_name) if url_name else None
    except NoReverseMatch:  # a URLconf without that route (the sandbox off, a test's own)
        return None


class RejectUnusableInputMiddleware:
    """400 for a NUL byte in the path, query string, a header or a cookie; for bytes that are not
    UTF-8 in the query string; for an over-long query string; and for either of the first two in
    an urlencoded or multipart form body. On every route.

    The webhook intake reads its raw body itself, with its own size limit and answers (B1, B2),
    so only its path, query string and headers are checked here. Under the sandbox's Codat API
    the refusal is Codat's JSON error body, which API clients expect; everywhere else it is the
    project's 400 page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._paths: tuple[str | None, str | None] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = self._problem(request)
        if problem is None:
            return self.get_response(request)
        # A warning, not Django's error-with-traceback for SuspiciousOperation: a flood of
        # `%00` requests should cost a line each.
        security_log.warning(
            "Refused %s %r: it contains %s", request.method, request.path_info[:200], problem
        )
        if self._in_sandbox_api(request.path):
            # Imported only here: the sandbox is an optional app, installed only while it is on.
            from codat_sandbox.errors import CodatApiError

            return CodatApiError(
                400, f"Error processing request - the request contains {problem}."
            ).response()
        handler = get_resolver(get_urlconf()).resolve_error_handler(400)
        # django-stubs types every error handler as taking the request alone; only the 500
        # one does, and Django calls the 400 one with the exception too.
        return handler(request, UnusableInput(f"The request contains {problem}."))  # type: ignore[call-arg]

    def _webhook_and_sandbox_api_paths(self) -> tuple[str | None, str | None]:
        # Resolved on first use, not at start-up: the URLconf imports views, which may import
        # things that are not ready yet while middleware is being built.
        if self._paths is None:
            sandbox_api = "codat_sandbox:api_not_found" if settings.CODAT_SANDBOX_ENABLED else None
            self._paths = (_path_of("codat_webhook"), _path_of(sandbox_api))
        return self._paths

    def _in_sandbox_api(self, path: str) -> bool:
        sandbox_api = self._webhook_and_sandbox_api_paths()[1]
        return sandbox_api is not None and (
            path == sandbox_api or path.startswith(f"{sandbox_api}/")
        )

    def _problem(self, request: HttpRequest) -> str | None:
        meta = request.META
        return (
            # Django has already percent-encoded any bytes of the path that are not UTF-8
            # (repercent_broken_unicode), so only a NUL is left to find there.
            _texts_problem([request.path_info])
            or _query_string_problem(_raw(meta.get("QUERY_STRING", "")))
            or _texts_problem(
                value
                for key, value in meta.items()
                if key.startswith("HTTP_") and isinstance(value, str)
            )
            # A quoted cookie value may carry an octal escape (`"\000"`) that parses to a NUL.
            or _texts_problem(text for item in request.COOKIES.items() for text in item)
            or self._body_problem(request)
        )

    def _body_problem(self, request: HttpRequest) -> str | None:
        if request.path == self._webhook_and_sandbox_api_paths()[0]:
            return None
        content_type = (request.content_type or "").lower()
        if content_type == "application/x-www-form-urlencoded":
            return _percent_encoded_problem(request.body)
        if content_type == "multipart/form-data" and request.method == "POST":
            return _multipart_problem(request)
        return None
