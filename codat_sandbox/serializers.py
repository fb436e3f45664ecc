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
from django.utils import timezone

from . import timeline
from .integrations import SANDBOX_CLIENT_ID, Integration, get_integration
from .logos import FULL, SQUARE, logo_url
from .models import (
    SandboxCompany,
    SandboxConnection,
    SandboxDataset,
    SandboxProfile,
    SandboxSyncSetting,
    SandboxWebhookConsumer,
)


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


def _latest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


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
    # lastSync moves when a simulated sync finishes, which is a matter of the clock (timeline.py).
    last_sync = _latest(
        connection.last_sync,
        timeline.last_successful_sync(connection.datasets.all(), timezone.now()),
    )
    if last_sync is not None:
        body["lastSync"] = iso(last_sync)
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
    last_sync = _latest(
        company.last_sync, timeline.last_successful_sync(company.datasets.all(), timezone.now())
    )
    if last_sync is not None:
        body["lastSync"] = iso(last_sync)
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
                # Lower-case `datatype`, as in every Codat example (docs/codat.md §5: the
                # spec's property name disagrees with its own `required`).
                "datatype": data_type,
                "supportedFeatures": [
                    {
                        "featureType": "Get",
                        "featureState": "Release"
                        if integration.supports(data_type)
                        else "NotSupported",
                    }
                ],
            }
            for data_type in integration.data_types
        ],
    }


def branding_json(integration: Integration) -> dict[str, Any]:
    # Artwork the sandbox draws and serves itself (codat_sandbox.logos); Codat sends no
    # button images for most platforms, and the spec allows an empty `button`.
    return {
        "logo": {
            "full": {
                "image": {"src": logo_url(integration, FULL), "alt": f"{integration.name} logo"}
            },
            "square": {
                "image": {"src": logo_url(integration, SQUARE), "alt": f"{integration.name} icon"}
            },
        },
        "button": {},
        "sourceId": integration.source_id,
    }


def sync_setting_json(setting: SandboxSyncSetting) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataType": setting.data_type,
        "fetchOnFirstLink": setting.fetch_on_first_link,
        "syncSchedule": setting.sync_schedule,
        "syncOrder": setting.sync_order,
    }
    if setting.sync_from_utc:
        body["syncFromUtc"] = setting.sync_from_utc
    if setting.sync_from_window is not None:
        body["syncFromWindow"] = setting.sync_from_window
    if setting.months_to_sync is not None:
        body["monthsToSync"] = setting.months_to_sync
    if setting.is_locked is not None:
        body["isLocked"] = setting.is_locked
    return body


def company_sync_settings_json(company: SandboxCompany) -> dict[str, Any]:
    settings_rows, overrides_defaults = timeline.company_sync_settings(company)
    return {
        "companyId": str(company.id),
        "settings": [sync_setting_json(setting) for setting in settings_rows],
        "overridesDefaults": overrides_defaults,
    }


def client_sync_settings_json() -> dict[str, Any]:
    return {
        "clientId": SANDBOX_CLIENT_ID,
        "settings": [sync_setting_json(setting) for setting in timeline.client_sync_settings()],
        "overridesDefaults": SandboxProfile.objects.filter(
            pk=1, sync_overrides_defaults=True
        ).exists(),
    }


def profile_json(profile: SandboxProfile) -> dict[str, Any]:
    body: dict[str, Any] = {"name": profile.name}
    if profile.logo_url:
        body["logoUrl"] = profile.logo_url
    if profile.icon_url:
        body["iconUrl"] = profile.icon_url
    body["redirectUrl"] = profile.redirect_url
    body["whiteListUrls"] = list(profile.white_list_urls)
    if profile.confirm_company_name is not None:
        body["confirmCompanyName"] = profile.confirm_company_name
    return body


def webhook_consumer_json(consumer: SandboxWebhookConsumer) -> dict[str, Any]:
    return {
        "id": str(consumer.id),
        "url": consumer.url,
        "eventTypes": list(consumer.event_types),
        "disabled": consumer.disabled,
        "companyTags": list(consumer.company_tags),
    }


def pull_operation_json(dataset: SandboxDataset, now: datetime) -> dict[str, Any]:
    status = timeline.status_at(dataset, now)
    finished = timeline.is_finished_at(dataset, now)
    errored = finished and dataset.outcome in timeline.ERROR_OUTCOMES
    body: dict[str, Any] = {
        "id": str(dataset.id),
        "companyId": str(dataset.company_id),
        "connectionId": str(dataset.connection_id),
        "dataType": dataset.data_type,
        "status": status,
        "requested": iso(dataset.requested),
        "progress": timeline.progress_at(dataset, now),
        # Codat: "True if the pull operation is completed successfully".
        "isCompleted": status == SandboxDataset.Outcome.COMPLETE,
        "isErrored": errored,
    }
    if finished:
        body["completed"] = iso(dataset.finished_at)
        if dataset.status_description:
            body["statusDescription"] = dataset.status_description
    if errored and dataset.error_message:
        body["errorMessage"] = dataset.error_message
    return body


def data_statuses_json(datasets: Iterable[SandboxDataset], now: datetime) -> dict[str, Any]:
    """`DataStatuses`: one entry per data type ever queued, keyed by type.

    Types never queued are left out: the schema requires `currentStatus`, which they lack.
    """
    body: dict[str, Any] = {}
    for data_type, newest_first in timeline.latest_datasets_by_type(datasets).items():
        latest = newest_first[0]
        entry: dict[str, Any] = {
            "dataType": data_type,
            "currentStatus": timeline.status_at(latest, now),
            "latestSyncId": str(latest.id),
        }
        successful = next(
            (
                dataset
                for dataset in newest_first
                if dataset.outcome == SandboxDataset.Outcome.COMPLETE
                and timeline.is_finished_at(dataset, now)
            ),
            None,
        )
        if successful is not None:
            entry["lastSuccessfulSync"] = iso(successful.finished_at)
            entry["latestSuccessfulSyncId"] = str(successful.id)
        body[data_type] = entry
    return body
