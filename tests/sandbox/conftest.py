"""Fixtures for the sandbox tests: an API client that checks every response against Codat's
OpenAPI document, and ready-made sandbox companies and connections."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from codat_sandbox import services
from codat_sandbox.inprocess import wsgi_app
from codat_sandbox.models import SandboxCompany
from tests.sandbox.steps import (
    AUTH,
    SandboxApi,
    register_consumer,
)

from .openapi import OpenApiContract, load_spec


@pytest.fixture(scope="session")
def contract() -> OpenApiContract:
    return OpenApiContract(load_spec())


@pytest.fixture
def api(db, client: Client, contract: OpenApiContract) -> SandboxApi:
    return SandboxApi(client, contract)


@pytest.fixture
def sandbox_http(db, contract: OpenApiContract):
    """The in-process httpx client the app's Codat client uses, with the same spec check."""

    def check(response: httpx.Response) -> None:
        response.read()
        contract.check(
            response.request.method,
            response.request.url.path,
            response.status_code,
            response.content,
            response.headers.get("Content-Type", ""),
        )

    with httpx.Client(
        transport=httpx.WSGITransport(app=wsgi_app),
        base_url="http://testserver/sandbox/codat",
        headers={"Authorization": AUTH},
        event_hooks={"response": [check]},
    ) as http:
        yield http


@pytest.fixture
def bakery(db) -> SandboxCompany:
    return services.company_create(
        name="Bramble Bakery", description="cust_123", tags={"uid": "cust_123", "region": "uk"}
    )


@pytest.fixture
def app_consumer(db):
    """The app's webhook endpoint registered for every event (codat_setup registers it for the
    types the app handles)."""
    return register_consumer()
