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
from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, get_resolver, get_urlconf, reverse
from django.utils.module_loading import import_string

from companies.scoping import scope_only
from connections.webhooks import codat_webhook

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


def unusable_head(request: HttpRequest) -> str | None:
    """What is unusable in the request's path, query string, headers or cookies, or None."""
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
    )


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
        return unusable_head(request) or self._body_problem(request)

    def _body_problem(self, request: HttpRequest) -> str | None:
        if request.path == self._webhook_and_sandbox_api_paths()[0]:
            return None
        content_type = (request.content_type or "").lower()
        if content_type == "application/x-www-form-urlencoded":
            return _percent_encoded_problem(request.body)
        if content_type == "multipart/form-data" and request.method == "POST":
            return _multipart_problem(request)
        return None


# The middlewares in front of the stack that only add headers to every answer, in MIDDLEWARE
# order. The webhook's fast path gives its answers what they add (WebhookFastPathMiddleware).
ANSWER_HEADER_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
)


def _empty_answer(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


class WebhookFastPathMiddleware:
    """Codat's deliveries go straight to the intake view, past the page machinery (W5).

    A webhook is the busiest request we serve and the plainest: a signed POST from a machine,
    with no session, user, CSRF token, tenant, message or template. Through the whole stack
    (sessions, authentication, CSRF, tenant scope, messages, rate limits, and the URLconf
    tried route by route) it cost about as much CPU as storing the event; first in
    MIDDLEWARE, this hands it to the view directly. What every answer gets, it still gets:

    - a request whose path, query string, headers or cookies carry input no view can use, or
      whose Host is not allowed, takes the whole stack instead, and is refused there exactly
      as before;
    - the headers the header middlewares add (HSTS over HTTPS, CSP, X-Frame-Options, nosniff,
      referrer and opener policies): for this answer they vary with nothing but the scheme, so
      those middlewares work them out once per scheme, and every answer is given them;
    - no tenant scope, as for every anonymous request (TenantScopeMiddleware), so a tenant
      query would fail closed;
    - no redirect to HTTPS: the webhook is exempt (SECURE_REDIRECT_EXEMPT), and should that
      change, the whole stack answers instead.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._path: str | None = None
        # Headers for this path's answers, by whether the request came over HTTPS.
        self._headers: dict[bool, list[tuple[str, str]]] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != self._webhook_path() or unusable_head(request) is not None:
            return self.get_response(request)
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks for every request
        except DisallowedHost:
            return self.get_response(request)
        headers = self._answer_headers(request)
        if headers is None:
            return self.get_response(request)
        with scope_only():
            response = codat_webhook(request)
        for name, value in headers:
            response.headers.setdefault(name, value)
        return response

    def _webhook_path(self) -> str | None:
        # Resolved on first use, as in RejectUnusableInputMiddleware.
        if self._path is None:
            self._path = _path_of("codat_webhook") or ""
        return self._path or None

    def _answer_headers(self, request: HttpRequest) -> list[tuple[str, str]] | None:
        """What the header middlewares add to an answer on this path; None if they would
        answer themselves (a redirect)."""
        secure = request.is_secure()
        if secure not in self._headers:
            dressed: Callable[[HttpRequest], HttpResponse] = _empty_answer
            for path in reversed(ANSWER_HEADER_MIDDLEWARE):
                dressed = import_string(path)(dressed)
            probe = dressed(request)
            if probe.status_code != 200:
                return None
            bare = HttpResponse().headers
            self._headers[secure] = [(k, v) for k, v in probe.items() if k not in bare]
        return self._headers[secure]
