"""Refreshes, pull operations and data status (docs/codat.md §6), with the simulated sync timeline.

A dataset is Queued when requested, Fetching a second later and finished within
SYNC_SECONDS_MAX; the clock alone moves it, so these tests travel in time instead of waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from codat_sandbox import syncs, timeline
from codat_sandbox.integrations import ALL_DATA_TYPES, BANKING_DATA_TYPES
from codat_sandbox.models import SandboxConnection, SandboxDataset

from .steps import client_fetches_nothing, connect, sync_settings

START = datetime(2026, 5, 6, 9, 0, 0, tzinfo=UTC)
LATER = timedelta(seconds=timeline.SYNC_SECONDS_MAX + 1)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def xero(bakery, clock):
    sync_settings(bakery, "invoices", "bills", "itemReceipts", "banking-transactions")
    return connect(bakery, "gbol", linked=True)


def queue(api, company, data_type: str, **params):
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return api.post(
        f"/companies/{company.id}/data/queue/{data_type}" + (f"?{query}" if query else "")
    )


# --- the timeline -------------------------------------------------------------------------------


def test_a_refresh_is_queued_then_fetching_then_complete(api, bakery, xero, clock):
    clock.shift(LATER)  # past the initial read that linking started

    queued = queue(api, bakery, "invoices")

    assert queued.status_code == 200
    operation = queued.json()
    assert operation["status"] == "Queued"
    assert operation["progress"] == 0
    assert operation["isCompleted"] is False
    assert operation["isErrored"] is False
    assert operation["connectionId"] == str(xero.id)
    assert operation["companyId"] == str(bakery.id)
    assert operation["dataType"] == "invoices"
    assert "completed" not in operation
    path = f"/companies/{bakery.id}/data/history/{operation['id']}"

    clock.shift(timeline.QUEUED_SECONDS + 0.5)
    fetching = api.get(path).json()
    assert fetching["status"] == "Fetching"
    assert 10 <= fetching["progress"] < 100

    clock.shift(LATER)
    complete = api.get(path).json()
    assert complete["status"] == "Complete"
    assert complete["progress"] == 100
    assert complete["isCompleted"] is True
    assert complete["requested"] == operation["requested"]
    assert complete["completed"] > complete["requested"]


def test_every_sync_finishes_within_three_to_five_seconds(bakery, xero):
    for data_type in ALL_DATA_TYPES:
        total = timeline.QUEUED_SECONDS + timeline.fetch_seconds(data_type)
        assert 3 <= total <= timeline.SYNC_SECONDS_MAX == 5


def test_a_faster_sandbox_plays_the_same_timeline_in_a_quarter_of_the_time(
    api, bakery, xero, clock, settings
):
    clock.shift(LATER)
    settings.CODAT_SANDBOX_SYNC_SPEED = 4
    path = f"/companies/{bakery.id}/data/history/" + queue(api, bakery, "invoices").json()["id"]

    clock.shift(timeline.QUEUED_SECONDS / 4 + 0.05)
    assert api.get(path).json()["status"] == "Fetching"
    clock.shift(timeline.SYNC_SECONDS_MAX / 4 - timeline.QUEUED_SECONDS / 4)
    assert api.get(path).json()["status"] == "Complete"


def test_a_connection_gets_its_last_sync_when_a_sync_completes(api, bakery, xero, clock):
    assert "lastSync" not in api.get(f"/companies/{bakery.id}/connections/{xero.id}").json()

    clock.shift(LATER)

    connection = api.get(f"/companies/{bakery.id}/connections/{xero.id}").json()
    company = api.get(f"/companies/{bakery.id}").json()
    assert connection["lastSync"].startswith("2026-05-06T09:00:0")
    assert company["lastSync"] == connection["lastSync"]


# --- what may be refreshed ----------------------------------------------------------------------


def test_an_unknown_data_type_is_400(api, bakery, xero):
    response = queue(api, bakery, "spreadsheets")

    assert response.status_code == 400
    assert "spreadsheets" in response.json()["error"]


def test_an_unknown_company_is_404(api, db):
    assert api.post("/companies/nope/data/queue/invoices").status_code == 404


def test_a_company_without_a_linked_connection_of_that_kind_cannot_refresh(api, bakery, xero):
    response = queue(api, bakery, "banking-transactions")

    assert response.status_code == 400
    assert response.json()["error"] == (
        f"Company {bakery.id} has no linked Banking data connection, so banking-transactions "
        "cannot be refreshed."
    )
    assert response.json()["service"] == "PullApi"


def test_a_company_whose_connection_was_unlinked_cannot_refresh(api, bakery, xero):
    xero.status = SandboxConnection.Status.UNLINKED
    xero.save()

    assert queue(api, bakery, "invoices").status_code == 400


def test_an_explicit_refresh_fetches_a_type_its_settings_switch_off(api, bakery, xero):
    # Sync settings say what Codat fetches by itself; a refresh asked for is done regardless,
    # and shows in the history. Only the app's consent gate stands in the way of one.
    response = queue(api, bakery, "customers")

    assert response.status_code == 200
    assert xero.datasets.filter(data_type="customers").count() == 1
    history = api.get(f"/companies/{bakery.id}/data/history?query=dataType%3Dcustomers").json()
    assert history["totalResults"] == 1


def test_a_type_already_being_fetched_is_refused_with_codats_text(api, bakery, xero, clock):
    running = xero.datasets.get(data_type="invoices")  # from the initial read

    response = queue(api, bakery, "invoices")

    assert response.status_code == 400
    assert response.json()["error"] == (
        f"DatasetAlreadyInProgressException: Cannot queue invoices sync for {bakery.id} "
        f"as previous sync {running.id} is still in progress"
    )
    clock.shift(LATER)
    assert queue(api, bakery, "invoices").status_code == 200


def test_a_type_the_platform_lacks_ends_at_once_as_not_supported(api, bakery, xero, clock):
    clock.shift(LATER)

    operation = queue(api, bakery, "itemReceipts").json()

    assert operation["status"] == "NotSupported"
    assert operation["statusDescription"] == "Xero does not support itemReceipts."
    assert operation["progress"] == 100
    assert operation["isErrored"] is False
    assert operation["isCompleted"] is False


def test_a_refresh_can_be_limited_to_one_connection(api, bakery, clock):
    sync_settings(bakery, "banking-transactions")
    first = connect(bakery, "qhnd", linked=True)
    second = connect(bakery, "suuo", linked=True)
    clock.shift(LATER)

    limited = queue(api, bakery, "banking-transactions", connectionId=second.id).json()
    clock.shift(LATER)
    both = queue(api, bakery, "banking-transactions")

    assert limited["connectionId"] == str(second.id)
    assert both.status_code == 200
    assert first.datasets.filter(requested__gt=START).count() == 1
    assert second.datasets.filter(requested__gt=START).count() == 2


def test_a_type_asked_of_a_connection_of_another_kind_is_not_supported(api, bakery, xero, clock):
    clock.shift(LATER)
    connect(bakery, "qhnd", linked=True)

    operation = queue(api, bakery, "banking-transactions", connectionId=xero.id).json()

    assert operation["status"] == "NotSupported"


@pytest.mark.parametrize(
    ("connection_id", "status"),
    [("not-a-uuid", 400), ("0498e921-9b53-4396-a412-4f2f5983b0a2", 404)],
)
def test_a_connection_id_that_is_not_the_companys_is_refused(
    api, bakery, xero, connection_id, status
):
    assert queue(api, bakery, "invoices", connectionId=connection_id).status_code == status


def test_another_companys_connection_is_404(api, bakery, xero):
    from codat_sandbox import services

    other = services.company_create(name="Other")
    theirs = connect(other, "gbol", linked=True)

    assert queue(api, bakery, "invoices", connectionId=theirs.id).status_code == 404


def test_a_connection_that_is_not_linked_cannot_be_refreshed(api, bakery, xero):
    pending = connect(bakery, "qhnd")

    response = queue(api, bakery, "banking-transactions", connectionId=pending.id)

    assert response.status_code == 400
    assert "PendingAuth" in response.json()["error"]


def test_a_sync_told_to_fail_ends_in_fetch_error_and_the_next_one_succeeds(
    api, bakery, xero, clock
):
    clock.shift(LATER)
    xero.fail_next_sync_data_types = ["invoices"]
    xero.save()

    failing = queue(api, bakery, "invoices").json()
    clock.shift(LATER)
    failed = api.get(f"/companies/{bakery.id}/data/history/{failing['id']}").json()
    succeeding = queue(api, bakery, "invoices").json()
    clock.shift(LATER)

    assert failed["status"] == "FetchError"
    assert failed["isErrored"] is True
    assert failed["errorMessage"] == "The platform returned an error while fetching invoices."
    succeeded = api.get(f"/companies/{bakery.id}/data/history/{succeeding['id']}").json()
    assert succeeded["status"] == "Complete"


# --- first link and refresh-all -----------------------------------------------------------------


def test_linking_queues_only_the_settings_fetched_on_first_link_of_its_kind(bakery, clock):
    sync_settings(bakery, "invoices", "banking-transactions")

    bank = connect(bakery, "qhnd", linked=True)

    assert [d.data_type for d in bank.datasets.all()] == ["banking-transactions"]
    assert bank.datasets.get().is_initial is True


def test_linking_a_company_without_settings_fetches_every_type_of_its_kind(bakery, clock):
    # A fresh Codat account's client-wide default: every data type is fetched on first link.
    connection = connect(bakery, "qhnd", linked=True)

    assert sorted(connection.datasets.values_list("data_type", flat=True)) == sorted(
        BANKING_DATA_TYPES
    )
    assert all(dataset.is_initial for dataset in connection.datasets.all())


def test_types_a_companys_settings_leave_out_follow_the_client_wide_settings(bakery, clock):
    syncs.sync_settings_replace(
        company=bakery,
        settings=[
            syncs.SyncSettingInput("banking-transactions", True, 24, 0),
            syncs.SyncSettingInput("banking-accounts", False, 0, 1),
        ],
        overrides_defaults=True,
    )

    bank = connect(bakery, "qhnd", linked=True)

    # Left out, so Codat's default (fetch on first link) applies to them.
    assert sorted(bank.datasets.values_list("data_type", flat=True)) == [
        "banking-accountBalances",
        "banking-transactionCategories",
        "banking-transactions",
    ]


def test_with_client_wide_settings_off_a_company_without_settings_fetches_nothing(bakery):
    client_fetches_nothing()

    connection = connect(bakery, "gbol", linked=True)

    assert not connection.datasets.exists()


# --- scheduled refreshes ------------------------------------------------------------------------


def history(api, company) -> list[dict]:
    return api.get(f"/companies/{company.id}/data/history?pageSize=500").json()["results"]


def test_a_scheduled_type_is_refreshed_a_schedule_after_its_last_fetch(api, bakery, clock):
    sync_settings(bakery, "invoices")  # on first link, every 24 hours
    connect(bakery, "gbol", linked=True)
    clock.shift(timedelta(hours=23))
    assert [item["dataType"] for item in history(api, bakery)] == ["invoices"]

    clock.shift(timedelta(hours=2))
    pulls = history(api, bakery)

    assert [item["dataType"] for item in pulls] == ["invoices", "invoices"]
    assert pulls[0]["requested"] == "2026-05-07T09:00:00.000000Z"  # 24 h after the first
    assert pulls[0]["status"] == "Complete"


def test_a_type_scheduled_but_not_fetched_on_first_link_waits_a_schedule(api, bakery, clock):
    syncs.sync_settings_replace(
        company=bakery,
        settings=[syncs.SyncSettingInput("bills", False, 24, 0)],
        overrides_defaults=True,
    )
    client_fetches_nothing()
    connect(bakery, "gbol", linked=True)
    assert history(api, bakery) == []

    clock.shift(timedelta(hours=24, minutes=1))

    assert [item["dataType"] for item in history(api, bakery)] == ["bills"]


def test_a_type_with_no_schedule_is_never_refreshed_by_itself(api, bakery, clock):
    sync_settings(bakery, "invoices")
    syncs.sync_settings_replace(
        company=bakery,
        settings=[syncs.SyncSettingInput("invoices", True, 0, 0)],
        overrides_defaults=True,
    )
    client_fetches_nothing()
    connect(bakery, "gbol", linked=True)

    clock.shift(timedelta(days=30))

    assert [item["dataType"] for item in history(api, bakery)] == ["invoices"]


def test_missed_schedules_run_once_and_only_over_linked_connections(api, bakery, clock):
    sync_settings(bakery, "invoices", "banking-accounts")
    connect(bakery, "gbol", linked=True)
    bank = connect(bakery, "qhnd", linked=True)
    bank.status = SandboxConnection.Status.DEAUTHORIZED
    bank.save()

    clock.shift(timedelta(days=3, hours=1))
    pulls = history(api, bakery)

    assert sorted(item["dataType"] for item in pulls) == [
        "banking-accounts",
        "invoices",
        "invoices",
    ]
    assert pulls[0]["requested"] == "2026-05-09T09:00:00.000000Z"


def test_a_scheduled_refresh_is_announced_with_read_completed(api, bakery, clock):
    from codat_sandbox.models import SandboxWebhookMessage

    sync_settings(bakery, "invoices")
    connect(bakery, "gbol", linked=True)
    clock.shift(timedelta(hours=25))

    history(api, bakery)

    message = SandboxWebhookMessage.objects.get(event_type="read.completed")
    assert message.generated == datetime(2026, 5, 7, 9, 0, tzinfo=UTC) + timedelta(
        seconds=timeline.QUEUED_SECONDS + timeline.fetch_seconds("invoices")
    )


def test_linking_again_after_unlinking_starts_another_initial_read(bakery, clock):
    sync_settings(bakery, "invoices")
    connection = connect(bakery, "gbol", linked=True)
    clock.shift(LATER)
    connection.status = SandboxConnection.Status.UNLINKED
    connection.save()

    from codat_sandbox import services

    services.link_authorize(connection=connection)

    assert connection.datasets.filter(is_initial=True).count() == 2


def test_refresh_all_queues_the_first_link_types_over_every_linked_connection(api, bakery, clock):
    sync_settings(bakery, "invoices", "banking-transactions")
    xero = connect(bakery, "gbol", linked=True)
    bank = connect(bakery, "qhnd", linked=True)
    connect(bakery, "aiwb")  # pending: not refreshed
    clock.shift(LATER)

    response = api.post(f"/companies/{bakery.id}/data/all")

    assert response.status_code == 204
    assert response.content == b""
    fresh = SandboxDataset.objects.filter(requested__gt=START)
    assert sorted((d.connection_id, d.data_type) for d in fresh) == sorted(
        [(xero.id, "invoices"), (bank.id, "banking-transactions")]
    )
    assert not any(d.is_initial for d in fresh)


def test_refresh_all_skips_types_still_being_fetched(api, bakery, xero):
    assert api.post(f"/companies/{bakery.id}/data/all").status_code == 204

    assert xero.datasets.filter(data_type="invoices").count() == 1


def test_refresh_all_without_a_linked_connection_is_refused(api, bakery):
    connect(bakery, "gbol")

    response = api.post(f"/companies/{bakery.id}/data/all")

    assert response.status_code == 400
    assert "no linked data connections" in response.json()["error"]


# --- data status --------------------------------------------------------------------------------


def test_data_status_is_empty_before_anything_was_queued(api, bakery):
    response = api.get(f"/companies/{bakery.id}/dataStatus")

    assert response.status_code == 200
    assert response.json() == {}


def test_data_status_follows_the_latest_sync_and_remembers_the_last_good_one(
    api, bakery, xero, clock
):
    path = f"/companies/{bakery.id}/dataStatus"
    first = xero.datasets.get(data_type="invoices")
    assert api.get(path).json()["invoices"] == {
        "dataType": "invoices",
        "currentStatus": "Queued",
        "latestSyncId": str(first.id),
    }

    clock.shift(LATER)
    good = api.get(path).json()["invoices"]
    xero.fail_next_sync_data_types = ["invoices"]
    xero.save()
    failing = queue(api, bakery, "invoices").json()
    clock.shift(LATER)
    after_failure = api.get(path).json()["invoices"]

    assert good["currentStatus"] == "Complete"
    assert good["latestSuccessfulSyncId"] == str(first.id)
    assert after_failure == {
        "dataType": "invoices",
        "currentStatus": "FetchError",
        "latestSyncId": failing["id"],
        "lastSuccessfulSync": good["lastSuccessfulSync"],
        "latestSuccessfulSyncId": str(first.id),
    }
    # The initial read also tried itemReceipts, which Xero lacks; banking waits for a bank.
    assert set(api.get(path).json()) == {"invoices", "bills", "itemReceipts"}
    assert api.get(path).json()["itemReceipts"]["currentStatus"] == "NotSupported"


def test_data_status_of_an_unknown_company_is_404(api, db):
    assert api.get("/companies/0498e921-9b53-4396-a412-4f2f5983b0a2/dataStatus").status_code == 404


# --- pull operation history ---------------------------------------------------------------------


def test_history_lists_pull_operations_newest_first_in_codats_envelope(api, bakery, xero, clock):
    clock.shift(LATER)
    newest = queue(api, bakery, "invoices").json()

    response = api.get(f"/companies/{bakery.id}/data/history")

    page = response.json()
    assert response.status_code == 200
    assert page["totalResults"] == 4  # the initial read's three, and this one
    assert page["results"][0]["id"] == newest["id"]
    assert page["_links"]["self"]["href"] == f"/companies/{bakery.id}/data/history"


def test_history_pages_and_filters_with_codats_query(api, bakery, xero, clock):
    clock.shift(LATER)
    path = f"/companies/{bakery.id}/data/history"

    paged = api.get(f"{path}?page=2&pageSize=1").json()
    bills = api.get(f"{path}?query=dataType%3Dbills").json()
    unqueryable = api.get(f"{path}?query=isCompleted%3Dtrue")

    assert (paged["pageNumber"], len(paged["results"])) == (2, 1)
    assert "previous" in paged["_links"]
    assert [item["dataType"] for item in bills["results"]] == ["bills"]
    assert unqueryable.status_code == 400
    assert "isCompleted" in unqueryable.json()["error"]


def test_history_filters_one_connections_operations(api, bakery, clock):
    """Two bank connections of one company: `query=connectionId=…` lists only the one's, each
    operation naming its connection (what the app's per-connection progress reads)."""
    sync_settings(bakery, "banking-accounts", "banking-transactions")
    first = connect(bakery, "qhnd", linked=True)
    clock.shift(LATER)
    second = connect(bakery, "suuo", linked=True)
    path = f"/companies/{bakery.id}/data/history"

    everything = api.get(path).json()
    only_first = api.get(f"{path}?query=connectionId%3D{first.id}").json()
    both = api.get(f"{path}?query=connectionId%3D{first.id}%7C%7CconnectionId%3D{second.id}")

    assert {item["connectionId"] for item in everything["results"]} == {
        str(first.id),
        str(second.id),
    }
    assert only_first["totalResults"] == 2
    assert {(item["connectionId"], item["status"]) for item in only_first["results"]} == {
        (str(first.id), "Complete")
    }
    assert both.json()["totalResults"] == 4


def test_a_pull_operation_of_another_company_is_404(api, bakery, xero):
    from codat_sandbox import services

    other = services.company_create(name="Other")
    dataset = xero.datasets.first()

    assert api.get(f"/companies/{other.id}/data/history/{dataset.id}").status_code == 404
    assert api.get(f"/companies/{bakery.id}/data/history/nope").status_code == 404


# --- deletion takes the data with it -------------------------------------------------------------


def test_deleting_a_company_takes_its_pull_history_and_data_status(api, bakery, xero, clock):
    clock.shift(LATER)
    history = api.get(f"/companies/{bakery.id}/data/history").json()["results"]
    assert history and SandboxDataset.objects.filter(company=bakery).exists()
    one = history[0]["id"]

    assert api.delete(f"/companies/{bakery.id}").status_code == 204

    assert api.get(f"/companies/{bakery.id}").status_code == 404
    assert api.get(f"/companies/{bakery.id}/data/history").status_code == 404
    assert api.get(f"/companies/{bakery.id}/data/history/{one}").status_code == 404
    assert api.get(f"/companies/{bakery.id}/dataStatus").status_code == 404
    assert not SandboxDataset.objects.exists()


def test_deleting_a_connection_takes_its_data_and_leaves_the_others(api, bakery, xero, clock):
    bank = connect(bakery, "qhnd", linked=True)
    clock.shift(LATER)
    ours = api.get(f"/companies/{bakery.id}/data/history").json()["results"]
    gone = [op["id"] for op in ours if op["connectionId"] == str(xero.id)]
    assert gone and any(op["connectionId"] == str(bank.id) for op in ours)

    api.delete(f"/companies/{bakery.id}/connections/{xero.id}")

    left = api.get(f"/companies/{bakery.id}/data/history").json()["results"]
    assert left and {op["connectionId"] for op in left} == {str(bank.id)}
    assert api.get(f"/companies/{bakery.id}/data/history/{gone[0]}").status_code == 404
    assert not SandboxDataset.objects.filter(connection_id=xero.id).exists()
    status = api.get(f"/companies/{bakery.id}/dataStatus").json()
    assert "invoices" not in status  # only the bank's types remain
