"""Codat allows one active (Linked) accounting connection per company; banking and commerce
connections are unlimited."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from codat_sandbox.models import SandboxConnection

from .steps import connect, link_path, redirect_to


def test_a_second_accounting_connection_is_refused_while_one_is_linked(api, bakery):
    linked = connect(bakery, "mqjo", linked=True)

    response = api.post(f"/companies/{bakery.id}/connections", {"platformKey": "gbol"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert "already has a linked accounting connection" in error
    assert str(linked.id) in error
    assert SandboxConnection.objects.count() == 1


def test_pending_accounting_connections_do_not_block_a_new_one(api, bakery):
    connect(bakery, "mqjo")

    assert (
        api.post(f"/companies/{bakery.id}/connections", {"platformKey": "gbol"}).status_code == 200
    )


def test_banking_and_commerce_connections_are_not_limited(api, bakery):
    connect(bakery, "mqjo", linked=True)
    connect(bakery, "suuo", linked=True)

    for key in ("qhnd", "upvr", "suuo", "fztf", "exgd"):
        response = api.post(f"/companies/{bakery.id}/connections", {"platformKey": key})
        assert response.status_code == 200, key


def test_authorising_a_second_accounting_connection_fails_with_500(client, bakery):
    redirect_to("https://app.example/r?s={statusCode}&e={errorMessage}&t={statusText}")
    first = connect(bakery, "gbol")
    second = connect(bakery, "qhyg")
    client.post(link_path(first), {"outcome": "authorize"})

    response = client.post(link_path(second), {"outcome": "authorize"})

    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["s"] == ["500"]
    assert query["e"] == ["Unknown error occurred."]
    assert query["t"] == ["The company already has a linked accounting connection."]
    second.refresh_from_db()
    assert second.status == "PendingAuth"
    assert second.data_connection_errors[0]["statusCode"] == "500"
    first.refresh_from_db()
    assert first.status == "Linked"


def test_after_unlinking_another_accounting_platform_can_be_linked(api, client, bakery):
    first = connect(bakery, "gbol", linked=True)
    api.patch(f"/companies/{bakery.id}/connections/{first.id}", {"status": "Unlinked"})

    created = api.post(f"/companies/{bakery.id}/connections", {"platformKey": "qhyg"})
    second = SandboxConnection.objects.get(pk=created.json()["id"])
    client.post(link_path(second), {"outcome": "authorize"})

    second.refresh_from_db()
    assert second.status == "Linked"


def test_relinking_the_unlinked_one_is_refused_while_another_is_linked(client, bakery):
    first = connect(bakery, "gbol", linked=True)
    first.status = "Unlinked"
    first.save()
    connect(bakery, "qhyg", linked=True)

    client.post(link_path(first), {"outcome": "authorize"})

    first.refresh_from_db()
    assert first.status == "Unlinked"
