"""The console page at /sandbox/ lists what the sandbox holds; its actions are tested apart."""

from __future__ import annotations

import pytest

from .steps import connect


@pytest.fixture
def client(staff_client):
    # With DEBUG off, as here, the console is for signed-in staff only (L3; tests/hardening).
    return staff_client


def test_the_console_lists_companies_and_their_connections(client, bakery):
    connection = connect(bakery, "gbol", linked=True)
    connect(bakery, "qhnd")

    response = client.get("/sandbox/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Bramble Bakery" in html
    assert str(bakery.id) in html
    assert "Xero" in html and "Linked" in html
    assert "Banking Sandbox" in html and "PendingAuth" in html
    assert f"/sandbox/link/companies/{bakery.id}/connections/{connection.id}/start" in html
    assert "uid=cust_123" in html
    assert "<script" not in html and "style=" not in html


def test_the_console_says_when_there_is_nothing_yet(client, db):
    assert "No sandbox companies yet" in client.get("/sandbox/").content.decode()


def test_the_console_page_itself_changes_nothing(client, db):
    # Every action has its own POST URL; the page only answers GET.
    assert client.post("/sandbox/").status_code == 405
