"""Simulated syncs: sync settings, refreshes and their pull operations (datasets), as Codat runs
them (docs/codat.md §6).

Rules the sandbox keeps:
- Each data type of a company has an effective setting: the company's own (`POST …/syncSettings`)
  where it names the type, otherwise the client-wide one (`POST /profile/syncSettings`), which
  for a type the client never set is Codat's default: fetched on first link, refreshed daily
  (timeline.effective_sync_settings). So a company whose own settings leave a type out still
  has it fetched, as on Codat.
- On each authorisation of a connection (first link or re-link), every type whose effective
  setting is `fetchOnFirstLink` and whose source type matches the connection is queued: the
  "initial read".
- A type whose effective `syncSchedule` is N > 0 is refreshed over each Linked connection of
  its kind N hours after its previous fetch there (or after the authorisation, if never
  fetched). Nothing watches the clock: due refreshes are written when the company's data is
  next looked at through the API (`run_due_schedules`), dated when they fell due.
- A refresh needs a Linked connection of the data type's source type; a platform lacking the
  type gives a NotSupported dataset; a type already being fetched is refused with Codat's
  `DatasetAlreadyInProgressException` text (HTTP 400: Codat documents no status for it, and 400
  is what its spec lists for this operation and what it answers to the like-worded "read
  operation in progress" refusal).

Every pull, whatever started it, is a dataset: `GET …/data/history` lists them all.

A dataset's status is read off its timeline by the clock (`timeline.status_at`), so no thread
moves datasets along and tests drive syncs with time_machine alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from codat.types import source_type_of

from . import webhooks
from .errors import PULL_API, SandboxRuleError
from .integrations import get_integration
from .models import (
    SandboxClientSyncSetting,
    SandboxCompany,
    SandboxConnection,
    SandboxDataset,
    SandboxProfile,
    SandboxSyncSetting,
)
from .timeline import effective_sync_settings, fetch_seconds, queued_seconds

Outcome = SandboxDataset.Outcome

# A fresh account's profile name (Codat's is the client's company name, set at sign-up).
DEFAULT_PROFILE_NAME = "Codat sandbox"

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


def _setting_fields(item: SyncSettingInput) -> dict[str, object]:
    return {
        "fetch_on_first_link": item.fetch_on_first_link,
        "sync_schedule": item.sync_schedule,
        "sync_order": item.sync_order,
        "sync_from_utc": item.sync_from_utc,
        "sync_from_window": item.sync_from_window,
        "months_to_sync": item.months_to_sync,
        "is_locked": item.is_locked,
    }


@transaction.atomic
def sync_settings_replace(
    *,
    company: SandboxCompany,
    settings: Sequence[SyncSettingInput],
    overrides_defaults: bool,
) -> None:
    """Make `settings` the company's own sync settings.

    Types left out follow the client-wide settings again (timeline.effective_sync_settings).
    `overridesDefaults` is kept and echoed back.
    """
    company = _lock(company)
    company.sync_settings.all().delete()
    rows = [
        SandboxSyncSetting(
            company=company,
            data_type=item.data_type,
            **_setting_fields(item),
        )
        for item in settings
    ]
    for row in rows:
        row.full_clean(exclude=["company"])
    SandboxSyncSetting.objects.bulk_create(rows)
    company.has_own_sync_settings = True
    company.overrides_default_sync_settings = overrides_defaults
    company.save(update_fields=["has_own_sync_settings", "overrides_default_sync_settings"])


@transaction.atomic
def client_sync_settings_replace(
    *, settings: Sequence[SyncSettingInput], overrides_defaults: bool
) -> None:
    """`POST /profile/syncSettings`: make `settings` the client-wide settings. A type left out
    has Codat's default again."""
    profile = profile_for_update()
    SandboxClientSyncSetting.objects.all().delete()
    rows = [
        SandboxClientSyncSetting(
            data_type=item.data_type,
            **_setting_fields(item),
        )
        for item in settings
    ]
    for row in rows:
        row.full_clean(validate_unique=False)
    SandboxClientSyncSetting.objects.bulk_create(rows)
    profile.sync_overrides_defaults = overrides_defaults
    profile.save()


def profile_for_update() -> SandboxProfile:
    """The client's profile row, locked; created with a fresh account's values if missing."""
    profile, _ = SandboxProfile.objects.select_for_update().get_or_create(
        pk=1, defaults={"name": DEFAULT_PROFILE_NAME}
    )
    return profile


def _first_link_types(company: SandboxCompany, source_type: str) -> list[str]:
    return [
        data_type
        for data_type, setting in effective_sync_settings(company).items()
        if setting.fetch_on_first_link and source_type_of(data_type) == source_type
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
    [dataset] = _plan_datasets(
        connection=connection, data_types=[data_type], now=now, is_initial=is_initial
    )
    return dataset


def _plan_datasets(
    *, connection: SandboxConnection, data_types: list[str], now: datetime, is_initial: bool
) -> list[SandboxDataset]:
    """New datasets over one connection, each with its whole timeline and outcome decided now,
    written in one INSERT: a first link plans a dozen at once, and row by row it was the
    sandbox's costliest step."""
    if not data_types:
        return []
    integration = get_integration(connection.integration_key)
    fetched_before = set(
        connection.datasets.filter(data_type__in=data_types, outcome=Outcome.COMPLETE)
        .values_list("data_type", flat=True)
        .distinct()
    )
    speed = settings.CODAT_SANDBOX_SYNC_SPEED
    datasets = []
    for data_type in data_types:
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
        else:
            dataset.fetching_at = now + timedelta(seconds=queued_seconds(speed=speed))
            dataset.finished_at = dataset.fetching_at + timedelta(
                seconds=fetch_seconds(data_type, speed=speed)
            )
            if data_type in connection.fail_next_sync_data_types:
                # One failure per request from the console: the sync after this one succeeds.
                connection.fail_next_sync_data_types = [
                    item for item in connection.fail_next_sync_data_types if item != data_type
                ]
                connection.save(update_fields=["fail_next_sync_data_types"])
                dataset.outcome = Outcome.FETCH_ERROR
                dataset.error_message = FETCH_ERROR_MESSAGE.format(data_type=data_type)
            else:
                dataset.outcome = Outcome.COMPLETE
                dataset.records_modified = data_type not in fetched_before
        # The company and connection are the rows this planning holds, and the id is a new
        # UUID: checking either again would cost a query per dataset and could not fail.
        dataset.full_clean(exclude=["company", "connection"], validate_unique=False)
        datasets.append(dataset)
    return SandboxDataset.objects.bulk_create(datasets)


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
    types = _first_link_types(connection.company, _connection_source_type(connection))
    # A type still being fetched over this connection is left to finish, not queued twice.
    running = set(
        connection.datasets.filter(data_type__in=types, finished_at__gt=now).values_list(
            "data_type", flat=True
        )
    )
    return _plan_datasets(
        connection=connection,
        data_types=[data_type for data_type in types if data_type not in running],
        now=now,
        is_initial=is_initial,
    )


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


def _due_schedules(
    company: SandboxCompany, now: datetime
) -> list[tuple[SandboxConnection, str, datetime]]:
    """(connection, data type, when it fell due) for every scheduled refresh due by `now`.

    Only the latest missed occurrence counts: a scheduler that was not looked at for days runs
    each type once, not once per missed period.
    """
    linked = _linked_connections(company)
    if not linked:
        return []
    scheduled = {
        data_type: timedelta(hours=setting.sync_schedule)
        for data_type, setting in effective_sync_settings(company).items()
        if setting.sync_schedule > 0
    }
    due = []
    for connection in linked:
        source_type = _connection_source_type(connection)
        history = {
            row["data_type"]: row
            for row in connection.datasets.values("data_type").annotate(
                last_requested=Max("requested"), last_finished=Max("finished_at")
            )
        }
        for data_type, period in scheduled.items():
            if source_type_of(data_type) != source_type:
                continue
            previous = history.get(data_type)
            base = previous["last_requested"] if previous else connection.linked_at
            if base is None or now < base + period:
                continue
            when = base + period * ((now - base) // period)
            if previous and previous["last_finished"] > when:
                continue  # still being fetched when the next one fell due
            due.append((connection, data_type, when))
    return due


def run_due_schedules(
    *, company: SandboxCompany, now: datetime | None = None
) -> list[SandboxDataset]:
    """Write the scheduled refreshes of `company` that have fallen due, one read per connection,
    each dated when it fell due; returns the new datasets."""
    now = now or timezone.now()
    if not _due_schedules(company, now):
        return []
    with transaction.atomic():
        company = _lock(company)
        by_connection: dict[object, list[SandboxDataset]] = {}
        for connection, data_type, when in _due_schedules(company, now):
            by_connection.setdefault(connection.pk, []).append(
                _plan_dataset(
                    connection=connection, data_type=data_type, now=when, is_initial=False
                )
            )
        datasets: list[SandboxDataset] = []
        for batch in by_connection.values():
            webhooks.read_event(company=company, datasets=batch, initial=False)
            datasets += batch
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
