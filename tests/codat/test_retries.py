"""Retries, rate limits and the time budget (docs/promises.md X1, X2, X3 and the POST half of X4).

Sleeps go through the client's injected `sleep`, which a FakeTime records (and which moves the fake
clock), so nothing here waits for real.
"""

from __future__ import annotations

import time as real_time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import time_machine

from codat import http as http_module
from codat.client import CodatClient
from codat.errors import CodatNotFound, CodatRateLimited, CodatRejected, CodatUnavailable
from codat.http import BACKOFF_CAP_SECONDS
from tests.codat import BASE_URL, COMPANY_ID, CONNECTION_ID, FakeTime, make_client, payload

pytestmark = pytest.mark.respx(base_url=BASE_URL, assert_all_called=False)

COMPANY_PATH = f"/companies/{COMPANY_ID}"
CONNECTION_PATH = f"{COMPANY_PATH}/connections/{CONNECTION_ID}"


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def jitter_at_ceiling(monkeypatch) -> None:
    """Make full jitter pick the top of its range, so backoff waits are exact."""
    monkeypatch.setattr(http_module, "_jitter", lambda ceiling: ceiling)


def company_response() -> httpx.Response:
    return httpx.Response(200, json=payload("company"))


def connection_response() -> httpx.Response:
    return httpx.Response(200, json=payload("connection"))


# --- X2: what is retried, and how often --------------------------------------------------------


def test_500_500_200_succeeds_after_three_calls(respx_mock, time, jitter_at_ceiling):
    route = respx_mock.get(CONNECTION_PATH)
    route.side_effect = [
        httpx.Response(500, json=payload("error_500")),
        httpx.Response(500, json=payload("error_500")),
        connection_response(),
    ]

    connection = make_client(time).get_connection(COMPANY_ID, CONNECTION_ID)

    assert connection.id == CONNECTION_ID
    assert route.call_count == 3
    # Exponential: base 0.5 s, then 1 s.
    assert time.sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("status", "fixture"),
    [
        (400, "error_400_malformed_query"),
        (401, "error_401"),
        (402, "error_402"),
        (403, "error_403"),
        (404, "error_404_company"),
        (422, None),
    ],
)
def test_client_errors_are_never_retried(respx_mock, time, status, fixture):
    body = payload(fixture) if fixture else {"statusCode": 422, "error": "Unprocessable"}
    route = respx_mock.get(CONNECTION_PATH).respond(status, json=body)

    with pytest.raises((CodatRejected, CodatNotFound)):
        make_client(time).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 1
    assert time.sleeps == []


def test_repeated_503_stops_at_max_attempts(respx_mock, time):
    route = respx_mock.get(CONNECTION_PATH).respond(503, json=payload("error_503"))

    with pytest.raises(CodatUnavailable) as caught:
        make_client(time, max_attempts=4, budget=60.0).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 4
    assert len(time.sleeps) == 3
    assert caught.value.status_code == 503


def test_a_408_is_retried(respx_mock, time):
    route = respx_mock.get(CONNECTION_PATH)
    route.side_effect = [httpx.Response(408), connection_response()]

    make_client(time).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 2


def test_backoff_waits_are_jittered_within_a_capped_exponential_ceiling(respx_mock, time):
    respx_mock.get(CONNECTION_PATH).respond(500, json=payload("error_500"))

    with pytest.raises(CodatUnavailable):
        make_client(time, max_attempts=8, budget=120.0).get_connection(COMPANY_ID, CONNECTION_ID)

    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert len(time.sleeps) == len(ceilings)
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(time.sleeps, ceilings, strict=True))
    assert max(ceilings) == BACKOFF_CAP_SECONDS


def test_the_cap_holds_even_after_many_attempts(respx_mock, time, jitter_at_ceiling):
    respx_mock.get(CONNECTION_PATH).respond(500, json=payload("error_500"))

    with pytest.raises(CodatUnavailable):
        make_client(time, max_attempts=6, budget=120.0).get_connection(COMPANY_ID, CONNECTION_ID)

    assert time.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0]


# --- X1/X2: transport failures ------------------------------------------------------------------


@pytest.mark.parametrize("failure", [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ConnectError])
def test_a_get_retries_timeouts_and_refusals_then_succeeds(respx_mock, time, failure):
    route = respx_mock.get(CONNECTION_PATH)
    route.side_effect = [failure("boom"), connection_response()]

    assert make_client(time).get_connection(COMPANY_ID, CONNECTION_ID).id == CONNECTION_ID
    assert route.call_count == 2
    assert len(time.sleeps) == 1


@pytest.mark.parametrize("failure", [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ConnectError])
def test_a_get_that_keeps_failing_is_unavailable_after_max_attempts(respx_mock, time, failure):
    route = respx_mock.get(CONNECTION_PATH).mock(side_effect=failure)

    with pytest.raises(CodatUnavailable) as caught:
        make_client(time).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 3
    assert caught.value.status_code is None
    assert failure.__name__ in caught.value.message
    assert isinstance(caught.value.__cause__, failure)


def test_a_delete_that_read_times_out_is_retried(respx_mock, time):
    route = respx_mock.delete(f"{COMPANY_PATH}/connections/{CONNECTION_ID}")
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200)]

    make_client(time).delete_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 2


# --- X2/X4: POST is not idempotent at Codat -----------------------------------------------------


def test_create_company_read_timeout_is_not_resent_and_may_have_been_applied(respx_mock, time):
    route = respx_mock.post("/companies").mock(side_effect=httpx.ReadTimeout)

    with pytest.raises(CodatUnavailable) as caught:
        make_client(time).create_company(name="Technicalium", tags={"uid": "cust_123"})

    assert route.call_count == 1
    assert caught.value.may_have_been_applied is True
    assert time.sleeps == []


def test_create_company_connect_error_then_200_succeeds_with_two_calls(respx_mock, time):
    route = respx_mock.post("/companies")
    route.side_effect = [httpx.ConnectError("refused"), company_response()]

    company = make_client(time).create_company(name="Technicalium")

    assert company.id == COMPANY_ID
    assert route.call_count == 2


def test_create_company_connect_timeout_is_retried_because_nothing_was_sent(respx_mock, time):
    route = respx_mock.post("/companies")
    route.side_effect = [httpx.ConnectTimeout("slow"), company_response()]

    make_client(time).create_company(name="Technicalium")

    assert route.call_count == 2


def test_create_company_that_never_connects_has_not_been_applied(respx_mock, time):
    route = respx_mock.post("/companies").mock(side_effect=httpx.ConnectError)

    with pytest.raises(CodatUnavailable) as caught:
        make_client(time).create_company(name="Technicalium")

    assert route.call_count == 3
    assert caught.value.may_have_been_applied is False


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_create_company_5xx_is_not_resent_and_may_have_been_applied(respx_mock, time, status):
    route = respx_mock.post("/companies").respond(status, json=payload("error_500"))

    with pytest.raises(CodatUnavailable) as caught:
        make_client(time).create_company(name="Technicalium")

    assert route.call_count == 1
    assert caught.value.may_have_been_applied is True
    assert caught.value.correlation_id == "bc997528a9d7abb9161ef45f05d38599"


def test_create_connection_read_timeout_is_not_resent(respx_mock, time):
    route = respx_mock.post(f"{COMPANY_PATH}/connections").mock(side_effect=httpx.ReadTimeout)

    with pytest.raises(CodatUnavailable) as caught:
        make_client(time).create_connection(COMPANY_ID, platform_key="gbol")

    assert route.call_count == 1
    assert caught.value.may_have_been_applied is True


def test_create_connection_connect_error_then_200_succeeds(respx_mock, time):
    route = respx_mock.post(f"{COMPANY_PATH}/connections")
    route.side_effect = [
        httpx.ConnectError("refused"),
        httpx.Response(200, json=payload("connection_pending")),
    ]

    assert make_client(time).create_connection(COMPANY_ID, platform_key="gbol").status == (
        "PendingAuth"
    )
    assert route.call_count == 2


def test_a_rejected_post_has_not_been_applied(respx_mock, time):
    respx_mock.post("/companies").respond(403, json=payload("error_403"))

    with pytest.raises(CodatRejected) as caught:
        make_client(time).create_company(name="Technicalium")

    assert caught.value.may_have_been_applied is False


# --- X3: 429 and Retry-After --------------------------------------------------------------------


def test_429_with_retry_after_1_waits_one_second_retries_once_and_succeeds(respx_mock, time):
    route = respx_mock.get(CONNECTION_PATH)
    route.side_effect = [
        httpx.Response(429, json=payload("error_429"), headers={"Retry-After": "1"}),
        connection_response(),
    ]

    connection = make_client(time).get_connection(COMPANY_ID, CONNECTION_ID)

    assert connection.id == CONNECTION_ID
    assert route.call_count == 2
    assert time.sleeps == [1.0]


def test_429_with_retry_after_3600_fails_fast_without_sleeping(respx_mock):
    route = respx_mock.get(CONNECTION_PATH).respond(
        429, json=payload("error_429"), headers={"Retry-After": "3600"}
    )
    sleeps: list[float] = []
    started = real_time.monotonic()

    # The real clock this time: the promise is about elapsed wall time.
    client = CodatClient(api_key="my-api-key", base_url=BASE_URL, sleep=sleeps.append)
    with pytest.raises(CodatRateLimited) as caught:
        client.get_connection(COMPANY_ID, CONNECTION_ID)

    assert real_time.monotonic() - started < 1.0
    assert sleeps == []
    assert route.call_count == 1
    assert caught.value.retry_after == 3600
    assert caught.value.may_have_been_applied is False


def test_429_with_an_http_date_retry_after_waits_until_that_date(respx_mock, time):
    now = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
    retry_at = format_datetime(now + timedelta(seconds=2), usegmt=True)
    route = respx_mock.get(CONNECTION_PATH)
    route.side_effect = [
        httpx.Response(429, json=payload("error_429"), headers={"Retry-After": retry_at}),
        connection_response(),
    ]

    with time_machine.travel(now, tick=False):
        make_client(time).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 2
    assert time.sleeps == [2.0]


def test_429_with_an_http_date_an_hour_away_fails_fast(respx_mock, time):
    now = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
    retry_at = format_datetime(now + timedelta(hours=1), usegmt=True)
    route = respx_mock.get(CONNECTION_PATH).respond(
        429, json=payload("error_429"), headers={"Retry-After": retry_at}
    )

    with time_machine.travel(now, tick=False), pytest.raises(CodatRateLimited) as caught:
        make_client(time).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 1
    assert time.sleeps == []
    assert caught.value.retry_after == 3600


def test_a_second_429_is_not_waited_out_again(respx_mock, time):
    route = respx_mock.get(CONNECTION_PATH).respond(
        429, json=payload("error_429"), headers={"Retry-After": "1"}
    )

    with pytest.raises(CodatRateLimited):
        make_client(time, max_attempts=5).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 2
    assert time.sleeps == [1.0]


def test_a_429_on_create_company_is_retried_because_codat_refused_it(respx_mock, time):
    route = respx_mock.post("/companies")
    route.side_effect = [
        httpx.Response(429, json=payload("error_429"), headers={"Retry-After": "1"}),
        company_response(),
    ]

    make_client(time).create_company(name="Technicalium")

    assert route.call_count == 2
    assert time.sleeps == [1.0]


def test_a_429_on_create_company_that_does_not_fit_has_not_been_applied(respx_mock, time):
    respx_mock.post("/companies").respond(
        429, json=payload("error_429"), headers={"Retry-After": "60"}
    )

    with pytest.raises(CodatRateLimited) as caught:
        make_client(time).create_company(name="Technicalium")

    assert caught.value.may_have_been_applied is False
    assert time.sleeps == []


def test_a_429_without_retry_after_backs_off_and_retries(respx_mock, time, jitter_at_ceiling):
    route = respx_mock.get(CONNECTION_PATH)
    route.side_effect = [httpx.Response(429, json=payload("error_429")), connection_response()]

    make_client(time).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 2
    assert time.sleeps == [0.5]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("1", 1.0), ("0", 0.0), (" 5 ", 5.0), ("-3", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_values_parse(header, expected):
    assert http_module._parse_retry_after(header) == expected


# --- X1: the budget -------------------------------------------------------------------------------


def test_a_spent_budget_fails_fast_without_touching_the_network(respx_mock, time):
    route = respx_mock.get(CONNECTION_PATH).mock(return_value=connection_response())
    client = make_client(time, budget=10.0)

    time.advance(10.0)

    with pytest.raises(CodatUnavailable) as caught:
        client.get_connection(COMPANY_ID, CONNECTION_ID)
    assert route.call_count == 0
    assert "budget" in caught.value.message


def test_the_budget_counts_from_construction_across_calls(respx_mock, time):
    route = respx_mock.get(CONNECTION_PATH).mock(return_value=connection_response())
    client = make_client(time, budget=10.0)

    client.get_connection(COMPANY_ID, CONNECTION_ID)
    time.advance(6.0)
    client.get_connection(COMPANY_ID, CONNECTION_ID)
    time.advance(4.0)

    with pytest.raises(CodatUnavailable):
        client.get_connection(COMPANY_ID, CONNECTION_ID)
    assert route.call_count == 2


def test_a_retry_wait_that_would_overrun_the_budget_is_not_taken(
    respx_mock, time, jitter_at_ceiling
):
    route = respx_mock.get(CONNECTION_PATH).respond(500, json=payload("error_500"))

    # 0.5 s fits in 1 s; the next backoff (1 s) would not.
    with pytest.raises(CodatUnavailable) as caught:
        make_client(time, budget=1.0, max_attempts=5).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 2
    assert time.sleeps == [0.5]
    assert caught.value.status_code == 500


def test_a_slow_failure_eats_the_budget_and_stops_the_retries(respx_mock, time):
    read_timeouts: list[float] = []

    def slow_timeout(request: httpx.Request) -> httpx.Response:
        read_timeouts.append(request.extensions["timeout"]["read"])
        time.advance(8.0)  # the whole read timeout elapsed
        raise httpx.ReadTimeout("slow", request=request)

    route = respx_mock.get(CONNECTION_PATH).mock(side_effect=slow_timeout)

    with pytest.raises(CodatUnavailable):
        make_client(time, budget=10.0, max_attempts=5).get_connection(COMPANY_ID, CONNECTION_ID)

    # 8 s gone, then a short backoff: the second attempt gets only what is left (< 2 s), and
    # after it there is nothing left for a third, whatever max_attempts says.
    assert route.call_count == 2
    assert read_timeouts[0] == 8.0
    assert read_timeouts[1] <= 2.0


def test_a_retry_after_that_fits_the_budget_only_partly_fails_fast(respx_mock, time):
    respx_mock.get(CONNECTION_PATH).respond(
        429, json=payload("error_429"), headers={"Retry-After": "9"}
    )
    client = make_client(time, budget=10.0)
    time.advance(2.0)

    with pytest.raises(CodatRateLimited):
        client.get_connection(COMPANY_ID, CONNECTION_ID)
    assert time.sleeps == []
