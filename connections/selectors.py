"""Reads for the connection pages. Every query is scoped to one company."""

from __future__ import annotations

from dataclasses import dataclass

from companies.models import Company
from connections.models import PICKER_SOURCE_TYPES, Connection, Integration, SourceType


@dataclass(frozen=True)
class PickerGroup:
    source_type: str
    label: str
    integrations: list[Integration]


def connections_for_company(company: Company) -> tuple[list[Connection], list[Connection]]:
    """(current, history): one query, whatever the number of connections."""
    current, history = [], []
    for connection in Connection.objects.for_company(company).order_by("-created_at"):
        (history if connection.is_deleted else current).append(connection)
    return current, history


def connection_for_company(company: Company, connection_id) -> Connection:
    """The company's connection, or Connection.DoesNotExist for anyone else's (views 404)."""
    return Connection.objects.select_related("company").get(pk=connection_id, company=company)


def linked_accounting_connection(company: Company) -> Connection | None:
    return (
        Connection.objects.for_company(company)
        .filter(source_type=SourceType.ACCOUNTING, status=Connection.Status.LINKED)
        .first()
    )


def picker_groups(*, query: str = "", source_types: list[str] | None = None) -> list[PickerGroup]:
    """Enabled integrations grouped by kind; `source_types` narrows the kinds shown."""
    kinds = [t.value for t in PICKER_SOURCE_TYPES]
    if source_types:
        kinds = [k for k in kinds if k in source_types]
    integrations = Integration.objects.filter(enabled=True, source_type__in=kinds).order_by("name")
    if query:
        integrations = integrations.filter(name__icontains=query)
    by_type: dict[str, list[Integration]] = {t.value: [] for t in PICKER_SOURCE_TYPES}
    for integration in integrations:
        by_type[integration.source_type].append(integration)
    return [
        PickerGroup(source_type=t.value, label=t.label, integrations=by_type[t.value])
        for t in PICKER_SOURCE_TYPES
        if by_type[t.value]
    ]


def alternatives_for(integration_key: str, source_type: str) -> list[Integration]:
    return list(
        Integration.objects.filter(enabled=True, source_type=source_type)
        .exclude(key=integration_key)
        .order_by("name")
    )


@dataclass(frozen=True)
class ExpiredConnection:
    connection: Connection
    products: list[str]


def expired_connections_with_products(company: Company) -> list[ExpiredConnection]:
    """Connections whose access lapsed (Open Banking's 90 days, a revoked token), with the
    products that can't get fresh data from them until the customer reconnects."""
    from consents.models import Consent

    expired = list(
        Connection.objects.for_company(company).filter(status=Connection.Status.DEAUTHORIZED)
    )
    if not expired:
        return []
    consents = Consent.objects.for_company(company).active().select_related("product")
    return [
        ExpiredConnection(
            connection=connection,
            products=[
                c.product.name for c in consents if connection.source_type in c.product.source_types
            ],
        )
        for connection in expired
    ]
