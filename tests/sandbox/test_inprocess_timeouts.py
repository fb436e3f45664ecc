"""In-process sandbox calls keep the read timeout and the request budget (X1), as HTTP does.

The console's latency fault really sleeps here (its 30 s is cut at the read deadline), so the
elapsed times below are the ones a customer would wait.
"""

from __future__ import annotations

import time

import httpx
import pytest

from codat import http as http_module
from codat.errors import CodatUnavailable
from codat.transport import InProcessTransport
from codat_sandbox import inprocess
from codat_sandbox.faults import MAX_LATENCY_SECONDS
from codat_sandbox.inprocess import wsgi_app
from codat_sandbox.models import SandboxCompany, SandboxFault
from companies.codat_client import get_client
from connections.models import Connection, LinkAttempt

from .steps import AUTH

READ_TIMEOUT = 0.3
BUDGET = 1.0
# Generous for a loaded machine, yet far below the 30 s the latency would otherwise hold us.
MARGIN = 1.0


@pytest.fixture
def client(staff_client):
    # The console, where testers inject faults, is for staff with DEBUG off (L3).
    return staff_client


@pytest.fixture
def in_process_sandbox(db, settings):
    settings.CODAT_SANDBOX_ENABLED = True
    settings.CODAT_SANDBOX_IN_PROCESS = True
    settings.CODAT_SANDBOX_KEY = "sandbox"
    settings.CODAT_BASE_URL = "http://testserver/sandbox/codat"
    settings.CODAT_READ_TIMEOUT_SECONDS = READ_TIMEOUT
    settings.CODAT_REQUEST_BUDGET_SECONDS = BUDGET
    return settings


@pytest.fixture
def no_jitter(monkeypatch):
    """Retry at once, so the number of attempts the budget allows is exact."""
    monkeypatch.setattr(http_module, "_jitter", lambda ceiling: 0.0)


def slow_down(client, *, calls: int, seconds: float = MAX_LATENCY_SECONDS) -> None:
    """Inject latency into the next `calls` API calls, through the console as a tester would."""
    response = client.post(
        "/sandbox/console/faults", {"kind": "latency", "calls": calls, "latency_seconds": seconds}
    )
    assert response.status_code == 302
    assert SandboxFault.objects.filter(remaining=calls).exists()


@pytest.fixture
def sandbox_calls(monkeypatch) -> list[str]:
    """Each request the app's client sends into the in-process sandbox, as "METHOD path"."""
    seen: list[str] = []

    def counting_app(environ, start_response):
        seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return wsgi_app(environ, start_response)

    monkeypatch.setattr(inprocess, "wsgi_app", counting_app)
    return seen


def calls_slowed() -> int:
    """How many API calls the latency fault has delayed so far."""
    fault = SandboxFault.objects.get()
    return 10 - fault.remaining


def test_a_read_slower_than_the_timeout_raises_read_timeout_at_the_timeout(client, bakery):
    slow_down(client, calls=10)

    with httpx.Client(
        transport=InProcessTransport(wsgi_app),
        base_url="http://testserver/sandbox/codat",
        timeout=httpx.Timeout(5.0, read=READ_TIMEOUT),
    ) as http:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            http.get(f"/companies/{bakery.id}", headers={"Authorization": AUTH})
        elapsed = time.monotonic() - started

    # Exactly when a socket read would have given up: not before, and not 30 s later.
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + MARGIN
    assert calls_slowed() == 1


def test_latency_within_the_timeout_still_answers(client, bakery):
    slow_down(client, calls=1, seconds=0.05)

    with httpx.Client(
        transport=InProcessTransport(wsgi_app),
        base_url="http://testserver/sandbox/codat",
        timeout=httpx.Timeout(5.0, read=2.0),
    ) as http:
        response = http.get(f"/companies/{bakery.id}", headers={"Authorization": AUTH})

    assert response.status_code == 200
    assert response.json()["name"] == "Bramble Bakery"


def test_the_apps_client_retries_a_slow_get_within_its_budget_then_gives_up(
    in_process_sandbox, client, bakery, no_jitter
):
    slow_down(client, calls=10)
    codat = get_client()

    started = time.monotonic()
    with pytest.raises(CodatUnavailable) as caught:
        codat.list_all_connections(str(bakery.id))
    elapsed = time.monotonic() - started

    assert "ReadTimeout" in caught.value.message
    # Three attempts of one read timeout each fit the 1 s budget; each waited its full timeout.
    assert calls_slowed() == 3
    assert 3 * READ_TIMEOUT <= elapsed < BUDGET + MARGIN


def test_the_budget_caps_the_read_timeout_in_process_too(
    in_process_sandbox, client, bakery, no_jitter
):
    in_process_sandbox.CODAT_READ_TIMEOUT_SECONDS = 8.0
    in_process_sandbox.CODAT_REQUEST_BUDGET_SECONDS = 0.6
    slow_down(client, calls=10)
    codat = get_client()

    started = time.monotonic()
    with pytest.raises(CodatUnavailable):
        codat.list_all_connections(str(bakery.id))
    elapsed = time.monotonic() - started

    # The one attempt the budget allowed ended with the budget, not at the 8 s read timeout.
    assert calls_slowed() == 1
    assert 0.6 <= elapsed < 0.6 + MARGIN


def test_a_slow_post_is_not_resent_and_may_have_been_applied(in_process_sandbox, client, db):
    slow_down(client, calls=10)
    codat = get_client()

    started = time.monotonic()
    with pytest.raises(CodatUnavailable) as caught:
        codat.create_company(name="Slow Answer Ltd")
    elapsed = time.monotonic() - started

    assert caught.value.may_have_been_applied
    assert calls_slowed() == 1
    assert READ_TIMEOUT <= elapsed < BUDGET + MARGIN
    # As over HTTP, the sandbox handled the request after the caller stopped waiting.
    assert SandboxCompany.objects.filter(name="Slow Answer Ltd").exists()


def test_connecting_while_codat_is_slow_shows_the_try_again_page_within_the_budget(
    in_process_sandbox, client, owner_client, acme, catalogue, no_jitter, sandbox_calls, caplog
):
    slow_down(client, calls=10)

    started = time.monotonic()
    response = owner_client.post("/connect/gbol/")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert "Codat isn't answering, try again" in response.content.decode()
    assert elapsed < BUDGET + MARGIN
    # Counted at the transport: the sandbox's own count of used fault calls is rolled back with
    # the view's failed transaction, which the in-process sandbox shares.
    assert sandbox_calls == ["GET /sandbox/codat/companies"] * 3
    assert "CodatUnavailable" in caplog.text
    acme.refresh_from_db()
    assert acme.codat_company_id is None
    assert not Connection.objects.exists()
    assert not LinkAttempt.objects.exists()
