"""Each fact is read once per request: a page that reads the company's consents and
connections hands them to the banners every page shows, and the membership is looked up once."""

from __future__ import annotations

import re

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from connections.models import Connection
from tests.consents.steps import grant
from tests.fakes import link_bank, link_xero

pytestmark = pytest.mark.django_db


def reads(client, path: str) -> tuple[str, list[str]]:
    with CaptureQueriesContext(db) as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode(), [q["sql"] for q in queries.captured_queries]


def main_table(query: str) -> str:
    """The table a query reads rows from, not counting its subqueries."""
    while (simpler := re.sub(r"\([^()]*\)", "", query)) != query:
        query = simpler
    found = re.search(r' FROM "(\w+)"', query)
    return found.group(1) if found else ""


def from_table(sql: list[str], table: str) -> int:
    return sum(1 for q in sql if main_table(q) == table)


@pytest.fixture
def expired_bank(owner_client, acme, lending):
    link_xero(acme)
    bank = link_bank(acme)
    grant(owner_client, "lending")
    Connection.objects.filter(pk=bank.pk).update(status=Connection.Status.DEAUTHORIZED)
    return bank


@pytest.mark.parametrize(
    "path", ["/", "/consents/", "/consents/lending/", "/consents/receipt/", "/products/lending/"]
)
def test_pages_read_consents_connections_and_membership_once(owner_client, expired_bank, path):
    page, sql = reads(owner_client, path)

    # The banner is there, from the facts the page read.
    assert "Your connection to Plaid has expired." in page
    assert "Lending can't get fresh banking data until you reconnect." in page
    assert from_table(sql, "consents_consent") == 1
    assert from_table(sql, "connections_connection") == 1
    assert from_table(sql, "companies_membership") == 1


def test_the_connection_page_reads_consents_once(owner_client, expired_bank):
    page, sql = reads(owner_client, f"/connections/{expired_bank.id}/")

    assert "Your connection to Plaid has expired." in page
    assert from_table(sql, "consents_consent") == 1


def test_the_privacy_page_reads_the_wording_once(owner_client, lending, insights):
    page, sql = reads(owner_client, "/privacy/")

    assert "Lending" in page and "Business insights" in page
    assert from_table(sql, "consents_consenttext") == 1
    assert from_table(sql, "consents_product") == 0
