"""What the client sends to Codat and how it reads Codat's answers (docs/codat.md §1–§5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from codat.errors import CodatNotFound, CodatUnavailable
from codat.http import USER_AGENT
from codat.parsing import parse_datetime
from codat.types import Company, Connection, Integration
from tests.codat import (
    AUTH_HEADER,
    BASE_URL,
    COMPANY_ID,
    CONNECTION_ID,
    FakeTime,
    make_client,
    page_of,
    payload,
)

pytestmark = pytest.mark.respx(base_url=BASE_URL, assert_all_called=False)

CONNECTION_PATH = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}"


# --- Headers and timeouts --------------------------------------------------------------------


def test_every_request_carries_basic_base64_of_the_key_alone(respx_mock):
    route = respx_mock.get(CONNECTION_PATH).respond(200, json=payload("connection"))

    make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    request = route.calls.last.request
    assert request.headers["Authorization"] == AUTH_HEADER
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    assert "ConsentPortal" in USER_AGENT


def test_every_request_has_explicit_connect_and_read_timeouts(respx_mock):
    route = respx_mock.get(CONNECTION_PATH).respond(200, json=payload("connection"))

    make_client(connect_timeout=2.5, read_timeout=7.0, budget=30.0).get_connection(
        COMPANY_ID, CONNECTION_ID
    )

    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout["connect"] == 2.5
    assert timeout["read"] == 7.0


def test_attempt_timeouts_are_capped_by_what_is_left_of_the_budget(respx_mock):
    time = FakeTime()
    client = make_client(time, connect_timeout=3.0, read_timeout=8.0, budget=10.0)
    route = respx_mock.get(CONNECTION_PATH).respond(200, json=payload("connection"))

    time.advance(8.5)
    client.get_connection(COMPANY_ID, CONNECTION_ID)

    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout["connect"] == pytest.approx(1.5)
    assert timeout["read"] == pytest.approx(1.5)


def test_ids_are_percent_encoded_so_they_cannot_change_the_path(respx_mock):
    route = respx_mock.get(url__regex=r".*").respond(200, json=payload("connection"))

    make_client().get_connection("../integrations?x=1", "#/x")

    assert (
        route.calls.last.request.url.raw_path
        == b"/companies/..%2Fintegrations%3Fx%3D1/connections/%23%2Fx"
    )


# --- Companies ---------------------------------------------------------------------------------


def test_create_company_posts_name_description_and_tags(respx_mock):
    route = respx_mock.post("/companies").respond(200, json=payload("company"))

    company = make_client().create_company(
        name="Technicalium", description="Technology services", tags={"uid": "cust_123"}
    )

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "name": "Technicalium",
        "description": "Technology services",
        "tags": {"uid": "cust_123"},
    }
    assert company.id == COMPANY_ID


def test_create_company_without_extras_sends_only_the_name(respx_mock):
    route = respx_mock.post("/companies").respond(200, json=payload("company"))

    make_client().create_company(name="Technicalium")

    assert json.loads(route.calls.last.request.content) == {"name": "Technicalium"}


def test_the_api_md_company_example_parses_into_a_company(respx_mock):
    respx_mock.post("/companies").respond(200, json=payload("company"))

    company = make_client().create_company(name="Technicalium")

    assert company == Company(
        id=COMPANY_ID,
        name="Technicalium",
        redirect=f"https://link.codat.io/company/{COMPANY_ID}",
        description="",
        created=datetime(2022, 11, 10, 10, 45, 18, 195052, tzinfo=UTC),
        last_sync=None,
        tags={"region": "us"},
        connections=(),
    )


def test_a_company_carries_its_data_connections_and_their_errors(respx_mock):
    respx_mock.get("/companies").respond(200, json=page_of([payload("company_with_connections")]))

    [company] = make_client().find_companies_by_tag("uid", "335a086e-8563-4b03-94e3-39544225ecb6")

    assert company.description == "internal_id_mxO7rLfo"
    assert company.tags == {"customerRegion": "us", "uid": "335a086e-8563-4b03-94e3-39544225ecb6"}
    assert company.last_sync == datetime(2022, 10, 27, 10, 22, 43, 646423, tzinfo=UTC)
    deauthorized, pending = company.connections
    assert (deauthorized.status, deauthorized.integration_key) == ("Deauthorized", "dfxm")
    [expired] = deauthorized.errors
    assert expired.status_code == "401"
    assert expired.status_text == "The integration de-authorized access to the connection."
    assert expired.errored_on == datetime(2022, 12, 27, 9, 53, 29, tzinfo=UTC)
    assert expired.status == "Active"
    assert expired.resolved_on is None
    [cancelled] = pending.errors
    assert cancelled.error_message == "User cancelled"
    assert cancelled.status == "Resolved"
    assert cancelled.resolved_on == datetime(2022, 11, 2, 9, 0, tzinfo=UTC)
    assert pending.last_sync is None


def test_list_companies_sends_the_tags_filter_and_paging_in_the_query_string(respx_mock):
    route = respx_mock.get("/companies").respond(200, json=payload("companies_page"))

    page = make_client().list_companies(tags="uid=cust_123", page=2, page_size=50)

    url = route.calls.last.request.url
    assert url.params["tags"] == "uid=cust_123"
    assert url.params["page"] == "2"
    assert url.params["pageSize"] == "50"
    assert b"tags=uid%3Dcust_123" in url.query
    assert [company.tags["uid"] for company in page.results] == ["cust_123"]
    assert (page.page_number, page.page_size, page.total_results) == (1, 100, 1)
    assert page.has_next is False


def test_list_companies_without_a_filter_sends_no_tags_parameter(respx_mock):
    route = respx_mock.get("/companies").respond(200, json=page_of([]))

    page = make_client().list_companies()

    assert "tags" not in route.calls.last.request.url.params
    assert route.calls.last.request.url.params["page"] == "1"
    assert route.calls.last.request.url.params["pageSize"] == "100"
    assert page.results == ()


def test_find_companies_by_tag_follows_every_page(respx_mock):
    first = payload("company") | {"id": "c1", "tags": {"uid": "cust_9"}}
    second = payload("company") | {"id": "c2", "tags": {"uid": "cust_9"}}
    third = payload("company") | {"id": "c3", "tags": {"uid": "cust_9"}}
    route = respx_mock.get("/companies")
    route.side_effect = [
        httpx.Response(200, json=page_of([first, second], page=1, page_size=2, total=3)),
        httpx.Response(200, json=page_of([third], page=2, page_size=2, total=3)),
    ]

    # The client asks for 100 per page; this fake answers in pages of 2 to force a second call.
    companies = make_client().find_companies_by_tag("uid", "cust_9")

    assert [company.id for company in companies] == ["c1", "c2", "c3"]
    assert route.call_count == 2
    pages = [call.request.url.params for call in route.calls]
    assert [params["page"] for params in pages] == ["1", "2"]
    assert all(params["tags"] == "uid=cust_9" for params in pages)


def test_paging_stops_at_an_empty_page_even_if_the_total_says_more(respx_mock):
    route = respx_mock.get("/companies").respond(200, json=page_of([], total=500))

    assert make_client().find_companies_by_tag("uid", "cust_9") == []
    assert route.call_count == 1


# --- Connections ------------------------------------------------------------------------------


def test_create_connection_posts_the_platform_key(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/connections").respond(
        200, json=payload("connection_pending")
    )

    connection = make_client().create_connection(COMPANY_ID, platform_key="gbol")

    assert json.loads(route.calls.last.request.content) == {"platformKey": "gbol"}
    assert connection.status == "PendingAuth"
    assert connection.integration_key == "gbol"
    assert connection.errors == ()
    assert connection.link_url.endswith(f"/connections/{connection.id}/start")


def test_the_api_md_connection_example_parses_into_a_connection(respx_mock):
    path = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}"
    respx_mock.get(path).respond(200, json=payload("connection"))

    connection = make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    assert connection == Connection(
        id=CONNECTION_ID,
        integration_id="bf083d72-62c7-493e-aec9-81b4dbba7e2c",
        integration_key="dfxm",
        source_id="bdd831ce-eebd-4896-89a7-20e5ee8989ee",
        source_type="Banking",
        platform_name="Basiq",
        link_url=(
            "https://link-api.codat.io/companies/86bd88cb-44ab-4dfb-b32f-87b19b14287f"
            f"/connections/{CONNECTION_ID}/start"
        ),
        status="Linked",
        created=datetime(2022, 10, 27, 9, 53, 29, tzinfo=UTC),
        last_sync=datetime(2022, 10, 27, 10, 22, 43, 646423, tzinfo=UTC),
        errors=(),
    )


def test_list_all_connections_follows_pages(respx_mock):
    route = respx_mock.get(f"/companies/{COMPANY_ID}/connections")
    route.side_effect = [
        httpx.Response(200, json=page_of([payload("connection")], page=1, page_size=1, total=2)),
        httpx.Response(
            200, json=page_of([payload("connection_pending")], page=2, page_size=1, total=2)
        ),
    ]

    connections = make_client().list_all_connections(COMPANY_ID)

    assert [c.status for c in connections] == ["Linked", "PendingAuth"]
    assert [call.request.url.params["page"] for call in route.calls] == ["1", "2"]


def test_list_connections_sends_paging(respx_mock):
    route = respx_mock.get(f"/companies/{COMPANY_ID}/connections").respond(
        200, json=page_of([payload("connection")], page=3, page_size=10, total=21)
    )

    page = make_client().list_connections(COMPANY_ID, page=3, page_size=10)

    assert route.calls.last.request.url.params["page"] == "3"
    assert route.calls.last.request.url.params["pageSize"] == "10"
    assert page.has_next is False
    assert page.results[0].id == CONNECTION_ID


def test_delete_company_accepts_204_and_a_second_delete_is_not_found(respx_mock):
    route = respx_mock.delete(f"/companies/{COMPANY_ID}")
    route.side_effect = [httpx.Response(204), httpx.Response(404, json={"statusCode": 404})]
    client = make_client()

    assert client.delete_company(COMPANY_ID) is None
    with pytest.raises(CodatNotFound):
        client.delete_company(COMPANY_ID)
    assert route.call_count == 2


def test_delete_connection_accepts_200_with_an_empty_body(respx_mock):
    path = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}"
    route = respx_mock.delete(path).respond(200, content=b"")

    assert make_client().delete_connection(COMPANY_ID, CONNECTION_ID) is None
    assert route.call_count == 1


def test_unlink_connection_patches_status_unlinked(respx_mock):
    path = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}"
    route = respx_mock.patch(path).respond(200, json=payload("connection_unlinked"))

    connection = make_client().unlink_connection(COMPANY_ID, CONNECTION_ID)

    assert json.loads(route.calls.last.request.content) == {"status": "Unlinked"}
    assert connection.status == "Unlinked"


# --- Integrations -----------------------------------------------------------------------------


def test_the_api_md_integration_example_parses_into_an_integration(respx_mock):
    respx_mock.get("/integrations").respond(200, json=page_of([payload("integration_xero")]))

    [integration] = make_client().list_all_integrations()

    assert integration == Integration(
        key="gbol",
        name="Xero",
        logo_url="https://static.codat.io/public/platforms/gbol.png",
        enabled=True,
        source_type="Accounting",
        source_id="8a156a5a-39cb-4f9d-856e-76ef9b9a9607",
        integration_id="0f20c943-12d0-4800-9f6c-d218f62d494c",
        is_beta=False,
    )


def test_list_integrations_sends_the_query_filter_encoded(respx_mock):
    route = respx_mock.get("/integrations").respond(
        200, json=page_of([payload("integration_xero")])
    )

    page = make_client().list_integrations(query="sourceType=Accounting&&enabled=true")

    url = route.calls.last.request.url
    assert url.params["query"] == "sourceType=Accounting&&enabled=true"
    assert b"query=sourceType%3DAccounting%26%26enabled%3Dtrue" in url.query
    assert [integration.key for integration in page.results] == ["gbol"]


def test_list_all_integrations_follows_pages_and_keeps_the_query(respx_mock):
    sandbox = {
        "key": "mqjo",
        "logoUrl": "https://static.codat.io/public/platforms/mqjo.png",
        "name": "Sandbox",
        "enabled": True,
        "sourceType": "Accounting",
    }
    route = respx_mock.get("/integrations")
    route.side_effect = [
        httpx.Response(
            200, json=page_of([payload("integration_xero")], page=1, page_size=1, total=2)
        ),
        httpx.Response(200, json=page_of([sandbox], page=2, page_size=1, total=2)),
    ]

    integrations = make_client().list_all_integrations(query="enabled=true")

    assert [i.key for i in integrations] == ["gbol", "mqjo"]
    # Fields the sandbox body leaves out take their defaults.
    assert integrations[1].source_id is None
    assert integrations[1].is_beta is False
    assert all(call.request.url.params["query"] == "enabled=true" for call in route.calls)


# --- Tolerant parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-11-10T10:45:18.1950523Z", datetime(2022, 11, 10, 10, 45, 18, 195052, tzinfo=UTC)),
        ("2022-10-27T09:53:29Z", datetime(2022, 10, 27, 9, 53, 29, tzinfo=UTC)),
        ("2022-01-01T00:00:00.000Z", datetime(2022, 1, 1, tzinfo=UTC)),
        ("2022-01-01T00:00:00.5+00:00", datetime(2022, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2022-01-01T01:00:00.123456789+01:00", datetime(2022, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2022-01-01T00:00:00", datetime(2022, 1, 1, tzinfo=UTC)),
        ("not a date", None),
        ("", None),
        (None, None),
        (12345, None),
    ],
)
def test_codat_datetimes_parse_tolerantly(text, expected):
    assert parse_datetime(text) == expected


def test_unknown_fields_are_ignored_and_missing_optional_ones_default(respx_mock):
    body = {
        "id": COMPANY_ID,
        "name": "Bare",
        "redirect": "https://link.codat.io/company/x",
        "somethingNew": {"nested": True},
        "description": None,
        "tags": None,
    }
    respx_mock.post("/companies").respond(200, json=body)

    company = make_client().create_company(name="Bare")

    assert company == Company(
        id=COMPANY_ID, name="Bare", redirect="https://link.codat.io/company/x"
    )


def test_a_2xx_body_of_the_wrong_shape_is_unavailable(respx_mock):
    respx_mock.get(CONNECTION_PATH).respond(200, json=["not", "a", "connection"])

    with pytest.raises(CodatUnavailable) as caught:
        make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    assert caught.value.status_code == 200


def test_a_company_without_an_id_is_unavailable_not_a_crash(respx_mock):
    respx_mock.post("/companies").respond(200, json={"name": "No id"})

    with pytest.raises(CodatUnavailable):
        make_client().create_company(name="No id")
