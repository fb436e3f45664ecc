"""The Codat Platform API client: one httpx client per unit of work, typed results, named errors.

Promises kept here (docs/promises.md):
- X1: every attempt has explicit connect and read timeouts, capped by what is left of the
  client's total budget, which counts from construction and covers calls, retries and waits.
- X2: only transient failures are retried (408, 429, 5xx, connect failures, and read failures on
  idempotent methods), a few times, with capped exponential backoff and full jitter. A POST that
  may have reached Codat is never re-sent; the error says `may_have_been_applied` instead.
- X3: a 429's Retry-After (seconds or HTTP-date) is waited out once if it fits the budget,
  otherwise CodatRateLimited is raised at once.
- C5 / docs/architecture.md §4: every call that makes Codat fetch or hand over a data type
  (refreshes, sync settings, future data reads) first asks the consent gate which types the
  customer allows, and raises DataTypeNotConsented before any network I/O for any other type.
  Without a gate nothing is allowed.

Logs name the method, the path (never the query string, which can carry customer ids) and
Codat's correlationId. They never carry the API key, the Authorization header or a raw body.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from codat.breaker import CircuitBreaker
from codat.errors import (
    CodatError,
    CodatNotFound,
    CodatRateLimited,
    CodatRejected,
    CodatUnavailable,
    DatasetAlreadyInProgress,
    DataTypeNotConsented,
)
from codat.types import (
    Branding,
    Company,
    Connection,
    DataConnectionError,
    DataStatus,
    Integration,
    Page,
    PullOperation,
    SyncSetting,
)

logger = logging.getLogger("codat")

T = TypeVar("T")

# Maps a Codat company id to the data types its customer currently consents to. The app hands
# one in (companies.codat_client); without one, every data-type call is refused.
DataTypeGate = Callable[[str], Collection[str]]

USER_AGENT = f"ConsentPortal/0.1 (Codat client; httpx/{httpx.__version__})"

# Capped exponential backoff with full jitter: retry n waits uniform(0, min(cap, base * 2^(n-1))).
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_FACTOR = 2.0
BACKOFF_CAP_SECONDS = 4.0
# An attempt with less time than this left cannot usefully finish; fail fast instead.
MIN_ATTEMPT_SECONDS = 0.1
# Page size used when following every page: Codat's documented default.
ALL_PAGES_SIZE = 100

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


class CodatClient:
    """Talks to Codat's Platform API. Make a fresh one per unit of work."""

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
        data_type_gate: DataTypeGate | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # None means no consent source is wired in; _require_consent then refuses every type.
        self._data_type_gate = data_type_gate
        self._breaker = breaker
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
        )

    def __repr__(self) -> str:
        return f"<CodatClient {self.base_url}>"

    def __enter__(self) -> CodatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def remaining_budget(self) -> float:
        """Seconds this client may still spend talking to Codat."""
        return self._deadline - self._clock()

    # --- Companies -------------------------------------------------------------------------

    # Codat: create-company (POST /companies)
    def create_company(
        self, *, name: str, description: str = "", tags: dict[str, str] | None = None
    ) -> Company:
        body: dict[str, Any] = {"name": name}
        if description:
            body["description"] = description
        if tags:
            body["tags"] = dict(tags)
        return self._call("POST", "/companies", json_body=body, parse=_company)

    # Codat: get-company (GET /companies/{companyId})
    def get_company(self, company_id: str) -> Company:
        return self._call("GET", f"/companies/{_seg(company_id)}", parse=_company)

    # Codat: list-companies (GET /companies)
    def list_companies(
        self, *, tags: str | None = None, page: int = 1, page_size: int = 100
    ) -> Page[Company]:
        params: dict[str, str | int] = {"page": page, "pageSize": page_size}
        if tags is not None:
            params["tags"] = tags
        return self._call("GET", "/companies", params=params, parse=_page_of(_company))

    # Codat: list-companies (GET /companies?tags=key=value), every page
    def find_companies_by_tag(self, key: str, value: str) -> list[Company]:
        return _every_page(
            lambda page: self.list_companies(
                tags=f"{key}={value}", page=page, page_size=ALL_PAGES_SIZE
            )
        )

    # Codat: delete-company (DELETE /companies/{companyId})
    def delete_company(self, company_id: str) -> None:
        self._call("DELETE", f"/companies/{_seg(company_id)}", parse=None)

    # --- Connections -----------------------------------------------------------------------

    # Codat: create-connection (POST /companies/{companyId}/connections)
    def create_connection(self, company_id: str, *, platform_key: str) -> Connection:
        return self._call(
            "POST",
            f"/companies/{_seg(company_id)}/connections",
            json_body={"platformKey": platform_key},
            parse=parse_connection,
        )

    # Codat: get-connection (GET /companies/{companyId}/connections/{connectionId})
    def get_connection(self, company_id: str, connection_id: str) -> Connection:
        return self._call(
            "GET",
            f"/companies/{_seg(company_id)}/connections/{_seg(connection_id)}",
            parse=parse_connection,
        )

    # Codat: list-connections (GET /companies/{companyId}/connections)
    def list_connections(
        self, company_id: str, *, page: int = 1, page_size: int = 100
    ) -> Page[Connection]:
        return self._call(
            "GET",
            f"/companies/{_seg(company_id)}/connections",
            params={"page": page, "pageSize": page_size},
            parse=_page_of(parse_connection),
        )

    # Codat: list-connections (GET /companies/{companyId}/connections), every page
    def list_all_connections(self, company_id: str) -> list[Connection]:
        return _every_page(
            lambda page: self.list_connections(company_id, page=page, page_size=ALL_PAGES_SIZE)
        )

    # Codat: delete-connection (DELETE /companies/{companyId}/connections/{connectionId})
    def delete_connection(self, company_id: str, connection_id: str) -> None:
        # Codat answers 200 with an empty body here (not 204), so nothing is parsed.
        self._call(
            "DELETE",
            f"/companies/{_seg(company_id)}/connections/{_seg(connection_id)}",
            parse=None,
        )

    # Codat: unlink-connection (PATCH /companies/{companyId}/connections/{connectionId})
    def unlink_connection(self, company_id: str, connection_id: str) -> Connection:
        return self._call(
            "PATCH",
            f"/companies/{_seg(company_id)}/connections/{_seg(connection_id)}",
            json_body={"status": "Unlinked"},
            parse=parse_connection,
        )

    # --- Integrations ----------------------------------------------------------------------

    # Codat: list-integrations (GET /integrations)
    def list_integrations(
        self, *, page: int = 1, page_size: int = 100, query: str | None = None
    ) -> Page[Integration]:
        params: dict[str, str | int] = {"page": page, "pageSize": page_size}
        if query is not None:
            params["query"] = query
        return self._call("GET", "/integrations", params=params, parse=_page_of(_integration))

    # Codat: list-integrations (GET /integrations), every page
    def list_all_integrations(self, *, query: str | None = None) -> list[Integration]:
        return _every_page(
            lambda page: self.list_integrations(page=page, page_size=ALL_PAGES_SIZE, query=query)
        )

    # Codat: get-integration (GET /integrations/{platformKey})
    def get_integration(self, platform_key: str) -> Integration:
        return self._call("GET", f"/integrations/{_seg(platform_key)}", parse=_integration)

    # Codat: get-integrations-branding (GET /integrations/{platformKey}/branding)
    def get_branding(self, platform_key: str) -> Branding:
        return self._call("GET", f"/integrations/{_seg(platform_key)}/branding", parse=_branding)

    # --- Data: sync settings, refresh, status, pull operations -------------------------------

    # Codat: get-company-syncSettings (GET /companies/{companyId}/syncSettings)
    def get_sync_settings(self, company_id: str) -> list[SyncSetting]:
        return self._call(
            "GET", f"/companies/{_seg(company_id)}/syncSettings", parse=_sync_settings
        )

    # Codat: set-company-syncSettings (POST /companies/{companyId}/syncSettings)
    def set_sync_settings(self, company_id: str, settings: Sequence[SyncSetting]) -> None:
        """Make `settings` the company's sync settings, overriding the client's defaults.

        Every listed type must pass the consent gate, even one being switched off: to stop
        Codat fetching a type, leave it out of the list.
        """
        self._require_consent(company_id, [setting.data_type for setting in settings])
        body = {
            "companyId": company_id,
            "settings": [_sync_setting_json(setting) for setting in settings],
            "overridesDefaults": True,
        }
        self._call(
            "POST",
            f"/companies/{_seg(company_id)}/syncSettings",
            json_body=body,
            parse=None,
            # The body replaces the company's settings wholesale, so sending it twice is safe.
            idempotent=True,
        )

    # Codat: refresh-data-type (POST /companies/{companyId}/data/queue/{dataType})
    def queue_data_type(
        self, company_id: str, data_type: str, *, connection_id: str | None = None
    ) -> PullOperation:
        """Ask Codat to fetch one data type now (all Linked connections, or just one).

        Raises DatasetAlreadyInProgress when the previous fetch of the type is still running.
        """
        self._require_consent(company_id, [data_type])
        params: dict[str, str | int] = {}
        if connection_id is not None:
            params["connectionId"] = connection_id
        return self._call(
            "POST",
            f"/companies/{_seg(company_id)}/data/queue/{_seg(data_type)}",
            params=params or None,
            parse=_pull_operation,
        )

    # Codat: get-company-data-status (GET /companies/{companyId}/dataStatus)
    def get_data_status(self, company_id: str) -> dict[str, DataStatus]:
        return self._call("GET", f"/companies/{_seg(company_id)}/dataStatus", parse=_data_statuses)

    # Codat: list-pull-operations (GET /companies/{companyId}/data/history)
    def list_pull_operations(
        self,
        company_id: str,
        *,
        page: int = 1,
        page_size: int = 100,
        query: str | None = None,
    ) -> Page[PullOperation]:
        params: dict[str, str | int] = {"page": page, "pageSize": page_size}
        if query is not None:
            params["query"] = query
        return self._call(
            "GET",
            f"/companies/{_seg(company_id)}/data/history",
            params=params,
            parse=_page_of(_pull_operation),
        )

    # Codat: get-pull-operation (GET /companies/{companyId}/data/history/{datasetId})
    def get_pull_operation(self, company_id: str, dataset_id: str) -> PullOperation:
        return self._call(
            "GET",
            f"/companies/{_seg(company_id)}/data/history/{_seg(dataset_id)}",
            parse=_pull_operation,
        )

    # --- The consent gate ------------------------------------------------------------------

    def _require_consent(self, company_id: str, data_types: Iterable[str]) -> None:
        """Refuse, before any network I/O, a data type the customer has not consented to.

        The gate is asked once per call, so one call sees one consistent answer.
        """
        wanted = list(data_types)
        if not wanted:
            return
        if self._data_type_gate is None:
            # Fail closed: a client built without a consent source must not move any data.
            raise DataTypeNotConsented(
                f"No consent gate is configured, so {wanted[0]} may not be fetched for "
                f"company {company_id}",
                data_type=wanted[0],
                company_id=company_id,
            )
        allowed = self._data_type_gate(company_id)
        for data_type in wanted:
            if data_type not in allowed:
                logger.warning(
                    "Consent gate refused %s for Codat company %s", data_type, company_id
                )
                raise DataTypeNotConsented(
                    f"No active consent covers {data_type} for company {company_id}",
                    data_type=data_type,
                    company_id=company_id,
                )

    # --- The one request loop --------------------------------------------------------------

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


# --- Helpers ---------------------------------------------------------------------------------


def _jitter(ceiling: float) -> float:
    """Full jitter: anywhere between no wait and the ceiling. Tests replace this."""
    return random.uniform(0.0, ceiling)


def _seg(value: str) -> str:
    """One path segment, percent-encoded so an id can never change the path (`../`, `?`)."""
    return quote(str(value), safe="")


def _every_page(fetch: Callable[[int], Page[T]]) -> list[T]:
    results: list[T] = []
    page_number = 1
    while True:
        page = fetch(page_number)
        results.extend(page.results)
        # An empty page ends the walk even if totalResults claims more, so a server that
        # miscounts cannot keep us paging for ever.
        if not page.results or not page.has_next:
            return results
        page_number += 1


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
    """Codat's ErrorMessage body turned into the named error for the status."""
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


# --- JSON → dataclasses (tolerant: unknown fields ignored, optional ones defaulted) ----------


def parse_datetime(value: Any) -> datetime | None:
    """Codat's ISO 8601 date-times, which carry up to 7 fractional digits (.NET ticks).

    Accepts `Z` or an offset, any number of fractional digits, or none; a value without a zone
    is taken as UTC. Anything unreadable gives None rather than failing the whole call.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    # Python 3.11+ reads any number of fractional digits (keeping 6), and `Z`.
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return default if value is None else str(value)


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value in (None, "") else str(value)


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _company(data: Mapping[str, Any]) -> Company:
    return Company(
        id=str(data["id"]),
        name=_text(data, "name"),
        redirect=_text(data, "redirect"),
        description=_text(data, "description"),
        created=parse_datetime(data.get("created")),
        last_sync=parse_datetime(data.get("lastSync")),
        tags=_tags(data.get("tags")),
        connections=tuple(parse_connection(item) for item in data.get("dataConnections") or ()),
    )


def parse_connection(data: Mapping[str, Any]) -> Connection:
    """A Codat `Connection` object (API or webhook payload) as our typed result."""
    return Connection(
        id=str(data["id"]),
        integration_id=_text(data, "integrationId"),
        integration_key=_text(data, "integrationKey"),
        source_id=_text(data, "sourceId"),
        source_type=_text(data, "sourceType", "Unknown"),
        platform_name=_text(data, "platformName"),
        link_url=_text(data, "linkUrl"),
        status=_text(data, "status"),
        created=parse_datetime(data.get("created")),
        last_sync=parse_datetime(data.get("lastSync")),
        errors=tuple(_connection_error(item) for item in data.get("dataConnectionErrors") or ()),
    )


def _connection_error(data: Mapping[str, Any]) -> DataConnectionError:
    return DataConnectionError(
        status_code=_text(data, "statusCode"),
        status_text=_text(data, "statusText"),
        error_message=_text(data, "errorMessage"),
        errored_on=parse_datetime(data.get("erroredOnUtc")),
        status=_optional_text(data, "status"),
        resolved_on=parse_datetime(data.get("resolvedOnUtc")),
    )


def _integration(data: Mapping[str, Any]) -> Integration:
    return Integration(
        key=str(data["key"]),
        name=_text(data, "name"),
        logo_url=_text(data, "logoUrl"),
        enabled=data.get("enabled") is True,
        source_type=_text(data, "sourceType", "Unknown"),
        source_id=_optional_text(data, "sourceId"),
        integration_id=_optional_text(data, "integrationId"),
        is_beta=data.get("isBeta") is True,
    )


def _image_src(logo: Any, variant: str) -> str | None:
    if not isinstance(logo, dict):
        return None
    image = (logo.get(variant) or {}).get("image") or {}
    src = image.get("src")
    return src if isinstance(src, str) and src else None


def _branding(data: Mapping[str, Any]) -> Branding:
    if not isinstance(data, dict):
        raise TypeError("branding is not an object")
    logo = data.get("logo")
    return Branding(
        source_id=_optional_text(data, "sourceId"),
        logo_full_url=_image_src(logo, "full"),
        logo_square_url=_image_src(logo, "square"),
    )


def _page_of(parse_item: Callable[[Any], T]) -> Callable[[Any], Page[T]]:
    def parse(data: Mapping[str, Any]) -> Page[T]:
        raw_results = data.get("results")
        if raw_results is None:
            raw_results = []
        if not isinstance(raw_results, list):
            raise TypeError("results is not a list")
        results = tuple(parse_item(item) for item in raw_results)
        return Page(
            results=results,
            page_number=int(data.get("pageNumber") or 1),
            page_size=int(data.get("pageSize") or len(results) or 1),
            total_results=int(data.get("totalResults") or 0),
        )

    return parse


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return None
    return int(value)


def _sync_setting(data: Mapping[str, Any]) -> SyncSetting:
    return SyncSetting(
        data_type=str(data["dataType"]),
        fetch_on_first_link=data.get("fetchOnFirstLink") is True,
        sync_schedule=int(data.get("syncSchedule") or 0),
        sync_order=int(data.get("syncOrder") or 0),
        sync_from_window=_optional_int(data, "syncFromWindow"),
        months_to_sync=_optional_int(data, "monthsToSync"),
    )


def _sync_settings(data: Mapping[str, Any]) -> list[SyncSetting]:
    settings = data.get("settings")
    if settings is None:
        return []
    if not isinstance(settings, list):
        raise TypeError("settings is not a list")
    return [_sync_setting(item) for item in settings]


def _sync_setting_json(setting: SyncSetting) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataType": setting.data_type,
        "fetchOnFirstLink": setting.fetch_on_first_link,
        "syncSchedule": setting.sync_schedule,
        "syncOrder": setting.sync_order,
    }
    if setting.sync_from_window is not None:
        body["syncFromWindow"] = setting.sync_from_window
    if setting.months_to_sync is not None:
        body["monthsToSync"] = setting.months_to_sync
    return body


def _data_status(key: str, data: Mapping[str, Any]) -> DataStatus:
    return DataStatus(
        data_type=_text(data, "dataType", key),
        current_status=_optional_text(data, "currentStatus"),
        last_successful_sync=parse_datetime(data.get("lastSuccessfulSync")),
        latest_sync_id=_optional_text(data, "latestSyncId"),
        latest_successful_sync_id=_optional_text(data, "latestSuccessfulSyncId"),
    )


def _data_statuses(data: Mapping[str, Any]) -> dict[str, DataStatus]:
    if not isinstance(data, dict):
        raise TypeError("dataStatus is not an object")
    # The spec lets each value be null (no information about that type); those are left out,
    # as are types Codat does not mention at all.
    return {
        str(key): _data_status(str(key), value)
        for key, value in data.items()
        if isinstance(value, dict)
    }


def _pull_operation(data: Mapping[str, Any]) -> PullOperation:
    return PullOperation(
        id=str(data["id"]),
        company_id=_text(data, "companyId"),
        connection_id=_text(data, "connectionId"),
        data_type=str(data["dataType"]),
        status=str(data["status"]),
        requested=parse_datetime(data.get("requested")),
        progress=int(data.get("progress") or 0),
        is_completed=data.get("isCompleted") is True,
        is_errored=data.get("isErrored") is True,
        completed=parse_datetime(data.get("completed")),
        status_description=_optional_text(data, "statusDescription"),
        error_message=_optional_text(data, "errorMessage"),
    )
