"""Codat webhooks in tests: the signing secrets, signed posts to /webhooks/codat/ and the
payloads Codat sends (shapes from its webhook documentation). Plain helpers; the fixtures are in
conftest.py."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse
from django.test import Client
from standardwebhooks import Webhook

from companies.models import Company
from connections.models import Connection

URL = "/webhooks/codat/"
SECRET = "whsec_dGVzdHMtc2lnbi13aXRoLXRoaXMtc2VjcmV0LW9ubHk="
OLD_SECRET = "whsec_b2xkLXNlY3JldC1iZWZvcmUtcm90YXRpb24tMjAyNg=="
ACME_CODAT_ID = "0498e921-9b53-4396-a412-4f2f5983b0a2"
OTHER_CODAT_ID = "7c1d3a56-2f4e-4b7a-9d0e-0f5a8b6c4d21"
XERO_CODAT_ID = "ee2eb431-c0fa-4dc9-93fa-d29781c12bcd"
PLAID_CODAT_ID = "2e9d2c44-f675-40ba-8049-353bfcb5e171"
OTHER_XERO_CODAT_ID = "5b0c2e7a-8d4f-4c3b-a1e6-9f7d2c8b3a10"


def make_connection(
    company: Company,
    codat_id: str,
    *,
    status: str = Connection.Status.PENDING_AUTH,
    key: str = "gbol",
    name: str = "Xero",
    source_type: str = "Accounting",
) -> Connection:
    return Connection.objects.create(
        company=company,
        codat_connection_id=codat_id,
        platform_key=key,
        platform_name=name,
        source_type=source_type,
        status=status,
    )


# --- signing and posting --------------------------------------------------------------------


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def signed_headers(
    body: bytes,
    *,
    webhook_id: str | None = None,
    timestamp: int | None = None,
    secret: str = SECRET,
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed by the reference library."""
    webhook_id = webhook_id or new_webhook_id()
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(
        webhook_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode()
    )
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def as_svix(headers: dict[str, str]) -> dict[str, str]:
    """The same signature headers under Svix's names (`svix-id`, …), as Codat may send them."""
    return {name.replace("webhook-", "svix-", 1): value for name, value in headers.items()}


def post(
    client: Client,
    body: bytes,
    headers: dict[str, str],
    *,
    content_type: str = "application/json",
) -> HttpResponse:
    # generic() sends the bytes untouched (post() re-encodes them for a charset parameter), and
    # CONTENT_TYPE is given explicitly because the test client drops it for an empty body.
    return client.generic(
        "POST",
        URL,
        data=body,
        content_type=content_type,
        headers=headers,
        CONTENT_TYPE=content_type,
    )


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


# --- Codat payloads (shapes from Codat's Webhooks.json examples) ------------------------------


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def reference_company(codat_company_id: str = ACME_CODAT_ID) -> dict[str, Any]:
    return {
        "id": codat_company_id,
        "name": "Acme Ltd",
        "description": "",
        "links": {"portal": f"https://app.codat.io/companies/{codat_company_id}/summary"},
        "tags": {"uid": "335a086e-8563-4b03-94e3-39544225ecb6"},
    }


def codat_connection_payload(
    connection_id: str = XERO_CODAT_ID,
    *,
    company_id: str = ACME_CODAT_ID,
    status: str = "Linked",
    errors: list[dict[str, Any]] | None = None,
    last_sync: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": connection_id,
        "integrationId": "bf083d72-62c7-493e-aec9-81b4dbba7e2c",
        "integrationKey": "gbol",
        "sourceId": "bdd831ce-eebd-4896-89a7-20e5ee8989ee",
        "platformName": "Xero",
        "linkUrl": f"https://link-api.codat.io/companies/{company_id}/connections/"
        f"{connection_id}/start",
        "status": status,
        "created": "2026-11-28T09:53:29.000Z",
        "sourceType": "Accounting",
    }
    if last_sync:
        data["lastSync"] = last_sync
    if errors is not None:
        data["dataConnectionErrors"] = errors
    return data


def connection_event(
    event_type: str,
    generated: datetime,
    *,
    connection_id: str = XERO_CODAT_ID,
    company_id: str = ACME_CODAT_ID,
    status: str = "Linked",
    errors: list[dict[str, Any]] | None = None,
    last_sync: str | None = None,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "eventType": event_type,
        "generatedDate": iso(generated),
        "payload": {
            "referenceCompany": reference_company(company_id),
            "connection": codat_connection_payload(
                connection_id,
                company_id=company_id,
                status=status,
                errors=errors,
                last_sync=last_sync,
            ),
        },
    }


def read_event(
    generated: datetime,
    data_types: list[dict[str, Any]],
    *,
    event_type: str = "read.completed",
    company_id: str = ACME_CODAT_ID,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "eventType": event_type,
        "generatedDate": iso(generated),
        "payload": {
            "referenceCompany": reference_company(company_id),
            "modifiedFromDate": iso(generated),
            "dataTypes": data_types,
        },
    }


def data_type_entry(
    data_type: str,
    status: str = "Complete",
    *,
    connection_id: str = XERO_CODAT_ID,
    records_modified: bool = True,
    issues: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "connectionId": connection_id,
        "dataType": data_type,
        "recordsModified": records_modified,
        "status": status,
        "issues": issues or [],
    }


def company_deleted_event(generated: datetime, company_id: str = ACME_CODAT_ID) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "eventType": "company.deleted",
        "generatedDate": iso(generated),
        "payload": {
            "id": company_id,
            "name": "Acme Ltd",
            "description": "",
            "redirect": f"https://link.codat.io/company/{company_id}",
            "created": "2026-01-01T12:00:00.000Z",
            "tags": {},
        },
    }
