"""The 90-day bank date is where the customer looks (My consents, the product, the bank's
connection page), and a reconnected connection says when it was connected again."""

from __future__ import annotations

import pytest
import time_machine

from connections.models import Connection
from tests.consents.steps import grant
from tests.consents.test_banking_clock import START, at, bank_becomes
from tests.fakes import link_bank, link_xero

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(owner_client, acme, lending) -> Connection:
    """Lending agreed and both its connections linked on day 0."""
    link_xero(acme)
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, "Linked", START)
    with time_machine.travel(START, tick=False):
        grant(owner_client, "lending")
    return bank


@pytest.mark.parametrize("url", ["/consents/", "/products/lending/", "bank"])
def test_the_bank_date_shows_where_the_customer_looks(owner_client, bank, url):
    with time_machine.travel(at(3), tick=False):
        page = owner_client.get(f"/connections/{bank.id}/" if url == "bank" else url)

    assert "Bank data shared until <time" in page.content.decode()
    assert "31 May 2026" in page.content.decode()  # day 0 + 90 days


def test_the_accounting_connection_page_shows_no_bank_date(owner_client, acme, bank):
    xero = Connection.objects.get(platform_key="gbol")

    page = owner_client.get(f"/connections/{xero.id}/").content.decode()

    assert "Bank data shared until" not in page


def test_after_reconnecting_the_page_says_connected_since_the_reconnect(owner_client, owner, bank):
    bank_becomes(bank, "Deauthorized", at(89))
    bank_becomes(bank, "Linked", at(95))

    with time_machine.travel(at(96), tick=False):
        owner_client.force_login(owner)  # a session of that day
        response = owner_client.get(f"/connections/{bank.id}/")
        assert response.status_code == 200, (response.status_code, response.get("Location"))
        page = response.content.decode()
        listing = owner_client.get("/connections/").content.decode()

    assert "Plaid is connected since <time" in page
    assert "5 Jun 2026, 09:00" in page  # day 95, the reconnect
    assert "2 Mar 2026" not in page  # not the first link any more
    assert "5 Jun 2026" in listing and "2 Mar 2026" not in listing
    assert "Bank data shared until" in page and "3 September 2026" in page  # day 95 + 90
