"""The app's own Codat client (codat.client) works against the sandbox, in-process.

A guard on the seam between the two halves: if either side drifts from Codat's shapes, this is
where it shows first.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import time_machine
from django.conf import settings

from codat.client import CodatClient
from codat.errors import (
    CodatNotFound,
    CodatRejected,
    DatasetAlreadyInProgress,
    DataTypeNotConsented,
)
from codat.types import DATA_TYPES, SyncSetting
from codat_sandbox import timeline
from codat_sandbox.inprocess import wsgi_app
from companies.codat_client import get_client

from .steps import connect


@pytest.fixture
def codat(db, settings):
    settings.CODAT_SANDBOX_IN_PROCESS = True
    with get_client() as client:
        yield client


def test_the_journey_through_the_apps_client(codat, client):
    company = codat.create_company(name="Client (Journey)", tags={"uid": "u-1"})
    assert company.name == "Client Journey"
    assert [c.id for c in codat.find_companies_by_tag("uid", "u-1")] == [company.id]

    connection = codat.create_connection(company.id, platform_key="gbol")
    assert connection.status == "PendingAuth"
    assert connection.link_url.endswith(f"/connections/{connection.id}/start")

    client.post(link_path_of(connection), {"outcome": "cancel"})
    cancelled = codat.get_connection(company.id, connection.id)
    assert cancelled.errors[0].status_code == "403"
    assert cancelled.errors[0].errored_on is not None

    client.post(link_path_of(connection), {"outcome": "authorize"})
    assert codat.get_connection(company.id, connection.id).status == "Linked"
    assert codat.unlink_connection(company.id, connection.id).status == "Unlinked"

    accounting = codat.list_all_integrations(query="sourceType=Accounting&&enabled=true")
    assert {i.key for i in accounting} == {"mqjo", "gbol", "qhyg", "tgff"}

    codat.delete_connection(company.id, connection.id)
    with pytest.raises(CodatNotFound):
        codat.get_connection(company.id, connection.id)


def test_a_refused_request_surfaces_as_the_apps_named_error(codat):
    company = codat.create_company(name="Refused")

    with pytest.raises(CodatRejected) as caught:
        codat.create_connection(company.id, platform_key="zzzz")

    assert caught.value.status_code == 400
    assert caught.value.correlation_id


def link_path_of(connection) -> str:
    return "/sandbox/link/" + connection.link_url.split("/sandbox/link/", 1)[1]


def test_sync_settings_refreshes_and_status_through_the_apps_client(client, bakery):
    consented = {"invoices", "bills"}
    codat = CodatClient(
        api_key=settings.CODAT_SANDBOX_KEY,
        base_url="http://testserver/sandbox/codat",
        transport=httpx.WSGITransport(app=wsgi_app),
        data_type_gate=lambda company_id: consented,
    )
    company_id = str(bakery.id)
    with time_machine.travel(datetime(2026, 5, 6, 9, 0, tzinfo=UTC), tick=False) as clock:
        # Every type named: one left out would follow the client-wide settings, which on a
        # fresh account fetch everything on first link.
        codat.set_sync_settings(
            company_id,
            [SyncSetting("invoices", True, 24, 0), SyncSetting("bills", False, 24, 1)]
            + [SyncSetting(t, False, 0, 2) for t in DATA_TYPES if t not in consented],
        )
        switched_on = {
            s.data_type
            for s in codat.get_sync_settings(company_id)
            if s.fetch_on_first_link or s.sync_schedule
        }
        assert switched_on == {"invoices", "bills"}
        connection = connect(bakery, "gbol", linked=True)  # starts the initial read: invoices

        with pytest.raises(DatasetAlreadyInProgress):
            codat.queue_data_type(company_id, "invoices")
        bills = codat.queue_data_type(company_id, "bills", connection_id=str(connection.id))
        assert (bills.status, bills.is_finished) == ("Queued", False)
        with pytest.raises(DataTypeNotConsented):
            codat.queue_data_type(company_id, "customers")

        clock.shift(timeline.SYNC_SECONDS_MAX + 1)
        statuses = codat.get_data_status(company_id)

    assert {name: status.current_status for name, status in statuses.items()} == {
        "invoices": "Complete",
        "bills": "Complete",
    }
    assert statuses["bills"].latest_successful_sync_id == bills.id
