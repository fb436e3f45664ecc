"""The request machinery under `CodatClient`: timeouts, budget, retries, breaker, named errors.

Promises kept here (docs/promises.md; Codat's side in docs/codat.md §7):
- X1: every attempt has explicit connect and read timeouts, capped by what is left of the
  client's total budget, which counts from construction and covers calls, retries and waits.
- X2: only transient failures are retried (408, 429, 5xx, connect failures, and read failures on
  idempotent methods), a few times, with capped exponential backoff and full jitter. A POST that
  may have reached Codat is never re-sent; the error says `may_have_been_applied` instead.
- X3: a 429's Retry-After (seconds or HTTP-date) is waited out once if it fits the budget,
  otherwise CodatRateLimited is raised at once.
- X5: with a breaker, transient failures are counted and calls fail fast while it is open.

Logs name the method, the path (never the query string, which can carry customer ids) and
Codat's correlationId. They never carry the API key, the Authorization header or a raw body.
"""

from __future__ import annotations

import base64
import functools
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NotRequired, Required, Self, TypedDict, TypeVar

import httpx

from codat.breaker import CircuitBreaker
from codat.errors import (
    CodatError,
    CodatNotFound,
    CodatRateLimited,
    CodatRejected,
    CodatUnavailable,
    DatasetAlreadyInProgress,
)

logger = logging.getLogger("codat")

T = TypeVar("T")

USER_AGENT = f"ConsentPortal/0.1 (Codat client; httpx/{httpx.__version__})"

# Capped exponential backoff with full jitter: retry n waits uniform(0, min(cap, base * 2^(n-1))).
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_FACTOR = 2.0
BACKOFF_CAP_SECONDS = 4.0
# An attempt with less time than this left cannot usefully finish; fail fast instead.
MIN_ATTEMPT_SECONDS = 0.1

# Methods Codat treats as idempotent: repeating them cannot create a second object.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
# Methods that change nothing, so "may have been applied" never matters for them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Transport failures that prove the request never left this process or never reached Codat,
# so even a POST may be sent again.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Transport failures that are our own misconfiguration; retrying cannot help.
PERMANENT_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = (httpx.UnsupportedProtocol,)


class ClientOptions(TypedDict, total=False):
    """`BaseClient`'s keyword arguments, for subclasses that pass them through."""

    api_key: Required[str]
    base_url: Required[str]
    transport: NotRequired[httpx.BaseTransport | None]
    connect_timeout: NotRequired[float]
    read_timeout: NotRequired[float]
    budget: NotRequired[float]
    max_attempts: NotRequired[int]
    sleep: NotRequired[Callable[[float], None]]
    clock: NotRequired[Callable[[], float]]
    breaker: NotRequired[CircuitBreaker | None]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The certificate authorities httpx trusts by default, loaded once per process. Loading
    them costs tens of milliseconds of CPU, and a client is made per unit of work; one
    SSLContext serves every client and thread (certificate and host checks unchanged)."""
    return httpx.create_ssl_context()


class BaseClient:
    """One httpx client to Codat with a time budget; `_call` sends one logical request."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        transport: httpx.BaseTransport | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 8.0,
        budget: float = 10.0,
        max_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._breaker = breaker
        # Kept for the unauthenticated image client (CodatClient.download_image).
        self._transport = transport
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.budget = budget
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + budget
        # Codat's scheme is Basic with the base64 of the key alone (no "user:password" pair).
        token = base64.b64encode(api_key.encode()).decode("ascii")
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            headers={
                "Authorization": f"Basic {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            follow_redirects=False,
            verify=_tls_context(),
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def remaining_budget(self) -> float:
        """Seconds this client may still spend talking to Codat."""
        return self._deadline - self._clock()

    def _call(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[Any], T] | None,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one logical request, retrying what is safe to retry, and parse the answer.

        `parse=None` means the success answer has no body worth reading (204, or Codat's
        empty 200 on delete-connection). `idempotent` overrides the method's usual nature for
        a POST that replaces state wholesale (sync settings), which is safe to send twice.
        """
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        changes_state = method not in SAFE_METHODS
        attempt = 0
        waited_for_rate_limit = False
        last_error: CodatError | None = None

        while True:
            attempt += 1
            if self._breaker is not None and not self._breaker.allow():
                error = last_error or CodatUnavailable(
                    "Codat has been failing; not calling it for a while (circuit open)"
                )
                self._log_failure(error, method, path, attempt - 1)
                raise error
            remaining = self.remaining_budget
            if remaining < MIN_ATTEMPT_SECONDS:
                error = last_error or CodatUnavailable(
                    "Codat request budget exhausted before the request was sent"
                )
                self._log_failure(error, method, path, attempt - 1)
                raise error

            try:
                response = self._http.request(
                    method,
                    path,
                    params=params,
                    json=json_body,
                    timeout=self._timeout(remaining),
                )
            except httpx.TransportError as exc:
                self._record(success=False)
                never_sent = isinstance(exc, NOT_SENT_ERRORS)
                error = CodatUnavailable(
                    f"Codat unreachable ({type(exc).__name__})",
                    may_have_been_applied=changes_state and not never_sent,
                )
                retryable = not isinstance(exc, PERMANENT_TRANSPORT_ERRORS) and (
                    never_sent or idempotent
                )
                if retryable and self._backoff_then_retry(error, method, path, attempt):
                    last_error = error
                    continue
                self._log_failure(error, method, path, attempt)
                raise error from exc

            # Any answer but a 5xx or 408 shows Codat is up (a 429 says nothing either way).
            if response.status_code >= 500 or response.status_code == 408:
                self._record(success=False)
            elif response.status_code != 429:
                self._record(success=True)

            if response.is_success:
                if parse is None:
                    return None
                return self._parse(response, method, path, parse)

            error = _error_from_response(response, may_have_been_applied=changes_state)
            status = response.status_code

            if status == 429:
                retry_after = _parse_retry_after(response.headers.get("Retry-After"))
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                # Codat refused the request outright, so a retry is safe even for a POST.
                if not waited_for_rate_limit and attempt < self.max_attempts and self._fits(wait):
                    waited_for_rate_limit = True
                    self._log_retry(error, method, path, attempt, wait)
                    self._sleep(wait)
                    last_error = error
                    continue
                limited = CodatRateLimited(
                    error.message,
                    retry_after=retry_after,
                    status_code=429,
                    correlation_id=error.correlation_id,
                    may_have_been_applied=False,
                )
                self._log_failure(limited, method, path, attempt)
                raise limited

            transient = status == 408 or status >= 500
            if transient and idempotent and self._backoff_then_retry(error, method, path, attempt):
                last_error = error
                continue

            self._log_failure(error, method, path, attempt)
            raise error

    def _record(self, *, success: bool) -> None:
        if self._breaker is None:
            return
        if success:
            self._breaker.record_success()
        else:
            self._breaker.record_failure()

    def _timeout(self, remaining: float) -> httpx.Timeout:
        connect = min(self.connect_timeout, remaining)
        read = min(self.read_timeout, remaining)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** (attempt - 1))
        return _jitter(ceiling)

    def _fits(self, wait: float) -> bool:
        """True when waiting `wait` seconds still leaves time for a useful attempt."""
        return wait + MIN_ATTEMPT_SECONDS <= self.remaining_budget

    def _backoff_then_retry(self, error: CodatError, method: str, path: str, attempt: int) -> bool:
        if attempt >= self.max_attempts:
            return False
        wait = self._backoff(attempt)
        if not self._fits(wait):
            return False
        self._log_retry(error, method, path, attempt, wait)
        self._sleep(wait)
        return True

    def _parse(
        self, response: httpx.Response, method: str, path: str, parse: Callable[[Any], T]
    ) -> T:
        try:
            return parse(response.json())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # json.JSONDecodeError and UnicodeDecodeError are ValueErrors; the others mean
            # the JSON had the wrong shape. Either way Codat (or a proxy) answered nonsense.
            error = CodatUnavailable(
                f"Codat answered {response.status_code} with a body that is not the expected JSON",
                status_code=response.status_code,
            )
            self._log_failure(error, method, path, 1)
            raise error from exc

    def _log_retry(
        self, error: CodatError, method: str, path: str, attempt: int, wait: float
    ) -> None:
        logger.info(
            "Codat %s %s failed (%s, status=%s, correlationId=%s); retry %d of %d in %.2fs",
            method,
            path,
            error.message,
            error.status_code,
            error.correlation_id,
            attempt,
            self.max_attempts - 1,
            wait,
        )

    def _log_failure(self, error: CodatError, method: str, path: str, attempts: int) -> None:
        logger.warning(
            "Codat %s %s failed after %d attempt(s): %s (%s, status=%s, correlationId=%s, "
            "mayHaveBeenApplied=%s)",
            method,
            path,
            attempts,
            error.message,
            type(error).__name__,
            error.status_code,
            error.correlation_id,
            error.may_have_been_applied,
        )


def _jitter(ceiling: float) -> float:
    """Full jitter: anywhere between no wait and the ceiling. Tests replace this."""
    return random.uniform(0.0, ceiling)


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds to wait: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is not a wait
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_from_response(response: httpx.Response, *, may_have_been_applied: bool) -> CodatError:
    """Codat's ErrorMessage body turned into the named error for the status (docs/codat.md §7)."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}

    error_text = body.get("error")
    message = (
        error_text if isinstance(error_text, str) and error_text else f"Codat answered {status}"
    )
    correlation = body.get("correlationId")
    correlation_id = str(correlation) if correlation else None
    validation = _validation_messages(body.get("validation"))

    if status == 404:
        return CodatNotFound(message, status_code=status, correlation_id=correlation_id)
    if status == 408 or status >= 500:
        return CodatUnavailable(
            message,
            status_code=status,
            correlation_id=correlation_id,
            may_have_been_applied=may_have_been_applied,
        )
    if status == 429:
        return CodatRateLimited(message, status_code=status, correlation_id=correlation_id)
    if 400 <= status < 500 and message.startswith("DatasetAlreadyInProgressException"):
        return DatasetAlreadyInProgress(
            message, validation=validation, status_code=status, correlation_id=correlation_id
        )
    if 400 <= status < 500:
        return CodatRejected(
            message, validation=validation, status_code=status, correlation_id=correlation_id
        )
    # 1xx/3xx: nothing this client asks for answers like that; treat as Codat misbehaving.
    return CodatUnavailable(message, status_code=status, correlation_id=correlation_id)


def _validation_messages(validation: Any) -> list[str]:
    if not isinstance(validation, dict):
        return []
    items = validation.get("errors") or []
    if not isinstance(items, list):
        return []
    return [
        item["message"]
        for item in items
        if isinstance(item, dict) and isinstance(item.get("message"), str)
    ]
