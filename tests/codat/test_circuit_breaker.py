"""The circuit breaker (X5): after repeated transient failures, fail fast without I/O."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx
from django.core.cache import cache

from codat.breaker import CircuitBreaker
from codat.client import CodatClient
from codat.errors import CodatNotFound, CodatUnavailable
from tests.codat import API_KEY, BASE_URL, COMPANY_ID, CONNECTION_ID, payload

CONNECTION_PATH = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock) -> CircuitBreaker:
    cache.clear()
    return CircuitBreaker(cache, fail_max=3, reset_timeout=30, clock=clock)


def client(breaker: CircuitBreaker) -> CodatClient:
    # One attempt per call, so each call is one failure.
    return CodatClient(
        api_key=API_KEY, base_url=BASE_URL, max_attempts=1, sleep=lambda _: None, breaker=breaker
    )


def fail(route, times: int, breaker) -> None:
    for _ in range(times):
        with pytest.raises(CodatUnavailable):
            client(breaker).get_connection(COMPANY_ID, CONNECTION_ID)


@respx.mock(base_url=BASE_URL)
def test_three_failures_open_it_and_the_fourth_call_makes_no_request(respx_mock, breaker, caplog):
    route = respx_mock.get(CONNECTION_PATH).respond(
        503, json={"statusCode": 503, "error": "down", "correlationId": "abc123"}
    )
    caplog.set_level(logging.WARNING, logger="codat")
    fail(route, 3, breaker)
    assert route.call_count == 3 and breaker.is_open

    with pytest.raises(CodatUnavailable) as err:
        client(breaker).get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.call_count == 3  # no network I/O while open
    assert "circuit open" in str(err.value)
    assert "correlationId=abc123" in caplog.text  # logs say which Codat request failed
    assert API_KEY not in caplog.text and "bXktYXBpLWtleQ" not in caplog.text


@respx.mock(base_url=BASE_URL)
def test_after_the_timeout_one_trial_call_closes_it(respx_mock, breaker, clock):
    route = respx_mock.get(CONNECTION_PATH)
    route.respond(503)
    fail(route, 3, breaker)
    route.respond(200, json=payload("connection"))
    clock.now += 31

    assert breaker.allow() is True  # the trial
    assert breaker.allow() is False  # only one at a time
    cache.delete("codat-circuit:trial")
    client(breaker).get_connection(COMPANY_ID, CONNECTION_ID)

    assert not breaker.is_open
    client(breaker).get_connection(COMPANY_ID, CONNECTION_ID)
    assert route.call_count == 5


@respx.mock(base_url=BASE_URL)
def test_a_failed_trial_reopens_it_at_once(respx_mock, breaker, clock):
    route = respx_mock.get(CONNECTION_PATH).mock(side_effect=httpx.ConnectTimeout("x"))
    fail(route, 3, breaker)
    clock.now += 31

    fail(route, 1, breaker)  # the trial fails

    assert breaker.is_open
    fail(route, 1, breaker)
    assert route.call_count == 4


@respx.mock(base_url=BASE_URL)
def test_answers_that_show_codat_is_up_do_not_count(respx_mock, breaker):
    route = respx_mock.get(CONNECTION_PATH)
    route.respond(503)
    fail(route, 2, breaker)
    route.respond(404, json={"statusCode": 404, "error": "No company"})

    with pytest.raises(CodatNotFound):
        client(breaker).get_connection(COMPANY_ID, CONNECTION_ID)
    route.respond(503)
    fail(route, 2, breaker)

    assert not breaker.is_open  # the 404 reset the run of failures


def test_the_app_client_has_a_breaker_from_settings(settings):
    from companies.codat_client import get_client

    settings.CODAT_CIRCUIT_FAIL_MAX = 7
    with get_client() as app_client:
        assert app_client._breaker is not None and app_client._breaker.fail_max == 7
    settings.CODAT_CIRCUIT_FAIL_MAX = 0
    with get_client() as app_client:
        assert app_client._breaker is None
