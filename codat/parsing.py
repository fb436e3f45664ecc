"""Codat's JSON turned into the typed results of `codat.types`, and back where we send it.

Tolerant: unknown fields are ignored and missing optional ones get defaults, so a field Codat
adds breaks nothing. A body of the wrong shape (no id, a list where an object belongs) raises
KeyError, TypeError, ValueError or AttributeError, which the client reports as
CodatUnavailable. The fields: docs/codat.md §2 (companies), §3 (connections), §5
(integrations), §6 (data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from codat.types import (
    Branding,
    BrandingImage,
    ClientSyncSettings,
    Company,
    Connection,
    DataConnectionError,
    DataStatus,
    Integration,
    Page,
    Profile,
    PullOperation,
    SyncSetting,
    WebhookConsumer,
)

T = TypeVar("T")


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


def parse_company(data: Mapping[str, Any]) -> Company:
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


def parse_integration(data: Mapping[str, Any]) -> Integration:
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


def parse_branding(data: Mapping[str, Any]) -> Branding:
    logo = data.get("logo")
    logo = logo if isinstance(logo, Mapping) else {}
    return Branding(
        logo_square=_branding_image(logo.get("square")),
        logo_full=_branding_image(logo.get("full")),
        source_id=_optional_text(data, "sourceId"),
    )


def _branding_image(data: Any) -> BrandingImage | None:
    """`{"image": {"src", "alt"}}`, or None when Codat sends no usable source."""
    image = data.get("image") if isinstance(data, Mapping) else None
    if not isinstance(image, Mapping):
        return None
    src = image.get("src")
    if not isinstance(src, str) or not src:
        return None
    alt = image.get("alt")
    return BrandingImage(src=src, alt=alt if isinstance(alt, str) else "")


def page_of(parse_item: Callable[[Any], T]) -> Callable[[Any], Page[T]]:
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


def sync_setting_json(setting: SyncSetting) -> dict[str, Any]:
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


def parse_data_statuses(data: Mapping[str, Any]) -> dict[str, DataStatus]:
    if not isinstance(data, dict):
        raise TypeError("dataStatus is not an object")
    # The spec lets each value be null (no information about that type); those are left out,
    # as are types Codat does not mention at all.
    return {
        str(key): _data_status(str(key), value)
        for key, value in data.items()
        if isinstance(value, dict)
    }


def parse_pull_operation(data: Mapping[str, Any]) -> PullOperation:
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


def parse_sync_settings(data: Mapping[str, Any]) -> list[SyncSetting]:
    settings = data.get("settings")
    if settings is None:
        return []
    if not isinstance(settings, list):
        raise TypeError("settings is not a list")
    return [_sync_setting(item) for item in settings]


def switches_on(setting: SyncSetting) -> bool:
    """True when the setting makes Codat fetch the type by itself: on first link or on a
    schedule (docs/codat.md §6.2)."""
    return setting.fetch_on_first_link or setting.sync_schedule > 0


def parse_client_sync_settings(data: Mapping[str, Any]) -> ClientSyncSettings:
    return ClientSyncSettings(
        client_id=_text(data, "clientId"),
        settings=tuple(parse_sync_settings(data)),
        overrides_defaults=data.get("overridesDefaults") is True,
    )


def parse_profile(data: Mapping[str, Any]) -> Profile:
    white_list = data.get("whiteListUrls") or []
    if not isinstance(white_list, list):
        raise TypeError("whiteListUrls is not a list")
    return Profile(
        name=_text(data, "name"),
        redirect_url=_text(data, "redirectUrl"),
        logo_url=_text(data, "logoUrl"),
        icon_url=_text(data, "iconUrl"),
        white_list_urls=tuple(str(url) for url in white_list),
    )


def profile_json(profile: Profile) -> dict[str, Any]:
    body: dict[str, Any] = {"name": profile.name, "redirectUrl": profile.redirect_url}
    if profile.logo_url:
        body["logoUrl"] = profile.logo_url
    if profile.icon_url:
        body["iconUrl"] = profile.icon_url
    body["whiteListUrls"] = list(profile.white_list_urls)
    return body


def parse_webhook_consumer(data: Mapping[str, Any]) -> WebhookConsumer:
    event_types = data.get("eventTypes") or []
    company_tags = data.get("companyTags") or []
    if not isinstance(event_types, list) or not isinstance(company_tags, list):
        raise TypeError("eventTypes and companyTags must be lists")
    return WebhookConsumer(
        id=str(data["id"]),
        url=_text(data, "url"),
        event_types=tuple(str(item) for item in event_types),
        disabled=data.get("disabled") is True,
        company_tags=tuple(str(item) for item in company_tags),
    )


def parse_webhook_consumers(data: Mapping[str, Any]) -> list[WebhookConsumer]:
    results = data.get("results")
    if results is None:
        return []
    if not isinstance(results, list):
        raise TypeError("results is not a list")
    return [parse_webhook_consumer(item) for item in results]
