"""Sandbox rows in Codat's JSON shapes (`Company`, `Connection`, `Integration`, `Branding`).

Optional fields whose value is null are left out rather than sent as null: the spec marks them
with OpenAPI 3.0's `nullable`, which a 3.1 validator ignores, and Codat's own examples omit
them (a never-synced company has no `lastSync`). `Connection` forbids extra properties.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.urls import reverse

from .integrations import Integration, get_integration
from .models import SandboxCompany, SandboxConnection


def iso(value: datetime) -> str:
    """UTC, `Z`-suffixed, microsecond precision (Codat itself sends up to seven digits)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def company_link_url(company: SandboxCompany) -> str:
    path = reverse("codat_sandbox:link_company", kwargs={"company_id": str(company.id)})
    return f"{settings.SITE_URL}{path}"


def connection_link_url(connection: SandboxConnection) -> str:
    path = reverse(
        "codat_sandbox:link_start",
        kwargs={"company_id": str(connection.company_id), "connection_id": str(connection.id)},
    )
    return f"{settings.SITE_URL}{path}"


def connection_json(connection: SandboxConnection) -> dict[str, Any]:
    integration = get_integration(connection.integration_key)
    if integration is None:  # pragma: no cover - rows are only created for catalogue keys
        raise LookupError(f"Unknown integration {connection.integration_key!r}")
    body: dict[str, Any] = {
        "id": str(connection.id),
        "integrationId": integration.integration_id,
        "integrationKey": integration.key,
        "sourceId": integration.source_id,
        "platformName": integration.name,
        "linkUrl": connection_link_url(connection),
        "status": connection.status,
        "created": iso(connection.created),
        "sourceType": integration.source_type,
        "dataConnectionErrors": [dict(entry) for entry in connection.data_connection_errors],
    }
    if connection.last_sync is not None:
        body["lastSync"] = iso(connection.last_sync)
    return body


def company_json(
    company: SandboxCompany, connections: Iterable[SandboxConnection] | None = None
) -> dict[str, Any]:
    if connections is None:
        connections = company.connections.all()
    body: dict[str, Any] = {
        "id": str(company.id),
        "name": company.name,
        "description": company.description,
        "redirect": company_link_url(company),
        "created": iso(company.created),
        "products": [],
        "tags": dict(company.tags),
        "ownerUserIds": [],
        "referenceSubsidiaryCompanies": [],
        "dataConnections": [connection_json(connection) for connection in connections],
    }
    if company.last_sync is not None:
        body["lastSync"] = iso(company.last_sync)
    return body


def integration_json(
    integration: Integration, counts: Mapping[str, tuple[int, int]] | None = None
) -> dict[str, Any]:
    linked, total = (counts or {}).get(integration.key, (0, 0))
    return {
        "key": integration.key,
        "logoUrl": integration.logo_url,
        "name": integration.name,
        "enabled": integration.is_enabled,
        "sourceId": integration.source_id,
        "integrationId": integration.integration_id,
        "sourceType": integration.source_type,
        "isOfflineConnector": False,
        "isBeta": False,
        "supportedEnvironments": "LiveAndSandbox",
        "linkedConnectionsCount": linked,
        "totalConnectionsCount": total,
        "dataProvidedBy": "Codat",
        "datatypeFeatures": [
            {
                # Lower-case `datatype`, as in every Codat example (API.md notes the spec's
                # property name disagrees with its own `required`).
                "datatype": data_type,
                "supportedFeatures": [{"featureType": "Get", "featureState": "Release"}],
            }
            for data_type in integration.data_types
        ],
    }


def branding_json(integration: Integration) -> dict[str, Any]:
    # One badge serves as both the full and the square logo; Codat sends no button images for
    # most platforms, and the spec allows an empty `button`.
    return {
        "logo": {
            "full": {"image": {"src": integration.logo_url, "alt": f"{integration.name} logo"}},
            "square": {"image": {"src": integration.logo_url, "alt": f"{integration.name} icon"}},
        },
        "button": {},
        "sourceId": integration.source_id,
    }
