"""Connections: create (PendingAuth + linkUrl), list, get, unlink and delete, as Codat does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from codat_sandbox.models import SandboxConnection

from .steps import connect

FROZEN = datetime(2026, 5, 6, 9, 53, 29, tzinfo=UTC)


@time_machine.travel(FROZEN, tick=False)
def test_creating_a_connection_gives_a_pending_one_with_its_link_url(api, bakery, settings):
    response = api.post(f"/companies/{bakery.id}/connections", {"platformKey": "gbol"})

    assert response.status_code == 200
    connection = SandboxConnection.objects.get()
    assert response.json() == {
        "id": str(connection.id),
        "integrationId": "0f20c943-12d0-4800-9f6c-d218f62d494c",
        "integrationKey": "gbol",
        "sourceId": "8a156a5a-39cb-4f9d-856e-76ef9b9a9607",
        "platformName": "Xero",
        "linkUrl": (
            f"{settings.SITE_URL}/sandbox/link/companies/{bakery.id}"
            f"/connections/{connection.id}/start"
        ),
        "status": "PendingAuth",
        "created": "2026-05-06T09:53:29.000000Z",
        "sourceType": "Accounting",
        "dataConnectionErrors": [],
    }


def test_the_new_connection_shows_on_the_company(api, bakery):
    created = api.post(f"/companies/{bakery.id}/connections", {"platformKey": "qhnd"}).json()

    company = api.get(f"/companies/{bakery.id}").json()

    assert company["dataConnections"] == [created]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({}, "platformKey is required."),
        ({"platformKey": None}, "platformKey is required."),
        ({"platformKey": "GBOL"}, "four-letter lower-case"),
        ({"platformKey": "gbo"}, "four-letter lower-case"),
        ({"platformKey": 1234}, "four-letter lower-case"),
        ({"platformKey": "zzzz"}, "No integration was found with key zzzz."),
    ],
)
def test_a_missing_malformed_or_unknown_platform_key_is_a_400(api, bakery, body, complaint):
    response = api.post(f"/companies/{bakery.id}/connections", body)

    assert response.status_code == 400
    assert complaint in response.json()["error"]
    assert not SandboxConnection.objects.exists()


def test_a_switched_off_integration_cannot_be_connected(api, bakery, settings):
    settings.CODAT_SANDBOX_DISABLED_INTEGRATIONS = ["upvr"]

    response = api.post(f"/companies/{bakery.id}/connections", {"platformKey": "upvr"})

    assert response.status_code == 400
    assert (
        response.json()["error"] == "Integration upvr (TrueLayer) is not enabled for this client."
    )


def test_connecting_an_unknown_company_is_a_404(api):
    response = api.post(
        "/companies/5b1bdc47-8f4f-4b37-a0b4-3e6c1d0f6a11/connections", {"platformKey": "mqjo"}
    )

    assert response.status_code == 404


def test_listing_connections_is_paged_and_filterable(api, bakery):
    first = connect(bakery, "mqjo", linked=True)
    second = connect(bakery, "qhnd")
    connect(bakery, "aiwb")

    everything = api.get(f"/companies/{bakery.id}/connections").json()
    linked = api.get(f"/companies/{bakery.id}/connections?query=status%3Dlinked").json()
    page_two = api.get(f"/companies/{bakery.id}/connections?page=2&pageSize=1").json()

    assert everything["totalResults"] == 3
    assert everything["_links"]["self"] == {"href": f"/companies/{bakery.id}/connections"}
    assert [c["id"] for c in linked["results"]] == [str(first.id)]
    assert [c["id"] for c in page_two["results"]] == [str(second.id)]
    assert set(page_two["_links"]) == {"self", "current", "next", "previous"}


def test_getting_one_connection(api, bakery):
    connection = connect(bakery, "zsth")

    body = api.get(f"/companies/{bakery.id}/connections/{connection.id}").json()

    assert body["id"] == str(connection.id)
    assert body["platformName"] == "Square"
    assert body["sourceType"] == "Commerce"


@pytest.mark.parametrize("connection_id", ["a22dd66b-564a-4832-9b37-7b3ce4aeb7de", "nope"])
def test_an_unknown_connection_is_codats_404(api, bakery, connection_id):
    response = api.get(f"/companies/{bakery.id}/connections/{connection_id}")

    assert response.status_code == 404
    assert response.json()["error"] == f"Data connection {connection_id} not found"


def test_another_companys_connection_is_not_found_under_this_one(api, bakery):
    from codat_sandbox import services

    other = services.company_create(name="Other")
    theirs = connect(other, "mqjo")

    response = api.get(f"/companies/{bakery.id}/connections/{theirs.id}")

    assert response.status_code == 404


def test_deleting_a_connection_answers_200_with_an_empty_body(api, bakery):
    connection = connect(bakery, "mqjo", linked=True)

    response = api.delete(f"/companies/{bakery.id}/connections/{connection.id}")

    assert response.status_code == 200
    assert response.content == b""
    assert not response.has_header("Content-Type")
    assert api.get(f"/companies/{bakery.id}/connections/{connection.id}").status_code == 404
    assert api.get(f"/companies/{bakery.id}").json()["dataConnections"] == []


def test_unlinking_a_linked_connection(api, bakery):
    connection = connect(bakery, "suuo", linked=True)

    response = api.patch(
        f"/companies/{bakery.id}/connections/{connection.id}", {"status": "Unlinked"}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "Unlinked"
    connection.refresh_from_db()
    assert connection.status == "Unlinked"


@pytest.mark.parametrize("status", ["PendingAuth", "Unlinked", "Deauthorized"])
def test_only_a_linked_connection_can_be_unlinked(api, bakery, status):
    connection = connect(bakery, "suuo")
    SandboxConnection.objects.filter(pk=connection.pk).update(status=status)

    response = api.patch(
        f"/companies/{bakery.id}/connections/{connection.id}", {"status": "Unlinked"}
    )

    assert response.status_code == 400
    assert "Only Linked connections can be unlinked" in response.json()["error"]
    connection.refresh_from_db()
    assert connection.status == status


@pytest.mark.parametrize("body", [{}, {"status": "Linked"}, {"status": "unlinked"}])
def test_unlink_accepts_only_the_unlinked_status(api, bakery, body):
    connection = connect(bakery, "suuo", linked=True)

    response = api.patch(f"/companies/{bakery.id}/connections/{connection.id}", body)

    assert response.status_code == 400
    connection.refresh_from_db()
    assert connection.status == "Linked"
