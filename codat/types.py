"""Small typed results for the parts of Codat's API the portal uses (see shared/codat/API.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")

SOURCE_TYPES = ("Accounting", "Banking", "BankFeed", "Commerce", "Expense", "Other", "Unknown")
CONNECTION_STATUSES = ("PendingAuth", "Linked", "Unlinked", "Deauthorized")


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
class Branding:
    source_id: str | None
    logo_full_url: str | None
    logo_square_url: str | None


@dataclass(frozen=True)
class Page(Generic[T]):
    results: tuple[T, ...]
    page_number: int
    page_size: int
    total_results: int

    @property
    def has_next(self) -> bool:
        return self.page_number * self.page_size < self.total_results
