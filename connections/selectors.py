"""Reads for the connection pages. Every query is scoped to one company."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from companies.models import Company
from companies.scoping import scopes_disabled
from connections.models import (
    PICKER_SOURCE_TYPES,
    Connection,
    DataSync,
    Integration,
    LinkAttempt,
    PlatformLogo,
    SourceType,
)


@dataclass(frozen=True)
class PickerTile:
    integration: Integration
    # The company's connection to this platform, if it is linked: the tile says so.
    connected: Connection | None = None
    # Why it can't be connected now, in words for the greyed-out tile; "" if it can.
    unavailable: str = ""


@dataclass(frozen=True)
class PickerGroup:
    source_type: str
    label: str
    tiles: list[PickerTile]


def platform_logo_versions() -> dict[str, str]:
    """Each stored logo's digest by platform key: which platforms show Codat's artwork."""
    return dict(PlatformLogo.objects.values_list("platform_key", "digest"))


# Disconnected connections listed on the connections page: the latest, not every one ever.
DISCONNECTED_SHOWN = 20


@dataclass(frozen=True)
class CompanyConnections:
    current: list[Connection]
    disconnected: list[Connection]  # the latest DISCONNECTED_SHOWN
    more_disconnected: bool  # older ones exist and are not listed


def connections_for_company(company: Company) -> CompanyConnections:
    """The connections page's lists: two queries, and a page the same size however many
    connections have come and gone. Attempts never authorised are neither (see
    ConnectionQuerySet.shown_to_customer)."""
    shown = Connection.objects.for_company(company).shown_to_customer()
    disconnected = list(
        shown.filter(status=Connection.Status.DELETED).order_by("-deleted_at", "-created_at")[
            : DISCONNECTED_SHOWN + 1
        ]
    )
    return CompanyConnections(
        current=list(shown.current().order_by("-created_at")),
        disconnected=disconnected[:DISCONNECTED_SHOWN],
        more_disconnected=len(disconnected) > DISCONNECTED_SHOWN,
    )


def connection_for_company(company: Company, connection_id) -> Connection:
    """The company's connection, or Connection.DoesNotExist for anyone else's (views 404)."""
    return Connection.objects.select_related("company").get(pk=connection_id, company=company)


def owning_company_id(model: type[Connection | LinkAttempt], pk) -> UUID | None:
    """Which company a connection or link attempt belongs to, whoever is asking; None if no
    tenant has it.

    For the security log only: it tells a customer reaching for another tenant's id from one
    who mistyped an id. Inside a request the tenant scope would hide the other company's row,
    so this one query looks across tenants on purpose; it reads nothing but the owner's id, and
    the caller still answers 404.
    """
    with scopes_disabled():
        return model.objects.filter(pk=pk).values_list("company_id", flat=True).first()


def linked_accounting_connection(company: Company) -> Connection | None:
    return (
        Connection.objects.for_company(company)
        .filter(source_type=SourceType.ACCOUNTING, status=Connection.Status.LINKED)
        .first()
    )


def picker_groups(
    company: Company, *, query: str = "", source_types: list[str] | None = None
) -> list[PickerGroup]:
    """Enabled integrations grouped by kind; `source_types` narrows the kinds shown. Each tile
    knows whether the company has it linked, or why it can't be connected (Codat allows one
    accounting platform per company, docs/codat.md §3)."""
    kinds = [t.value for t in PICKER_SOURCE_TYPES]
    if source_types:
        kinds = [k for k in kinds if k in source_types]
    integrations = Integration.objects.filter(enabled=True, source_type__in=kinds).order_by("name")
    if query:
        integrations = integrations.filter(name__icontains=query)
    linked = {
        c.platform_key: c
        for c in Connection.objects.for_company(company).filter(status=Connection.Status.LINKED)
    }
    accounting = next((c for c in linked.values() if c.source_type == SourceType.ACCOUNTING), None)
    by_type: dict[str, list[PickerTile]] = {t.value: [] for t in PICKER_SOURCE_TYPES}
    for integration in integrations:
        unavailable = ""
        if (
            integration.source_type == SourceType.ACCOUNTING
            and accounting is not None
            and accounting.platform_key != integration.key
        ):
            unavailable = (
                f"One accounting software at a time: disconnect {accounting.platform_name} first."
            )
        by_type[integration.source_type].append(
            PickerTile(
                integration=integration,
                connected=linked.get(integration.key),
                unavailable=unavailable,
            )
        )
    return [
        PickerGroup(source_type=t.value, label=t.label, tiles=by_type[t.value])
        for t in PICKER_SOURCE_TYPES
        if by_type[t.value]
    ]


def alternatives_for(integration_key: str, source_type: str) -> list[Integration]:
    return list(
        Integration.objects.filter(enabled=True, source_type=source_type)
        .exclude(key=integration_key)
        .order_by("name")
    )


# --- sync progress ----------------------------------------------------------------------------

# A dataset in one of these states will not change without a new refresh.
TERMINAL_SYNC_STATES = frozenset(
    {
        "Complete",
        "NotSupported",
        "FetchError",
        "MapError",
        "InternalError",
        "ProcessingError",
        "ValidationError",
        "AuthError",
        "Cancelled",
        "RateLimitError",
        "PermissionsError",
        "PrerequisiteNotMet",
    }
)

# Terminal states in which the data did not arrive and it is not simply absent at the source.
FAILED_SYNC_STATES = TERMINAL_SYNC_STATES - {"Complete", "NotSupported"}

SYNC_STATE_WORDS = {
    None: "Waiting to start",
    "Initial": "Waiting to start",
    "Queued": "Waiting to start",
    "Fetching": "Fetching",
    "MapQueued": "Fetching",
    "Mapping": "Tidying up",
    "ProcessingQueued": "Tidying up",
    "Processing": "Tidying up",
    "ValidationQueued": "Checking",
    "Validating": "Checking",
    "Complete": "Ready",
    "NotSupported": "Not available from this platform",
    "AuthError": "Access expired: reconnect to fetch this",
    "RateLimitError": "Your provider asked us to slow down; we'll try again later",
}


class DataTypeLabel(Protocol):
    """A data type as the caller words it for customers (the consents app's DataType)."""

    @property
    def key(self) -> str: ...


@dataclass(frozen=True)
class DataTypeProgress:
    data_type: DataTypeLabel
    status: str | None

    @property
    def words(self) -> str:
        return SYNC_STATE_WORDS.get(self.status, "Couldn't fetch this time; we'll try again")

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_SYNC_STATES

    @property
    def ready(self) -> bool:
        return self.status == "Complete"

    @property
    def failed(self) -> bool:
        return self.status in FAILED_SYNC_STATES

    @property
    def needs_reconnect(self) -> bool:
        return self.status == "AuthError"


@dataclass(frozen=True)
class SyncProgress:
    items: list[DataTypeProgress]
    last_update: datetime | None  # of the newest DataSync change

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def complete(self) -> int:
        return sum(1 for item in self.items if item.done)

    @property
    def done(self) -> bool:
        return all(item.done for item in self.items)

    @property
    def ready(self) -> list[DataTypeProgress]:
        return [item for item in self.items if item.ready]

    @property
    def failed(self) -> list[DataTypeProgress]:
        """Finished without the data: a finished sync with these is not "all in"."""
        return [item for item in self.items if item.failed]

    @property
    def needs_reconnect(self) -> bool:
        return any(item.needs_reconnect for item in self.items)


def sync_progress(connection: Connection, data_types: Sequence[DataTypeLabel]) -> SyncProgress:
    """How far Codat has got reading `data_types` (those the caller expects, in its order)
    from this connection."""
    syncs = {s.data_type: s for s in DataSync.objects.filter(connection=connection)}
    items = [
        DataTypeProgress(data_type=d, status=syncs[d.key].status if d.key in syncs else None)
        for d in data_types
    ]
    updates = [s.updated_at for s in syncs.values()]
    return SyncProgress(items=items, last_update=max(updates) if updates else None)
