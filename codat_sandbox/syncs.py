"""Simulated syncs: sync settings, refreshes and their pull operations (datasets), as Codat runs
them (docs/codat.md §6).

Rules the sandbox keeps:
- It fetches only data types in the company's own sync settings. Its client-wide defaults fetch
  nothing on first link, so until the app sets a company's settings, linking fetches nothing and
  an explicit refresh is refused. (Codat would use the defaults from its portal; this sandbox is
  stricter on purpose, so that an app forgetting to set consented settings shows in tests.)
- On each authorisation of a connection (first link or re-link), the settings with
  `fetchOnFirstLink` true whose source type matches the connection are queued: the "initial read".
- A refresh needs a Linked connection of the data type's source type; a platform lacking the
  type gives a NotSupported dataset; a type already being fetched is refused with Codat's
  `DatasetAlreadyInProgressException` text (HTTP 400: Codat documents no status for it, and 400
  is what its spec lists for this operation and what it answers to the like-worded "read
  operation in progress" refusal).

A dataset's status is read off its timeline by the clock (`timeline.status_at`), so no thread
moves datasets along and tests drive syncs with time_machine alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from codat.types import source_type_of

from . import webhooks
from .errors import PULL_API, SandboxRuleError
from .integrations import get_integration
from .models import SandboxCompany, SandboxConnection, SandboxDataset, SandboxSyncSetting
from .timeline import QUEUED_SECONDS, fetch_seconds

Outcome = SandboxDataset.Outcome

FETCH_ERROR_MESSAGE = "The platform returned an error while fetching {data_type}."
AUTH_ERROR_MESSAGE = "The integration de-authorized access to the connection."


@dataclass(frozen=True)
class SyncSettingInput:
    """One validated entry of a `POST …/syncSettings` body."""

    data_type: str
    fetch_on_first_link: bool
    sync_schedule: int
    sync_order: int
    sync_from_utc: str = ""
    sync_from_window: int | None = None
    months_to_sync: int | None = None
    is_locked: bool | None = None


@transaction.atomic
def sync_settings_replace(
    *,
    company: SandboxCompany,
    settings: Sequence[SyncSettingInput],
    overrides_defaults: bool,
) -> None:
    """Make `settings` the company's whole sync settings.

    Types left out are no longer synced. `overridesDefaults` is kept and echoed back; as the
    sandbox's defaults fetch nothing, the company's own list is what syncs either way.
    """
    company = _lock(company)
    company.sync_settings.all().delete()
    rows = [
        SandboxSyncSetting(
            company=company,
            data_type=item.data_type,
            fetch_on_first_link=item.fetch_on_first_link,
            sync_schedule=item.sync_schedule,
            sync_order=item.sync_order,
            sync_from_utc=item.sync_from_utc,
            sync_from_window=item.sync_from_window,
            months_to_sync=item.months_to_sync,
            is_locked=item.is_locked,
        )
        for item in settings
    ]
    for row in rows:
        row.full_clean(exclude=["company"])
    SandboxSyncSetting.objects.bulk_create(rows)
    company.has_own_sync_settings = True
    company.overrides_default_sync_settings = overrides_defaults
    company.save(update_fields=["has_own_sync_settings", "overrides_default_sync_settings"])


def _first_link_types(company: SandboxCompany, source_type: str) -> list[str]:
    if not company.has_own_sync_settings:
        return []
    return [
        setting.data_type
        for setting in company.sync_settings.filter(fetch_on_first_link=True)
        if source_type_of(setting.data_type) == source_type
    ]


# --- queuing ---------------------------------------------------------------------------------


def _lock(company: SandboxCompany) -> SandboxCompany:
    # One queue decision at a time per company, so two refreshes of one type cannot both pass
    # the in-progress check (PostgreSQL; SQLite serialises writers anyway).
    return SandboxCompany.objects.select_for_update().get(pk=company.pk)


def running_dataset(
    connection: SandboxConnection, data_type: str, now: datetime
) -> SandboxDataset | None:
    return (
        connection.datasets.filter(data_type=data_type, finished_at__gt=now)
        .order_by("-requested")
        .first()
    )


def _plan_dataset(
    *, connection: SandboxConnection, data_type: str, now: datetime, is_initial: bool
) -> SandboxDataset:
    """A new dataset with its whole timeline and outcome decided now."""
    integration = get_integration(connection.integration_key)
    dataset = SandboxDataset(
        company_id=connection.company_id,
        connection=connection,
        data_type=data_type,
        requested=now,
        is_initial=is_initial,
    )
    if integration is None or not integration.supports(data_type):
        name = integration.name if integration else connection.integration_key
        dataset.outcome = Outcome.NOT_SUPPORTED
        dataset.status_description = f"{name} does not support {data_type}."
        dataset.fetching_at = dataset.finished_at = now
        return _saved(dataset)

    dataset.fetching_at = now + timedelta(seconds=QUEUED_SECONDS)
    dataset.finished_at = dataset.fetching_at + timedelta(seconds=fetch_seconds(data_type))
    if data_type in connection.fail_next_sync_data_types:
        # One failure per request from the console: the sync after this one succeeds again.
        connection.fail_next_sync_data_types = [
            item for item in connection.fail_next_sync_data_types if item != data_type
        ]
        connection.save(update_fields=["fail_next_sync_data_types"])
        dataset.outcome = Outcome.FETCH_ERROR
        dataset.error_message = FETCH_ERROR_MESSAGE.format(data_type=data_type)
    else:
        dataset.outcome = Outcome.COMPLETE
        dataset.records_modified = not connection.datasets.filter(
            data_type=data_type, outcome=Outcome.COMPLETE
        ).exists()
    return _saved(dataset)


def _saved(dataset: SandboxDataset) -> SandboxDataset:
    dataset.full_clean()
    dataset.save()
    return dataset


def _linked_connections(company: SandboxCompany) -> list[SandboxConnection]:
    return list(
        company.connections.filter(status=SandboxConnection.Status.LINKED).order_by("created")
    )


def _connection_source_type(connection: SandboxConnection) -> str:
    integration = get_integration(connection.integration_key)
    return integration.source_type if integration else "Unknown"


@transaction.atomic
def queue_data_type(
    *,
    company: SandboxCompany,
    data_type: str,
    connection: SandboxConnection | None = None,
    now: datetime | None = None,
) -> list[SandboxDataset]:
    """`POST …/data/queue/{dataType}`: one dataset per connection it runs on (first is returned).

    Without `connection`, every Linked connection of the type's source type is refreshed. A
    given connection must be Linked; if its platform cannot supply the type the dataset is
    NotSupported.
    """
    now = now or timezone.now()
    company = _lock(company)
    if connection is not None:
        if connection.status != SandboxConnection.Status.LINKED:
            raise SandboxRuleError(
                f"Data connection {connection.id} is {connection.status}; only Linked "
                "connections can be refreshed. Ask the customer to link it again.",
                service=PULL_API,
            )
        candidates = [connection]
    else:
        wanted = source_type_of(data_type)
        candidates = [
            linked
            for linked in _linked_connections(company)
            if _connection_source_type(linked) == wanted
        ]
        if not candidates:
            raise SandboxRuleError(
                f"Company {company.id} has no linked {wanted} data connection, so {data_type} "
                "cannot be refreshed.",
                service=PULL_API,
            )
    if not company.sync_settings.filter(data_type=data_type).exists():
        raise SandboxRuleError(
            f"Cannot queue {data_type} for company {company.id}: it is not in the company's "
            "sync settings. Set them with POST /companies/{companyId}/syncSettings first "
            "(the Codat sandbox syncs only the data types in a company's settings).",
            service=PULL_API,
        )
    for candidate in candidates:
        running = running_dataset(candidate, data_type, now)
        if running is not None:
            raise SandboxRuleError(
                f"DatasetAlreadyInProgressException: Cannot queue {data_type} sync for "
                f"{company.id} as previous sync {running.id} is still in progress",
                service=PULL_API,
            )
    datasets = [
        _plan_dataset(connection=candidate, data_type=data_type, now=now, is_initial=False)
        for candidate in candidates
    ]
    webhooks.read_event(company=company, datasets=datasets, initial=False)
    return datasets


def _queue_first_link_types(
    connection: SandboxConnection, *, now: datetime, is_initial: bool
) -> list[SandboxDataset]:
    # A type still being fetched over this connection is left to finish, not queued twice.
    return [
        _plan_dataset(connection=connection, data_type=data_type, now=now, is_initial=is_initial)
        for data_type in _first_link_types(connection.company, _connection_source_type(connection))
        if running_dataset(connection, data_type, now) is None
    ]


@transaction.atomic
def queue_all(*, company: SandboxCompany, now: datetime | None = None) -> list[SandboxDataset]:
    """`POST …/data/all`: the first-link types of the settings, over every Linked connection."""
    now = now or timezone.now()
    company = _lock(company)
    linked = _linked_connections(company)
    if not linked:
        raise SandboxRuleError(
            f"Company {company.id} has no linked data connections to refresh.", service=PULL_API
        )
    datasets: list[SandboxDataset] = []
    for connection in linked:
        datasets += _queue_first_link_types(connection, now=now, is_initial=False)
    webhooks.read_event(company=company, datasets=datasets, initial=False)
    return datasets


@transaction.atomic
def queue_initial_read(
    *, connection: SandboxConnection, now: datetime | None = None
) -> list[SandboxDataset]:
    """The read Codat starts when a connection is authorised (first link or re-link)."""
    now = now or timezone.now()
    company = _lock(connection.company)
    datasets = _queue_first_link_types(connection, now=now, is_initial=True)
    webhooks.read_event(company=company, datasets=datasets, initial=True, connection=connection)
    return datasets


@transaction.atomic
def end_in_flight_datasets(
    *, connection: SandboxConnection, outcome: str, error_message: str, now: datetime
) -> list[SandboxDataset]:
    """Datasets of `connection` not finished at `now` end there, with `outcome` (AuthError when
    the platform withdrew access mid-fetch)."""
    ended = list(connection.datasets.filter(finished_at__gt=now).select_for_update())
    for dataset in ended:
        dataset.outcome = outcome
        dataset.error_message = error_message
        dataset.records_modified = False
        dataset.fetching_at = min(dataset.fetching_at, now)
        dataset.finished_at = now
        dataset.save(
            update_fields=[
                "outcome",
                "error_message",
                "records_modified",
                "fetching_at",
                "finished_at",
            ]
        )
    # Their read messages were written with the planned outcome; tell the new one instead.
    webhooks.rebuild_read_messages(webhooks.pending_read_message_ids(ended))
    return ended


# --- reading ---------------------------------------------------------------------------------
