"""`CodatClient`: one method per Codat Platform API operation the portal uses (docs/codat.md).

The request machinery (timeouts, budget, retries, circuit breaker, named errors) is
`codat.http.BaseClient`; the JSON ↔ typed results mapping is `codat.parsing`.

C5 / docs/architecture.md §4: every call that makes Codat fetch or hand over a data type
(refreshes, sync settings) first asks the consent gate which types the customer allows, and
raises DataTypeNotConsented before any network I/O for any other type. Without a gate nothing
is allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar, Unpack
from urllib.parse import quote, urlsplit

import httpx

from codat.errors import (
    CodatError,
    CodatNotFound,
    CodatUnavailable,
    DataTypeNotConsented,
    ImageRefused,
)
from codat.financials import (
    BalanceSheetPeriod,
    BankAccount,
    BankBalance,
    BankTransaction,
    CashFlowPeriod,
    CompanyInfo,
    FinancialReport,
    ProfitAndLossPeriod,
    parse_balance_sheet,
    parse_bank_account,
    parse_bank_balance,
    parse_bank_transaction,
    parse_cash_flow_statement,
    parse_company_info,
    parse_profit_and_loss,
)
from codat.http import MIN_ATTEMPT_SECONDS, USER_AGENT, BaseClient, ClientOptions
from codat.parsing import (
    page_of,
    parse_branding,
    parse_client_sync_settings,
    parse_company,
    parse_connection,
    parse_data_statuses,
    parse_integration,
    parse_profile,
    parse_pull_operation,
    parse_sync_settings,
    parse_webhook_consumer,
    parse_webhook_consumers,
    profile_json,
    switches_on,
    sync_setting_json,
)
from codat.types import (
    Branding,
    ClientSyncSettings,
    Company,
    Connection,
    DataStatus,
    Image,
    Integration,
    Page,
    Profile,
    PullOperation,
    SyncSetting,
    WebhookConsumer,
)

logger = logging.getLogger("codat")

T = TypeVar("T")

# Maps a Codat company id to the data types its customer currently consents to. The app hands
# one in (companies.codat_client); without one, every data-type call is refused.
DataTypeGate = Callable[[str], Collection[str]]

# Maps a Codat company id and one of our products to the data types that product's own live
# consent covers: reads of customer data are allowed per product, never by another product's
# consent. The app hands one in (consents.data_use); without one, every read is refused.
ReadGate = Callable[[str, str], Collection[str]]


@dataclass(frozen=True)
class DataRead:
    """One read of customer data the gate decided on, told to the read observer.

    `outcome` is READ (Codat answered), REFUSED (the gate said no; nothing was sent) or FAILED
    (allowed, but Codat gave no data: an error, or nothing fetched yet)."""

    READ = "read"
    REFUSED = "refused"
    FAILED = "failed"

    company_id: str
    product: str
    data_type: str
    outcome: str
    detail: str = ""


ReadObserver = Callable[[DataRead], None]

# Where Codat's `logoUrl` and branding images live (docs/codat.md §5).
CODAT_IMAGE_HOSTS = frozenset({"static.codat.io"})
# The image types kept; anything else (HTML, an error page, a font) is refused.
IMAGE_CONTENT_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
# Codat's logos are a few kilobytes; a megabyte-sized "logo" is not one.
IMAGE_MAX_BYTES = 256 * 1024

# Page size used when following every page: Codat's documented default.
ALL_PAGES_SIZE = 100


class CodatClient(BaseClient):
    """Talks to Codat's Platform API. Make a fresh one per unit of work."""

    def __init__(
        self,
        *,
        data_type_gate: DataTypeGate | None = None,
        read_gate: ReadGate | None = None,
        read_observer: ReadObserver | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(**options)
        # None means no consent source is wired in; _require_consent then refuses every type.
        self._data_type_gate = data_type_gate
        # The same for reads of the data itself, per product (_gated_read).
        self._read_gate = read_gate
        self._read_observer = read_observer

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
        return self._call("POST", "/companies", json_body=body, parse=parse_company)

    # Codat: delete-company (DELETE /companies/{companyId}): the company, its connections and
    # every dataset Codat holds for it go. 204 with no body; a second call gets 404.
    def delete_company(self, company_id: str) -> None:
        self._call("DELETE", f"/companies/{_seg(company_id)}", parse=None)

    # Codat: list-companies (GET /companies)
    def list_companies(
        self, *, tags: str | None = None, page: int = 1, page_size: int = 100
    ) -> Page[Company]:
        params: dict[str, str | int] = {"page": page, "pageSize": page_size}
        if tags is not None:
            params["tags"] = tags
        return self._call("GET", "/companies", params=params, parse=page_of(parse_company))

    # Codat: list-companies (GET /companies?tags=key=value), every page
    def find_companies_by_tag(self, key: str, value: str) -> list[Company]:
        return _every_page(
            lambda page: self.list_companies(
                tags=f"{key}={value}", page=page, page_size=ALL_PAGES_SIZE
            )
        )

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
            parse=page_of(parse_connection),
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
        return self._call("GET", "/integrations", params=params, parse=page_of(parse_integration))

    # Codat: list-integrations (GET /integrations), every page
    def list_all_integrations(self, *, query: str | None = None) -> list[Integration]:
        return _every_page(
            lambda page: self.list_integrations(page=page, page_size=ALL_PAGES_SIZE, query=query)
        )

    # Codat: get-integrations-branding (GET /integrations/{platformKey}/branding)
    def get_integration_branding(self, platform_key: str) -> Branding:
        return self._call(
            "GET", f"/integrations/{_seg(platform_key)}/branding", parse=parse_branding
        )

    # Not a Platform API operation: reads one of the image URLs that list-integrations
    # (`logoUrl`) and get-integrations-branding hand out.
    def download_image(self, url: str, *, max_bytes: int = IMAGE_MAX_BYTES) -> Image:
        """The image at `url`, or ImageRefused. Images are public, so the API key is never
        sent with them; only Codat's image host (and the API's own origin, which is where the
        sandbox serves its images) is asked, so a branding answer cannot point us anywhere
        else. Not retried: the logo job runs again later."""
        if not self._may_download_from(url):
            raise ImageRefused(f"Not downloading images from {_origin(url) or 'that URL'}")
        remaining = self.remaining_budget
        if remaining < MIN_ATTEMPT_SECONDS:
            raise CodatUnavailable("Codat request budget exhausted before the image was asked for")
        with httpx.Client(
            transport=self._transport,
            headers={"Accept": ", ".join(IMAGE_CONTENT_TYPES), "User-Agent": USER_AGENT},
            timeout=self._timeout(remaining),
            follow_redirects=False,
        ) as http:
            try:
                with http.stream("GET", url) as response:
                    if response.status_code == 404:
                        raise CodatNotFound("No image at that URL", status_code=404)
                    if not response.is_success:
                        raise CodatUnavailable(
                            f"The image host answered {response.status_code}",
                            status_code=response.status_code,
                        )
                    content_type = _media_type(response.headers.get("Content-Type", ""))
                    if content_type not in IMAGE_CONTENT_TYPES:
                        raise ImageRefused(f"Not an image we keep ({content_type or 'no type'})")
                    declared = response.headers.get("Content-Length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise ImageRefused(f"Image larger than {max_bytes} bytes")
                    content = bytearray()
                    for chunk in response.iter_bytes():
                        content += chunk
                        if len(content) > max_bytes:
                            raise ImageRefused(f"Image larger than {max_bytes} bytes")
            except httpx.TransportError as exc:
                raise CodatUnavailable(f"Image host unreachable ({type(exc).__name__})") from exc
        return Image(content=bytes(content), content_type=content_type, url=url)

    def _may_download_from(self, url: str) -> bool:
        origin = _origin(url)
        parts = urlsplit(url)
        if not origin or parts.username or parts.password:
            return False
        if origin == _origin(self.base_url):
            return True
        return parts.scheme == "https" and (parts.hostname or "") in CODAT_IMAGE_HOSTS

    # --- Data: sync settings, refresh, status, pull history ----------------------------------

    # Codat: get-company-syncSettings (GET /companies/{companyId}/syncSettings)
    def get_sync_settings(self, company_id: str) -> list[SyncSetting]:
        return self._call(
            "GET", f"/companies/{_seg(company_id)}/syncSettings", parse=parse_sync_settings
        )

    # Codat: set-company-syncSettings (POST /companies/{companyId}/syncSettings)
    def set_sync_settings(self, company_id: str, settings: Sequence[SyncSetting]) -> None:
        """Make `settings` the company's sync settings, overriding the client's defaults.

        A type left out follows the client-wide settings, which on a fresh Codat account fetch
        everything (docs/codat.md §6.2): to stop Codat fetching a type, send it switched off.
        Every type switched on (fetched on first link, or on a schedule) must pass the consent
        gate; switching one off never needs consent.
        """
        self._require_consent(
            company_id, [setting.data_type for setting in settings if switches_on(setting)]
        )
        body = {
            "companyId": company_id,
            "settings": [sync_setting_json(setting) for setting in settings],
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
            parse=parse_pull_operation,
        )

    # Codat: get-company-data-status (GET /companies/{companyId}/dataStatus)
    def get_data_status(self, company_id: str) -> dict[str, DataStatus]:
        return self._call(
            "GET", f"/companies/{_seg(company_id)}/dataStatus", parse=parse_data_statuses
        )

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
            parse=page_of(parse_pull_operation),
        )

    # --- Reading the data: each read names the product it is made for ----------------------

    # Codat: get-accounting-company-info (GET /companies/{companyId}/data/info)
    def get_company_info(self, company_id: str, *, product: str) -> CompanyInfo:
        return self._gated_read(
            company_id,
            product=product,
            data_type="company",
            path=f"/companies/{_seg(company_id)}/data/info",
            parse=parse_company_info,
        )

    # Codat: get-accounting-profit-and-loss
    # (GET /companies/{companyId}/data/financials/profitAndLoss)
    def get_profit_and_loss(
        self,
        company_id: str,
        *,
        product: str,
        period_length: int,
        periods_to_compare: int,
        start_month: date | None = None,
    ) -> FinancialReport[ProfitAndLossPeriod]:
        return self._gated_read(
            company_id,
            product=product,
            data_type="profitAndLoss",
            path=f"/companies/{_seg(company_id)}/data/financials/profitAndLoss",
            params=_period_params(period_length, periods_to_compare, start_month),
            parse=parse_profit_and_loss,
        )

    # Codat: get-accounting-balance-sheet (GET /companies/{companyId}/data/financials/balanceSheet)
    def get_balance_sheet(
        self,
        company_id: str,
        *,
        product: str,
        period_length: int,
        periods_to_compare: int,
        start_month: date | None = None,
    ) -> FinancialReport[BalanceSheetPeriod]:
        return self._gated_read(
            company_id,
            product=product,
            data_type="balanceSheet",
            path=f"/companies/{_seg(company_id)}/data/financials/balanceSheet",
            params=_period_params(period_length, periods_to_compare, start_month),
            parse=parse_balance_sheet,
        )

    # Codat: get-accounting-cash-flow-statement
    # (GET /companies/{companyId}/data/financials/cashFlowStatement)
    def get_cash_flow_statement(
        self,
        company_id: str,
        *,
        product: str,
        period_length: int,
        periods_to_compare: int,
        start_month: date | None = None,
    ) -> FinancialReport[CashFlowPeriod]:
        return self._gated_read(
            company_id,
            product=product,
            data_type="cashFlowStatement",
            path=f"/companies/{_seg(company_id)}/data/financials/cashFlowStatement",
            params=_period_params(period_length, periods_to_compare, start_month),
            parse=parse_cash_flow_statement,
        )

    # Codat: list-banking-accounts
    # (GET /companies/{companyId}/connections/{connectionId}/data/banking-accounts), every page
    def list_bank_accounts(
        self, company_id: str, connection_id: str, *, product: str
    ) -> list[BankAccount]:
        return self._gated_pages(
            company_id,
            connection_id,
            product=product,
            data_type="banking-accounts",
            parse=parse_bank_account,
        )

    # Codat: list-banking-account-balances
    # (GET /companies/{companyId}/connections/{connectionId}/data/banking-accountBalances),
    # every page
    def list_bank_balances(
        self, company_id: str, connection_id: str, *, product: str
    ) -> list[BankBalance]:
        return self._gated_pages(
            company_id,
            connection_id,
            product=product,
            data_type="banking-accountBalances",
            parse=parse_bank_balance,
        )

    # Codat: list-banking-transactions
    # (GET /companies/{companyId}/connections/{connectionId}/data/banking-transactions), every page
    def list_bank_transactions(
        self, company_id: str, connection_id: str, *, product: str
    ) -> list[BankTransaction]:
        return self._gated_pages(
            company_id,
            connection_id,
            product=product,
            data_type="banking-transactions",
            parse=parse_bank_transaction,
        )

    def _gated_pages(
        self,
        company_id: str,
        connection_id: str,
        *,
        product: str,
        data_type: str,
        parse: Callable[[Any], T],
    ) -> list[T]:
        path = f"/companies/{_seg(company_id)}/connections/{_seg(connection_id)}/data/{data_type}"
        return _every_page(
            lambda page: self._gated_read(
                company_id,
                product=product,
                data_type=data_type,
                path=path,
                params={"page": page, "pageSize": ALL_PAGES_SIZE},
                parse=page_of(parse),
            )
        )

    def _gated_read(
        self,
        company_id: str,
        *,
        product: str,
        data_type: str,
        path: str,
        parse: Callable[[Any], T],
        params: dict[str, str | int] | None = None,
    ) -> T:
        """GET customer data for `product`, once that product's own consent allows the type.

        The observer hears of every decision: refused before any network I/O, read, or failed.
        """
        allowed = self._read_gate(company_id, product) if self._read_gate is not None else ()
        if data_type not in allowed:
            logger.warning(
                "Consent gate refused a %s read of %s for Codat company %s",
                product,
                data_type,
                company_id,
            )
            self._observe(DataRead(company_id, product, data_type, DataRead.REFUSED))
            raise DataTypeNotConsented(
                f"No live {product} consent covers {data_type} for company {company_id}",
                data_type=data_type,
                company_id=company_id,
            )
        try:
            result = self._call("GET", path, params=params, parse=parse)
        except CodatError as exc:
            self._observe(
                DataRead(company_id, product, data_type, DataRead.FAILED, type(exc).__name__)
            )
            raise
        self._observe(DataRead(company_id, product, data_type, DataRead.READ))
        return result

    def _observe(self, read: DataRead) -> None:
        if self._read_observer is not None:
            self._read_observer(read)

    # --- The client's account: profile, client-wide sync settings, webhook consumers -------

    # Codat: get-profile (GET /profile)
    def get_profile(self) -> Profile:
        return self._call("GET", "/profile", parse=parse_profile)

    # Codat: update-profile (PUT /profile)
    def update_profile(self, profile: Profile) -> Profile:
        """Replace the profile: Codat asks for every field, so send one read with get_profile
        and changed, not one built from scratch."""
        return self._call("PUT", "/profile", json_body=profile_json(profile), parse=parse_profile)

    # Codat: get-profile-syncSettings (GET /profile/syncSettings)
    def get_client_sync_settings(self) -> ClientSyncSettings:
        return self._call("GET", "/profile/syncSettings", parse=parse_client_sync_settings)

    # Codat: update-profile-syncSettings (POST /profile/syncSettings)
    def set_client_sync_settings(self, client_id: str, settings: Sequence[SyncSetting]) -> None:
        """Make `settings` the client-wide sync settings, which every company without its own
        follows. No consent covers every company, so none of them may switch a type on."""
        switched_on = [setting.data_type for setting in settings if switches_on(setting)]
        if switched_on:
            raise DataTypeNotConsented(
                f"Client-wide sync settings would fetch {switched_on[0]} for every company",
                data_type=switched_on[0],
            )
        body = {
            "clientId": client_id,
            "settings": [sync_setting_json(setting) for setting in settings],
            "overridesDefaults": True,
        }
        # Replaced wholesale, so sending it twice is safe.
        self._call("POST", "/profile/syncSettings", json_body=body, parse=None, idempotent=True)

    # Codat: list-webhook-consumers (GET /webhooks)
    def list_webhook_consumers(self) -> list[WebhookConsumer]:
        return self._call("GET", "/webhooks", parse=parse_webhook_consumers)

    # Codat: create-webhook-consumer (POST /webhooks)
    def create_webhook_consumer(
        self, *, url: str, event_types: Sequence[str], disabled: bool = False
    ) -> WebhookConsumer:
        """A new consumer. Codat's answer never carries its signing secret: that is shown only
        in Codat's portal."""
        body = {"url": url, "eventTypes": list(event_types), "disabled": disabled}
        return self._call("POST", "/webhooks", json_body=body, parse=parse_webhook_consumer)

    # Codat: delete-webhook-consumer (DELETE /webhooks/{webhookId})
    def delete_webhook_consumer(self, consumer_id: str) -> None:
        self._call("DELETE", f"/webhooks/{_seg(consumer_id)}", parse=None)

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


def _period_params(
    period_length: int, periods_to_compare: int, start_month: date | None
) -> dict[str, str | int]:
    params: dict[str, str | int] = {
        "periodLength": period_length,
        "periodsToCompare": periods_to_compare,
    }
    if start_month is not None:
        params["startMonth"] = start_month.replace(day=1).isoformat()
    return params


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


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # an unparseable host or port
        return ""
    if not parts.scheme or not parts.hostname:
        return ""
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()
