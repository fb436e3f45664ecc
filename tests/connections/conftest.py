"""Fixtures for the connect journey: a catalogue, a faked Codat, and the sandbox."""

from __future__ import annotations

import uuid

import pytest
import respx

from codat.client import CodatClient
from connections import services
from connections.models import Connection, Integration

CODAT = "https://api.codat.io"


@pytest.fixture
def catalogue(db):
    """Our copy of the catalogue, fresh, so the picker and connect need no Codat call."""
    rows = [
        ("mqjo", "Sandbox", "Accounting"),
        ("gbol", "Xero", "Accounting"),
        ("qhyg", "QuickBooks Online", "Accounting"),
        ("qhnd", "Banking Sandbox", "Banking"),
        ("suuo", "Plaid", "Banking"),
        ("aiwb", "Commerce Sandbox", "Commerce"),
        ("fztf", "Shopify", "Commerce"),
    ]
    return {
        key: Integration.objects.create(key=key, name=name, source_type=source_type)
        for key, name, source_type in rows
    }


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fake_codat(settings, monkeypatch, sleeps):
    """Codat faked at the transport with respx; retry sleeps recorded, never slept."""
    settings.CODAT_SANDBOX_IN_PROCESS = False
    settings.CODAT_BASE_URL = CODAT

    def client_factory(*, budget: float | None = None) -> CodatClient:
        return CodatClient(
            api_key="test-key", base_url=CODAT, sleep=sleeps.append, budget=budget or 10.0
        )

    monkeypatch.setattr(services, "get_client", client_factory)
    with respx.mock(base_url=CODAT, assert_all_called=False) as mock:
        yield mock


def codat_company(company_id: str | None = None, *, uid: str = "", name: str = "Acme Ltd") -> dict:
    company_id = company_id or str(uuid.uuid4())
    return {
        "id": company_id,
        "name": name,
        "description": "",
        "redirect": f"https://link.codat.io/company/{company_id}",
        "dataConnections": [],
        "created": "2026-11-28T10:45:18.1950523Z",
        "tags": {"uid": uid} if uid else {},
        "referenceSubsidiaryCompanies": [],
    }


def codat_connection(
    company_id: str,
    connection_id: str | None = None,
    *,
    key: str = "gbol",
    name: str = "Xero",
    source_type: str = "Accounting",
    status: str = "PendingAuth",
) -> dict:
    connection_id = connection_id or str(uuid.uuid4())
    return {
        "id": connection_id,
        "integrationId": "0f20c943-12d0-4800-9f6c-d218f62d494c",
        "integrationKey": key,
        "sourceId": "8a156a5a-39cb-4f9d-856e-76ef9b9a9607",
        "platformName": name,
        "linkUrl": f"https://link-api.codat.io/companies/{company_id}/connections/{connection_id}/start",
        "status": status,
        "created": "2026-11-28T10:50:00Z",
        "sourceType": source_type,
    }


def page(results: list[dict], path: str = "/companies") -> dict:
    return {
        "results": results,
        "pageNumber": 1,
        "pageSize": 100,
        "totalResults": len(results),
        "_links": {"self": {"href": path}, "current": {"href": f"{path}?page=1&pageSize=100"}},
    }


def error_body(status: int, message: str = "Something failed") -> dict:
    return {
        "statusCode": status,
        "service": "PublicApi",
        "error": message,
        "correlationId": "0a40c2f31fc8f992fb88b0853e4166f3",
        "canBeRetried": "Unknown",
        "detailedErrorCode": 0,
    }


def connections_of(company) -> list[Connection]:
    return list(Connection.objects.filter(company=company))
