"""Codat payloads for tests that fake Codat at the transport (respx)."""

from __future__ import annotations

import uuid

from companies import page_cache
from connections.models import Connection

CODAT = "https://api.codat.io"


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


def link(company, *, source_type: str, key: str, name: str, status: str = "Linked"):
    """A connection as if the customer had linked it through Codat."""
    if not company.codat_company_id:
        company.codat_company_id = uuid.uuid4()
        company.save()
    connection = Connection.objects.create(
        company=company,
        codat_connection_id=uuid.uuid4(),
        platform_key=key,
        platform_name=name,
        source_type=source_type,
        status=status,
    )
    page_cache.facts_changed(company)  # as the link flow's services say
    return connection


def link_xero(company, **kwargs):
    return link(company, source_type="Accounting", key="gbol", name="Xero", **kwargs)


def link_bank(company, **kwargs):
    return link(company, source_type="Banking", key="suuo", name="Plaid", **kwargs)
