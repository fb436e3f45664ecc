"""Sync settings, refresh, data status and pull operations (docs/codat.md §6), client side."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from codat.errors import (
    CodatNotFound,
    CodatRejected,
    CodatUnavailable,
    DatasetAlreadyInProgress,
)
from codat.types import DATA_TYPES, DataStatus, PullOperation, SyncSetting
from tests.codat import BASE_URL, COMPANY_ID, CONNECTION_ID, FakeTime, make_client, payload

pytestmark = pytest.mark.respx(base_url=BASE_URL, assert_all_called=False)

DATASET_ID = "97d60846-f07a-4d42-b5a0-0bdcc6ebf56b"


def allow(*data_types: str):
    """A consent gate allowing `data_types` for every company."""
    return lambda company_id: frozenset(data_types)


# --- Sync settings ------------------------------------------------------------------------------


def test_set_sync_settings_posts_the_company_its_settings_and_overrides_defaults(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/syncSettings").respond(204)
    client = make_client(data_type_gate=allow("invoices", "banking-transactions"))

    result = client.set_sync_settings(
        COMPANY_ID,
        [
            SyncSetting("invoices", True, 24, 0, sync_from_window=12),
            SyncSetting("banking-transactions", True, 24, 1, months_to_sync=6),
        ],
    )

    assert result is None
    assert json.loads(route.calls.last.request.content) == {
        "companyId": COMPANY_ID,
        "settings": [
            {
                "dataType": "invoices",
                "fetchOnFirstLink": True,
                "syncSchedule": 24,
                "syncOrder": 0,
                "syncFromWindow": 12,
            },
            {
                "dataType": "banking-transactions",
                "fetchOnFirstLink": True,
                "syncSchedule": 24,
                "syncOrder": 1,
                "monthsToSync": 6,
            },
        ],
        "overridesDefaults": True,
    }


def test_set_sync_settings_is_retried_after_a_5xx_because_it_replaces_state(respx_mock):
    time = FakeTime()
    route = respx_mock.post(f"/companies/{COMPANY_ID}/syncSettings")
    route.side_effect = [
        httpx.Response(503, json=payload("error_503")),
        httpx.Response(204),
    ]

    make_client(time, data_type_gate=allow("invoices")).set_sync_settings(
        COMPANY_ID, [SyncSetting("invoices", True, 24, 0)]
    )

    assert route.call_count == 2


def test_set_sync_settings_rejected_by_codat_raises_codat_rejected_with_its_validation(
    respx_mock,
):
    respx_mock.post(f"/companies/{COMPANY_ID}/syncSettings").respond(
        400, json=payload("error_400_validation")
    )
    client = make_client(data_type_gate=allow("invoices"))

    with pytest.raises(CodatRejected) as caught:
        client.set_sync_settings(COMPANY_ID, [SyncSetting("invoices", True, 24, 0)])

    assert caught.value.status_code == 400
    assert len(caught.value.validation) == 2


# --- Refresh ------------------------------------------------------------------------------------


def test_queue_data_type_posts_to_the_queue_path_and_reads_the_pull_operation(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/invoices").respond(
        200, json=payload("pull_operation")
    )

    operation = make_client(data_type_gate=allow("invoices")).queue_data_type(
        COMPANY_ID, "invoices"
    )

    request = route.calls.last.request
    assert request.content == b""
    assert "connectionId" not in request.url.params
    assert operation == PullOperation(
        id=DATASET_ID,
        company_id="4645bd78-8988-45bc-ac9e-67ba5df6e4e5",
        connection_id="51baa045-4836-4317-a42e-3542e991e581",
        data_type="invoices",
        status="Initial",
        requested=datetime(2022, 11, 14, 11, 18, 37, 279835, tzinfo=UTC),
        progress=10,
        is_completed=False,
        is_errored=False,
        completed=None,
        status_description="Paused until 2022-10-23T00:00:00.000Z",
        error_message=None,
    )
    assert operation.is_finished is False


def test_queue_data_type_limits_the_refresh_to_one_connection_when_asked(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/banking-transactions").respond(
        200, json=payload("pull_operation") | {"dataType": "banking-transactions"}
    )

    make_client(data_type_gate=allow("banking-transactions")).queue_data_type(
        COMPANY_ID, "banking-transactions", connection_id=CONNECTION_ID
    )

    assert route.calls.last.request.url.params["connectionId"] == CONNECTION_ID


def test_a_refresh_already_in_progress_raises_dataset_already_in_progress(respx_mock):
    respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/invoices").respond(
        400, json=payload("error_400_dataset_in_progress")
    )

    with pytest.raises(DatasetAlreadyInProgress) as caught:
        make_client(data_type_gate=allow("invoices")).queue_data_type(COMPANY_ID, "invoices")

    assert isinstance(caught.value, CodatRejected)
    assert DATASET_ID in caught.value.message


def test_a_refresh_in_progress_is_recognised_by_its_text_whatever_the_status(respx_mock):
    body = payload("error_400_dataset_in_progress") | {"statusCode": 409}
    respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/invoices").respond(409, json=body)

    with pytest.raises(DatasetAlreadyInProgress):
        make_client(data_type_gate=allow("invoices")).queue_data_type(COMPANY_ID, "invoices")


def test_other_refusals_stay_plain_codat_rejected(respx_mock):
    respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/invoices").respond(
        400, json=payload("error_400_malformed_query")
    )

    with pytest.raises(CodatRejected) as caught:
        make_client(data_type_gate=allow("invoices")).queue_data_type(COMPANY_ID, "invoices")

    assert not isinstance(caught.value, DatasetAlreadyInProgress)


def test_queue_data_type_is_not_resent_after_a_5xx_because_it_may_have_queued(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/invoices").respond(
        500, json=payload("error_500")
    )

    with pytest.raises(CodatUnavailable) as caught:
        make_client(data_type_gate=allow("invoices")).queue_data_type(COMPANY_ID, "invoices")

    assert route.call_count == 1
    assert caught.value.may_have_been_applied is True


def test_queue_data_type_for_an_unknown_company_raises_not_found(respx_mock):
    respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/invoices").respond(
        404, json=payload("error_404_company")
    )

    with pytest.raises(CodatNotFound):
        make_client(data_type_gate=allow("invoices")).queue_data_type(COMPANY_ID, "invoices")


# --- Data status --------------------------------------------------------------------------------


def test_get_data_status_reads_each_data_type(respx_mock):
    respx_mock.get(f"/companies/{COMPANY_ID}/dataStatus").respond(200, json=payload("data_status"))

    statuses = make_client().get_data_status(COMPANY_ID)

    assert statuses["invoices"] == DataStatus(
        data_type="invoices",
        current_status="Complete",
        last_successful_sync=datetime(2022, 1, 1, tzinfo=UTC),
        latest_sync_id="d03b6979-eb3b-447a-a27a-13cf457a9f48",
        latest_successful_sync_id="6883bba8-514d-423f-ba7f-c38285a80b7f",
    )
    assert statuses["suppliers"].current_status == "FetchError"
    assert statuses["suppliers"].last_successful_sync is None
    assert statuses["suppliers"].latest_successful_sync_id is None


def test_a_data_type_codat_never_synced_has_no_current_status(respx_mock):
    # Codat's docs show `{"dataType": "bills"}` for a type never synced, despite the schema.
    respx_mock.get(f"/companies/{COMPANY_ID}/dataStatus").respond(200, json=payload("data_status"))

    statuses = make_client().get_data_status(COMPANY_ID)

    assert statuses["bills"].current_status is None


def test_a_null_data_status_is_left_out(respx_mock):
    respx_mock.get(f"/companies/{COMPANY_ID}/dataStatus").respond(200, json=payload("data_status"))

    assert "customers" not in make_client().get_data_status(COMPANY_ID)


def test_a_data_status_that_is_not_an_object_is_codat_unavailable(respx_mock):
    respx_mock.get(f"/companies/{COMPANY_ID}/dataStatus").respond(200, json=["invoices"])

    with pytest.raises(CodatUnavailable):
        make_client().get_data_status(COMPANY_ID)


def test_the_data_type_keys_are_the_specs_enum():
    from tests.sandbox.openapi import load_spec

    enum = load_spec()["components"]["schemas"]["DataStatus"]["properties"]["dataType"]["enum"]

    assert list(DATA_TYPES) == enum


def test_list_pull_operations_sends_paging_and_query_and_reads_the_page(respx_mock):
    route = respx_mock.get(f"/companies/{COMPANY_ID}/data/history").respond(
        200, json=payload("pull_operations_page")
    )

    page = make_client().list_pull_operations(
        COMPANY_ID, page=1, page_size=1, query="dataType=invoices"
    )

    params = route.calls.last.request.url.params
    assert (params["page"], params["pageSize"], params["query"]) == ("1", "1", "dataType=invoices")
    assert [operation.id for operation in page.results] == [DATASET_ID]
    assert page.total_results == 3
    assert page.has_next is True


def test_list_pull_operations_without_a_query_sends_none(respx_mock):
    route = respx_mock.get(f"/companies/{COMPANY_ID}/data/history").respond(
        200, json=payload("pull_operations_page")
    )

    make_client().list_pull_operations(COMPANY_ID)

    assert "query" not in route.calls.last.request.url.params


# --- The client's account: profile, client-wide sync settings, webhook consumers -----------------

CLIENT_ID = "367f7975-267b-439b-90c6-a6040ee680f3"


def test_get_profile_reads_the_redirect_url(respx_mock):
    respx_mock.get("/profile").respond(
        200,
        json={
            "name": "Bob's Burgers",
            "redirectUrl": "https://bobs-burgers.{countrySuffix}/{companyId}",
            "whiteListUrls": ["https://bobs-burgers.com"],
            "apiKey": "never-kept",
        },
    )

    profile = make_client().get_profile()

    assert profile.name == "Bob's Burgers"
    assert profile.redirect_url == "https://bobs-burgers.{countrySuffix}/{companyId}"
    assert profile.white_list_urls == ("https://bobs-burgers.com",)


def test_update_profile_puts_every_field_it_knows_and_no_api_key(respx_mock):
    route = respx_mock.put("/profile").respond(
        200, json={"name": "Bank", "redirectUrl": "https://bank.example/{companyId}"}
    )
    from codat.types import Profile

    updated = make_client().update_profile(
        Profile(
            name="Bank",
            redirect_url="https://bank.example/{companyId}",
            logo_url="https://bank.example/logo.png",
            white_list_urls=("https://bank.example",),
        )
    )

    assert json.loads(route.calls.last.request.content) == {
        "name": "Bank",
        "redirectUrl": "https://bank.example/{companyId}",
        "logoUrl": "https://bank.example/logo.png",
        "whiteListUrls": ["https://bank.example"],
    }
    assert updated.redirect_url == "https://bank.example/{companyId}"


def test_client_sync_settings_are_read_and_set_with_the_client_id(respx_mock):
    respx_mock.get("/profile/syncSettings").respond(
        200,
        json={
            "clientId": CLIENT_ID,
            "settings": [
                {
                    "dataType": "invoices",
                    "fetchOnFirstLink": True,
                    "syncSchedule": 24,
                    "syncOrder": 0,
                }
            ],
            "overridesDefaults": False,
        },
    )
    posted = respx_mock.post("/profile/syncSettings").respond(204)
    client = make_client()

    current = client.get_client_sync_settings()
    client.set_client_sync_settings(current.client_id, [SyncSetting("invoices", False, 0, 0)])

    assert current.settings == (SyncSetting("invoices", True, 24, 0),)
    assert current.overrides_defaults is False
    assert json.loads(posted.calls.last.request.content) == {
        "clientId": CLIENT_ID,
        "settings": [
            {"dataType": "invoices", "fetchOnFirstLink": False, "syncSchedule": 0, "syncOrder": 0}
        ],
        "overridesDefaults": True,
    }


def test_webhook_consumers_are_listed_created_and_deleted(respx_mock):
    consumer = {
        "id": "12571faf-0898-47e7-afdd-0fe9eb0a9bf5",
        "url": "https://bank.example/webhooks/codat/",
        "eventTypes": ["read.completed"],
        "disabled": False,
    }
    respx_mock.get("/webhooks").respond(200, json={"results": [consumer]})
    created = respx_mock.post("/webhooks").respond(201, json=consumer)
    deleted = respx_mock.delete(f"/webhooks/{consumer['id']}").respond(204)
    client = make_client()

    [listed] = client.list_webhook_consumers()
    made = client.create_webhook_consumer(url=consumer["url"], event_types=["read.completed"])
    client.delete_webhook_consumer(listed.id)

    assert listed == made
    assert listed.event_types == ("read.completed",)
    assert json.loads(created.calls.last.request.content) == {
        "url": "https://bank.example/webhooks/codat/",
        "eventTypes": ["read.completed"],
        "disabled": False,
    }
    assert deleted.call_count == 1


def test_creating_a_consumer_is_not_resent_after_a_5xx(respx_mock):
    # A POST that may have reached Codat could leave two consumers (X2).
    route = respx_mock.post("/webhooks").respond(503, json={"error": "down"})

    with pytest.raises(CodatUnavailable) as caught:
        make_client().create_webhook_consumer(url="https://bank.example/hooks", event_types=[])

    assert route.call_count == 1
    assert caught.value.may_have_been_applied is True
