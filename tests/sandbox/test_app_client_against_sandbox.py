"""The app's own Codat client (codat.client) works against the sandbox, in-process.

A guard on the seam between the two halves: if either side drifts from Codat's shapes, this is
where it shows first.
"""

from __future__ import annotations

import pytest

from codat.client import get_client
from codat.errors import CodatNotFound, CodatRejected


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
    assert codat.get_branding("gbol").logo_square_url.endswith("/img/platforms/gbol.svg")

    codat.delete_connection(company.id, connection.id)
    with pytest.raises(CodatNotFound):
        codat.get_connection(company.id, connection.id)
    codat.delete_company(company.id)
    with pytest.raises(CodatNotFound):
        codat.get_company(company.id)


def test_a_refused_request_surfaces_as_the_apps_named_error(codat):
    company = codat.create_company(name="Refused")

    with pytest.raises(CodatRejected) as caught:
        codat.create_connection(company.id, platform_key="zzzz")

    assert caught.value.status_code == 400
    assert caught.value.correlation_id


def link_path_of(connection) -> str:
    return "/sandbox/link/" + connection.link_url.split("/sandbox/link/", 1)[1]
