"""Where each simulated dataset stands at a given moment, and which sync settings a company has.

Pure reads: nothing here writes or sends, so the serializers, the sync engine (syncs) and the
webhook outbox (webhooks) can all use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from .integrations import ALL_DATA_TYPES
from .models import (
    SandboxClientSyncSetting,
    SandboxCompany,
    SandboxDataset,
    SandboxSyncSetting,
)

Outcome = SandboxDataset.Outcome

# The simulated timeline of one dataset: Queued for QUEUED_SECONDS, then Fetching for 2–4 s
# (by data type, so a first read does not finish all at once), then its outcome. Every sync is
# over within SYNC_SECONDS_MAX of being requested; `speed` (CODAT_SANDBOX_SYNC_SPEED) divides
# every span.
QUEUED_SECONDS = 1.0
FETCH_SECONDS_MIN = 2.0
FETCH_SECONDS_STEPS = 3
SYNC_SECONDS_MAX = QUEUED_SECONDS + FETCH_SECONDS_MIN + FETCH_SECONDS_STEPS - 1

QUEUED = "Queued"
FETCHING = "Fetching"
ERROR_OUTCOMES = frozenset({Outcome.FETCH_ERROR, Outcome.AUTH_ERROR})

# A fresh Codat account's client-wide setting for every data type: fetched on first link and
# refreshed daily (docs/codat.md §6.2). A type the client's own settings do not name keeps it.
DEFAULT_FETCH_ON_FIRST_LINK = True
DEFAULT_SYNC_SCHEDULE = 24


# --- the timeline ----------------------------------------------------------------------------


def fetch_seconds(data_type: str, *, speed: float = 1.0) -> float:
    position = ALL_DATA_TYPES.index(data_type) if data_type in ALL_DATA_TYPES else 0
    return (FETCH_SECONDS_MIN + position % FETCH_SECONDS_STEPS) / speed


def queued_seconds(*, speed: float = 1.0) -> float:
    return QUEUED_SECONDS / speed


def status_at(dataset: SandboxDataset, now: datetime) -> str:
    if now >= dataset.finished_at:
        return dataset.outcome
    if now >= dataset.fetching_at:
        return FETCHING
    return QUEUED


def is_finished_at(dataset: SandboxDataset, now: datetime) -> bool:
    return now >= dataset.finished_at


def progress_at(dataset: SandboxDataset, now: datetime) -> int:
    """0 while queued, 10–90 while fetching, 100 once finished (whatever the outcome)."""
    if now >= dataset.finished_at:
        return 100
    if now < dataset.fetching_at:
        return 0
    span = (dataset.finished_at - dataset.fetching_at).total_seconds()
    done = (now - dataset.fetching_at).total_seconds()
    return 10 + int(80 * done / span) if span > 0 else 90


def last_successful_sync(datasets: QuerySet[SandboxDataset], now: datetime) -> datetime | None:
    """When the latest Complete dataset among `datasets` finished (None if none has)."""
    latest = (
        datasets.filter(outcome=Outcome.COMPLETE, finished_at__lte=now)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    return latest


# --- sync settings ---------------------------------------------------------------------------


def codat_default_setting(data_type: str) -> SandboxSyncSetting:
    return SandboxSyncSetting(
        data_type=data_type,
        fetch_on_first_link=DEFAULT_FETCH_ON_FIRST_LINK,
        sync_schedule=DEFAULT_SYNC_SCHEDULE,
        sync_order=0,
    )


def client_sync_settings() -> list[SandboxSyncSetting]:
    """The client-wide settings (`GET /profile/syncSettings`): every data type, each as the
    client set it or else Codat's default."""
    own = {row.data_type: row for row in SandboxClientSyncSetting.objects.all()}
    return [
        _as_company_setting(own[data_type])
        if data_type in own
        else codat_default_setting(data_type)
        for data_type in ALL_DATA_TYPES
    ]


def _as_company_setting(row: SandboxClientSyncSetting) -> SandboxSyncSetting:
    # One shape for both levels, so the serializer and the sync engine read either alike.
    return SandboxSyncSetting(
        data_type=row.data_type,
        fetch_on_first_link=row.fetch_on_first_link,
        sync_schedule=row.sync_schedule,
        sync_order=row.sync_order,
        sync_from_utc=row.sync_from_utc,
        sync_from_window=row.sync_from_window,
        months_to_sync=row.months_to_sync,
        is_locked=row.is_locked,
    )


def company_sync_settings(company: SandboxCompany) -> tuple[list[SandboxSyncSetting], bool]:
    """The settings `GET …/syncSettings` shows, and whether they override the defaults: the
    company's own rows once it has set any, else the client-wide settings."""
    if not company.has_own_sync_settings:
        return client_sync_settings(), False
    return list(company.sync_settings.all()), company.overrides_default_sync_settings


def effective_sync_settings(company: SandboxCompany) -> dict[str, SandboxSyncSetting]:
    """What Codat does for each data type of `company`: its own setting where it has one,
    otherwise the client-wide one (which is Codat's default unless the client changed it)."""
    effective = {setting.data_type: setting for setting in client_sync_settings()}
    if company.has_own_sync_settings:
        effective.update({setting.data_type: setting for setting in company.sync_settings.all()})
    return effective


def latest_datasets_by_type(
    datasets: Iterable[SandboxDataset],
) -> dict[str, list[SandboxDataset]]:
    """Datasets grouped by data type, newest first within each type."""
    grouped: dict[str, list[SandboxDataset]] = {}
    for dataset in sorted(datasets, key=lambda item: (item.requested, str(item.id)), reverse=True):
        grouped.setdefault(dataset.data_type, []).append(dataset)
    return grouped
