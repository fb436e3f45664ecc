"""Codat's error bodies become named errors, and the logs carry the correlationId, never secrets
(docs/codat.md §7; docs/promises.md X2, X5)."""

from __future__ import annotations

import logging

import httpx
import pytest

from codat.errors import (
    CodatError,
    CodatNotFound,
    CodatRateLimited,
    CodatRejected,
    CodatUnavailable,
)
from tests.codat import (
    API_KEY,
    AUTH_HEADER,
    BASE_URL,
    COMPANY_ID,
    CONNECTION_ID,
    FakeTime,
    make_client,
    payload,
)

pytestmark = pytest.mark.respx(base_url=BASE_URL, assert_all_called=False)

CONNECTION_PATH = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}"


@pytest.mark.parametrize(
    ("status", "fixture", "error_class", "correlation_id", "message"),
    [
        (
            400,
            "error_400_malformed_query",
            CodatRejected,
            "bc997528a9d7abb9161ef45f05d38599",
            "Error parsing query - Malformed query.",
        ),
        (
            400,
            "error_400_validation",
            CodatRejected,
            "5c1e2f0a9d7abb9161ef45f05d3a1b2c",
            "CompanyValidationException: Company name is invalid",
        ),
        (401, "error_401", CodatRejected, "7eb40d6b415d7bcd99ce658268284056", "Unauthorized"),
        (
            402,
            "error_402",
            CodatRejected,
            "00000000-0000-0000-0000-000000000000",
            "CompanyValidationException: Company limit exceeded",
        ),
        (
            403,
            "error_403",
            CodatRejected,
            "bc997528a9d7abb9161ef45f05d38599",
            "You are using an outdated API key or a key not associated with that resource.",
        ),
        (
            404,
            "error_404_company",
            CodatNotFound,
            "0a40c2f31fc8f992fb88b0853e4166f3",
            "No company was found with ID 846ed55c-974b-4392-a1f1-87b6fdbf3c5e",
        ),
        (
            500,
            "error_500",
            CodatUnavailable,
            "bc997528a9d7abb9161ef45f05d38599",
            "There is a problem with our server. Please try again later.",
        ),
        # The spec's 503 example body says statusCode 500 (a known doc bug): the HTTP status wins.
        (
            503,
            "error_503",
            CodatUnavailable,
            "bc997528a9d7abb9161ef45f05d38599",
            "The Codat API is temporarily offline for maintenance. Please try again later.",
        ),
    ],
)
def test_each_documented_error_body_maps_to_its_named_error(
    respx_mock, status, fixture, error_class, correlation_id, message
):
    respx_mock.get(CONNECTION_PATH).respond(status, json=payload(fixture))

    with pytest.raises(error_class) as caught:
        make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.correlation_id == correlation_id
    assert error.message == message
    assert correlation_id in str(error)


def test_a_400_carries_codats_validation_messages(respx_mock):
    respx_mock.post("/companies").respond(400, json=payload("error_400_validation"))

    with pytest.raises(CodatRejected) as caught:
        make_client().create_company(name="!!!")

    assert caught.value.validation == [
        "Name must contain at least one valid character.",
        "Tag key 'this-key-is-far-too-long-for-codat' is longer than 27 characters.",
    ]
    assert caught.value.may_have_been_applied is False


def test_a_402_company_limit_carries_its_validation_message(respx_mock):
    respx_mock.post("/companies").respond(402, json=payload("error_402"))

    with pytest.raises(CodatRejected) as caught:
        make_client().create_company(name="Technicalium")

    assert caught.value.status_code == 402
    assert caught.value.validation == [
        "Company limit exceeded. Learn more at https://docs.codat.io/using-the-api/errors"
    ]


@pytest.mark.parametrize("status", [405, 409, 422])
def test_other_client_errors_are_rejections(respx_mock, status):
    body = {"statusCode": status, "error": "Nope", "correlationId": "abc123"}
    respx_mock.get(CONNECTION_PATH).respond(status, json=body)

    with pytest.raises(CodatRejected) as caught:
        make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    assert (caught.value.status_code, caught.value.correlation_id) == (status, "abc123")


def test_a_404_on_a_deleted_connection_is_not_found(respx_mock):
    path = f"/companies/{COMPANY_ID}/connections/a22dd66b-564a-4832-9b37-7b3ce4aeb7de"
    respx_mock.get(path).respond(404, json=payload("error_404_connection"))

    with pytest.raises(CodatNotFound) as caught:
        make_client().get_connection(COMPANY_ID, "a22dd66b-564a-4832-9b37-7b3ce4aeb7de")

    assert caught.value.correlation_id == "8fa2b5f4794970a4ee73758f612e8df0"


def test_a_429_that_does_not_fit_is_rate_limited_with_its_correlation_id(respx_mock):
    respx_mock.get(CONNECTION_PATH).respond(
        429, json=payload("error_429"), headers={"Retry-After": "3600"}
    )

    with pytest.raises(CodatRateLimited) as caught:
        make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    assert caught.value.status_code == 429
    assert caught.value.correlation_id == "bc997528a9d7abb9161ef45f05d38599"
    assert caught.value.retry_after == 3600


def test_a_non_json_200_is_unavailable(respx_mock):
    respx_mock.get(CONNECTION_PATH).respond(
        200, text="<html>Gateway login</html>", headers={"Content-Type": "text/html"}
    )

    with pytest.raises(CodatUnavailable) as caught:
        make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    assert caught.value.status_code == 200
    assert caught.value.correlation_id is None


def test_a_non_json_500_is_unavailable_with_a_generic_message(respx_mock):
    respx_mock.get(CONNECTION_PATH).respond(
        500, text="<html>Bad gateway</html>", headers={"Content-Type": "text/html"}
    )

    with pytest.raises(CodatUnavailable) as caught:
        make_client(max_attempts=1).get_connection(COMPANY_ID, CONNECTION_ID)

    assert caught.value.status_code == 500
    assert caught.value.correlation_id is None
    assert caught.value.message == "Codat answered 500"


def test_a_404_with_no_body_is_still_not_found(respx_mock):
    respx_mock.get(CONNECTION_PATH).respond(404)

    with pytest.raises(CodatNotFound) as caught:
        make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    assert caught.value.correlation_id is None


def test_every_named_error_is_a_codat_error(respx_mock):
    respx_mock.get(CONNECTION_PATH).mock(side_effect=httpx.ConnectError)

    with pytest.raises(CodatError):
        make_client(max_attempts=1).get_connection(COMPANY_ID, CONNECTION_ID)


# --- Logging ----------------------------------------------------------------------------------


def test_failure_logs_name_method_path_and_correlation_id(respx_mock, caplog):
    respx_mock.get(CONNECTION_PATH).respond(404, json=payload("error_404_company"))
    caplog.set_level(logging.INFO, logger="codat")

    with pytest.raises(CodatNotFound):
        make_client().get_connection(COMPANY_ID, CONNECTION_ID)

    [record] = [r for r in caplog.records if r.name == "codat"]
    logged = record.getMessage()
    assert record.levelno == logging.WARNING
    assert "GET" in logged
    assert CONNECTION_PATH in logged
    assert "0a40c2f31fc8f992fb88b0853e4166f3" in logged


def test_logs_never_carry_the_api_key_the_auth_header_or_the_raw_body(respx_mock, caplog):
    secret_in_body = "raw-body-marker-7f3a"
    body = payload("error_500") | {"internalTrace": secret_in_body}
    route = respx_mock.post("/companies")
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(500, json=body)]
    companies = respx_mock.get("/companies")
    companies.side_effect = [
        httpx.Response(400, json=payload("error_400_malformed_query")),
        httpx.Response(429, json=payload("error_429"), headers={"Retry-After": "3600"}),
    ]
    caplog.set_level(logging.DEBUG)  # every logger, httpx's included

    client = make_client(FakeTime())
    with pytest.raises(CodatUnavailable):
        client.create_company(name="Technicalium", tags={"uid": "cust_123"})
    with pytest.raises(CodatRejected):
        client.list_companies(tags="uid=cust_123")
    with pytest.raises(CodatRateLimited):
        client.list_companies(tags="uid=cust_123")

    everything = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "bc997528a9d7abb9161ef45f05d38599" in caplog.text
    assert API_KEY not in everything
    assert AUTH_HEADER.split()[1] not in everything
    assert "Authorization" not in everything
    assert secret_in_body not in everything
    # The tags filter carries a customer id; paths are logged without their query string.
    assert "cust_123" not in "".join(r.getMessage() for r in caplog.records if r.name == "codat")


def test_the_client_repr_does_not_show_the_key():
    client = make_client()

    assert API_KEY not in repr(client)
    assert AUTH_HEADER.split()[1] not in repr(client)
