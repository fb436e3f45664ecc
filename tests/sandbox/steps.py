"""Sandbox tests' helpers: the API key header, an API client that checks each answer against
Codat's OpenAPI document, and ready-made companies, connections and settings. Plain helpers;
the fixtures are in conftest.py."""

from __future__ import annotations

import base64
import json
from typing import Any

from django.conf import settings
from django.test import Client

from codat_sandbox import services, syncs
from codat_sandbox.integrations import ALL_DATA_TYPES, get_integration
from codat_sandbox.models import SandboxCompany, SandboxConnection

from .openapi import API_PREFIX, OpenApiContract


def basic_auth(key: str) -> str:
    return "Basic " + base64.b64encode(key.encode()).decode()


# The suite runs the sandbox as a demo deployment would, with its own API key (pyproject.toml).
AUTH = basic_auth(settings.CODAT_SANDBOX_KEY)


class SandboxApi:
    """Calls the sandbox API through Django's test client; every response is checked against
    the matching operation in Codat's spec before the test sees it."""

    def __init__(self, client: Client, contract: OpenApiContract) -> None:
        self.client = client
        self.contract = contract

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        auth: str | None = AUTH,
    ):
        extra = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        response = self.client.generic(
            method, API_PREFIX + path, data=data, content_type="application/json", **extra
        )
        self.contract.check(
            method,
            (API_PREFIX + path).split("?", 1)[0],
            response.status_code,
            response.content,
            response.get("Content-Type", ""),
        )
        return response

    def get(self, path: str, **kwargs: Any):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.call("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any):
        return self.call("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any):
        return self.call("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.call("DELETE", path, **kwargs)


def connect(
    company: SandboxCompany, platform_key: str, *, linked: bool = False
) -> SandboxConnection:
    connection = services.connection_create(
        company=company, integration=get_integration(platform_key)
    )
    if linked:
        services.link_authorize(connection=connection)
        connection.refresh_from_db()
    return connection


def link_path(connection: SandboxConnection) -> str:
    return f"/sandbox/link/companies/{connection.company_id}/connections/{connection.id}/start"


def sync_settings(company: SandboxCompany, *data_types: str, first_link: bool = True) -> None:
    """Give `company` sync settings naming every data type, with exactly `data_types` on (fetched
    on first link by default, refreshed daily) and every other one off, as the app sets them.
    (A type left out of a company's settings would follow the client-wide setting instead.)"""
    wanted = list(data_types)
    syncs.sync_settings_replace(
        company=company,
        settings=[
            syncs.SyncSettingInput(
                data_type=data_type,
                fetch_on_first_link=first_link,
                sync_schedule=24,
                sync_order=order,
            )
            for order, data_type in enumerate(wanted)
        ]
        + [
            syncs.SyncSettingInput(
                data_type=data_type, fetch_on_first_link=False, sync_schedule=0, sync_order=0
            )
            for data_type in ALL_DATA_TYPES
            if data_type not in wanted
        ],
        overrides_defaults=True,
    )


def client_fetches_nothing() -> None:
    """Client-wide settings with every type off, as `codat_setup --apply` leaves them."""
    syncs.client_sync_settings_replace(
        settings=[
            syncs.SyncSettingInput(
                data_type=data_type, fetch_on_first_link=False, sync_schedule=0, sync_order=0
            )
            for data_type in ALL_DATA_TYPES
        ],
        overrides_defaults=True,
    )


# The app's webhook endpoint under the suite's SITE_URL.
APP_WEBHOOK_URL = f"{settings.SITE_URL}/webhooks/codat/"


def register_consumer(url: str = APP_WEBHOOK_URL, *event_types: str, **options: Any):
    """A webhook consumer, as `POST /webhooks` makes (no event types: every event)."""
    return services.webhook_consumer_create(url=url, event_types=list(event_types), **options)


def redirect_to(template: str) -> None:
    """Set the client's redirect URL template, as `PUT /profile` does."""
    services.profile_replace(name="Bramble Bank", redirect_url=template)
