"""`get_client()` builds a fresh client from Django settings: the real Codat, or the sandbox."""

from __future__ import annotations

import json
import sys
import types

import pytest

from codat.client import CodatClient
from companies.codat_client import get_client
from tests.codat import AUTH_HEADER, payload

COMPANY_ID = "ab12c58d-a678-4ebf-a159-ae99e1807bd0"
CONNECTION_ID = "ee2eb431-c0fa-4dc9-93fa-d29781c12bcd"
CONNECTION_PATH = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}"


@pytest.fixture
def real_codat(settings):
    settings.CODAT_SANDBOX_ENABLED = False
    settings.CODAT_API_KEY = "my-api-key"
    settings.CODAT_SANDBOX_KEY = "sandbox"
    settings.CODAT_BASE_URL = "https://api.codat.io"
    settings.CODAT_CONNECT_TIMEOUT_SECONDS = 2.0
    settings.CODAT_READ_TIMEOUT_SECONDS = 5.0
    settings.CODAT_REQUEST_BUDGET_SECONDS = 9.0
    return settings


@pytest.fixture
def fake_sandbox_app(monkeypatch):
    """Stands in for codat_sandbox.inprocess.wsgi_app, which records what reached it."""
    seen: list[dict] = []

    def wsgi_app(environ, start_response):
        seen.append(
            {
                "path": environ["PATH_INFO"],
                "script_name": environ.get("SCRIPT_NAME", ""),
                "authorization": environ.get("HTTP_AUTHORIZATION"),
            }
        )
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(payload("connection")).encode()]

    module = types.ModuleType("codat_sandbox.inprocess")
    module.wsgi_app = wsgi_app
    monkeypatch.setitem(sys.modules, "codat_sandbox.inprocess", module)
    return seen


@pytest.mark.respx(base_url="https://api.codat.io")
def test_with_a_real_key_the_client_goes_to_codat_with_that_key(real_codat, respx_mock):
    route = respx_mock.get(CONNECTION_PATH).respond(200, json=payload("connection"))

    client = get_client()
    client.get_connection(COMPANY_ID, CONNECTION_ID)

    assert isinstance(client, CodatClient)
    request = route.calls.last.request
    assert request.headers["Authorization"] == AUTH_HEADER
    assert request.extensions["timeout"]["connect"] == 2.0
    assert request.extensions["timeout"]["read"] == 5.0


def test_the_budget_comes_from_settings_unless_given(real_codat):
    assert get_client().budget == 9.0
    assert get_client(budget=2.5).budget == 2.5


def test_each_call_gives_a_fresh_client(real_codat):
    assert get_client() is not get_client()


def test_sandbox_in_process_sends_requests_into_the_sandbox_wsgi_app(settings, fake_sandbox_app):
    settings.CODAT_SANDBOX_ENABLED = True
    settings.CODAT_SANDBOX_IN_PROCESS = True
    settings.CODAT_SANDBOX_KEY = "sandbox"
    settings.CODAT_API_KEY = "must-not-be-used"
    settings.CODAT_BASE_URL = "http://testserver/sandbox/codat"

    connection = get_client().get_connection(COMPANY_ID, CONNECTION_ID)

    assert connection.id == CONNECTION_ID
    [request] = fake_sandbox_app
    assert request["script_name"] + request["path"] == f"/sandbox/codat{CONNECTION_PATH}"
    assert request["authorization"] == "Basic c2FuZGJveA=="  # base64("sandbox")


@pytest.mark.respx(base_url="http://localhost:8000/sandbox/codat")
def test_sandbox_over_http_uses_the_sandbox_key_on_a_real_transport(settings, respx_mock):
    settings.CODAT_SANDBOX_ENABLED = True
    settings.CODAT_SANDBOX_IN_PROCESS = False
    settings.CODAT_SANDBOX_KEY = "sandbox"
    settings.CODAT_BASE_URL = "http://localhost:8000/sandbox/codat"
    route = respx_mock.get(CONNECTION_PATH).respond(200, json=payload("connection"))

    get_client().get_connection(COMPANY_ID, CONNECTION_ID)

    assert route.calls.last.request.headers["Authorization"] == "Basic c2FuZGJveA=="
