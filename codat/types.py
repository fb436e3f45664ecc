"""Small typed results for the parts of Codat's API the portal uses (see docs/codat.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")

SOURCE_TYPES = ("Accounting", "Banking", "BankFeed", "Commerce", "Expense", "Other", "Unknown")
CONNECTION_STATUSES = ("PendingAuth", "Linked", "Unlinked", "Deauthorized")

# Codat's data type keys (docs/codat.md §6.1; the `DataStatus.dataType` enum). The prefix names
# the source type a connection must have to supply it: `banking-` Banking, `commerce-` Commerce,
# else Accounting.
DATA_TYPES = (
    "accountTransactions",
    "balanceSheet",
    "bankAccounts",
    "bankTransactions",
    "billCreditNotes",
    "billPayments",
    "bills",
    "cashFlowStatement",
    "chartOfAccounts",
    "company",
    "creditNotes",
    "customers",
    "directCosts",
    "directIncomes",
    "invoices",
    "itemReceipts",
    "items",
    "journalEntries",
    "journals",
    "paymentMethods",
    "payments",
    "profitAndLoss",
    "purchaseOrders",
    "salesOrders",
    "suppliers",
    "taxRates",
    "trackingCategories",
    "transfers",
    "banking-accountBalances",
    "banking-accounts",
    "banking-transactionCategories",
    "banking-transactions",
    "commerce-companyInfo",
    "commerce-customers",
    "commerce-disputes",
    "commerce-locations",
    "commerce-orders",
    "commerce-paymentMethods",
    "commerce-payments",
    "commerce-productCategories",
    "commerce-products",
    "commerce-taxComponents",
    "commerce-transactions",
)


def source_type_of(data_type: str) -> str:
    """The kind of connection that supplies a data type; Codat's key prefixes say it."""
    if data_type.startswith("banking-"):
        return "Banking"
    if data_type.startswith("commerce-"):
        return "Commerce"
    return "Accounting"


DATA_TYPES_BY_SOURCE_TYPE = {
    kind: tuple(t for t in DATA_TYPES if source_type_of(t) == kind)
    for kind in ("Accounting", "Banking", "Commerce")
}

# Dataset statuses that mean "still working"; every other status is final (docs/codat.md §6.4).
IN_PROGRESS_DATASET_STATUSES = frozenset(
    {
        "Initial",
        "Queued",
        "Fetching",
        "MapQueued",
        "Mapping",
        "ProcessingQueued",
        "Processing",
        "ValidationQueued",
        "Validating",
    }
)


@dataclass(frozen=True)
class DataConnectionError:
    status_code: str
    status_text: str
    error_message: str
    errored_on: datetime | None
    status: str | None = None  # "Active" | "Resolved" | None
    resolved_on: datetime | None = None


@dataclass(frozen=True)
class Connection:
    id: str
    integration_id: str
    integration_key: str
    source_id: str
    source_type: str
    platform_name: str
    link_url: str
    status: str
    created: datetime | None
    last_sync: datetime | None = None
    errors: tuple[DataConnectionError, ...] = ()


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    redirect: str
    description: str = ""
    created: datetime | None = None
    last_sync: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    connections: tuple[Connection, ...] = ()


@dataclass(frozen=True)
class Integration:
    key: str
    name: str
    logo_url: str
    enabled: bool
    source_type: str
    source_id: str | None = None
    integration_id: str | None = None
    is_beta: bool = False


@dataclass(frozen=True)
class BrandingImage:
    src: str
    alt: str = ""


@dataclass(frozen=True)
class Branding:
    """An integration's official artwork: the logo in two shapes (buttons are not kept)."""

    logo_square: BrandingImage | None
    logo_full: BrandingImage | None
    source_id: str | None = None


@dataclass(frozen=True)
class Image:
    """An image downloaded from one of Codat's image URLs, already checked for size and type."""

    content: bytes
    content_type: str  # one of IMAGE_CONTENT_TYPES, without parameters
    url: str


@dataclass(frozen=True)
class Page(Generic[T]):
    results: tuple[T, ...]
    page_number: int
    page_size: int
    total_results: int

    @property
    def has_next(self) -> bool:
        return self.page_number * self.page_size < self.total_results


@dataclass(frozen=True)
class SyncSetting:
    """How Codat fetches one data type for a company (Codat's `SyncSetting`).

    `sync_schedule` is hours between automatic refreshes; `sync_from_window` months of history;
    `months_to_sync` applies to the report types (`balanceSheet`, `profitAndLoss`) only.
    """

    data_type: str
    fetch_on_first_link: bool
    sync_schedule: int
    sync_order: int
    sync_from_window: int | None = None
    months_to_sync: int | None = None


@dataclass(frozen=True)
class ClientSyncSettings:
    """The client-wide sync settings (Codat's `SyncSettings`), which a company without its own
    follows; `client_id` is what setting them must quote back."""

    client_id: str
    settings: tuple[SyncSetting, ...]
    overrides_defaults: bool


@dataclass(frozen=True)
class Profile:
    """The Codat client's profile (Codat's `Profile`); `redirect_url` is the Link redirect
    template (docs/codat.md §4), empty when none is set."""

    name: str
    redirect_url: str
    logo_url: str = ""
    icon_url: str = ""
    white_list_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebhookConsumer:
    """An endpoint Codat sends webhooks to (Codat's `WebhookConsumer`); no event types means
    every event. Codat's API never returns its signing secret."""

    id: str
    url: str
    event_types: tuple[str, ...]
    disabled: bool = False
    company_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataStatus:
    """The state of one data type in Codat's cache for a company (Codat's `DataStatus`).

    `current_status` is None for a type Codat lists but has never synced.
    """

    data_type: str
    current_status: str | None
    last_successful_sync: datetime | None
    latest_sync_id: str | None
    latest_successful_sync_id: str | None


@dataclass(frozen=True)
class PullOperation:
    """One fetch of one data type over one connection (Codat's `PullOperation`, once `dataset`)."""

    id: str
    company_id: str
    connection_id: str
    data_type: str
    status: str
    requested: datetime | None
    progress: int
    is_completed: bool
    is_errored: bool
    completed: datetime | None = None
    status_description: str | None = None
    error_message: str | None = None

    @property
    def is_finished(self) -> bool:
        """True once the operation can change no more (Complete, NotSupported or an error)."""
        return self.status not in IN_PROGRESS_DATASET_STATUSES
