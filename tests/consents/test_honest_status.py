"""A product's status and a connection's sync card tell the truth: a product is not "Live"
while a connection it depends on has expired or a sync of its data failed, and a finished
sync with failures says what failed and what to do."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connections.models import Connection, DataSync
from tests.consents.steps import granted
from tests.fakes import link_bank, link_xero

pytestmark = pytest.mark.django_db


def synced(connection, data_type: str, status: str) -> None:
    DataSync.objects.update_or_create(
        connection=connection,
        data_type=data_type,
        defaults={"status": status, "last_event_at": timezone.now()},
    )


@pytest.fixture
def lending_live(acme):
    """Lending reads accounting and bank data; both are linked and it is live."""
    xero = link_xero(acme)
    bank = link_bank(acme)
    granted(acme, "lending")
    return xero, bank


def test_a_product_is_live_while_everything_it_needs_works(owner_client, lending_live):
    page = owner_client.get("/products/lending/").content.decode()

    assert ">Live<" in page
    assert "needs your attention" not in page


def test_an_expired_bank_connection_makes_the_product_need_attention_with_a_reconnect_button(
    owner_client, lending_live
):
    _, bank = lending_live
    Connection.objects.filter(pk=bank.pk).update(status=Connection.Status.DEAUTHORIZED)

    product = owner_client.get("/products/lending/").content.decode()
    home = owner_client.get("/").content.decode()
    mine = owner_client.get("/consents/").content.decode()

    for page in (product, home, mine):
        assert ">Needs attention<" in page
        assert ">Live<" not in page
    assert "Your access to Plaid has expired." in product
    assert f'action="/connections/{bank.id}/reconnect/"' in product


def test_a_failed_sync_of_consented_data_makes_the_product_need_attention(
    owner_client, lending_live
):
    xero, _ = lending_live
    synced(xero, "balanceSheet", "FetchError")
    synced(xero, "profitAndLoss", "Complete")

    product = owner_client.get("/products/lending/").content.decode()

    assert ">Needs attention<" in product
    assert "Some data couldn&#x27;t be fetched from Xero." in product
    assert "Not fetched: balance sheet." in product
    assert f'href="/connections/{xero.id}/"' in product


def test_a_failed_sync_of_data_this_product_does_not_read_leaves_it_live(owner_client, acme):
    xero = link_xero(acme)
    link_bank(acme)
    granted(acme, "lending")
    synced(xero, "cashFlowStatement", "FetchError")  # Lending does not read it

    assert ">Live<" in owner_client.get("/products/lending/").content.decode()


def test_the_sync_card_does_not_say_all_in_beside_a_failed_line(owner_client, acme):
    xero = link_xero(acme)
    Connection.objects.filter(pk=xero.pk).update(linked_at=timezone.now())
    granted(acme, "business-insights")
    for data_type in ("company", "profitAndLoss", "cashFlowStatement"):
        synced(xero, data_type, "Complete")
    synced(xero, "balanceSheet", "FetchError")

    page = owner_client.get(f"/connections/{xero.id}/").content.decode()

    assert "Your data is in" not in page
    assert "Some of your data couldn't be fetched" in page
    assert "3 of 4 kinds of data ready, 1 couldn't be fetched" in page
    assert "Not fetched: balance sheet." in page
    assert "We try again at the next daily sync" in page


def test_a_sync_refused_for_lost_access_says_to_reconnect(owner_client, acme):
    xero = link_xero(acme)
    granted(acme, "business-insights")
    for data_type in ("company", "profitAndLoss", "cashFlowStatement"):
        synced(xero, data_type, "Complete")
    synced(xero, "balanceSheet", "AuthError")

    page = owner_client.get(f"/connections/{xero.id}/").content.decode()

    assert "Xero refused us access: reconnect it to fetch these." in page
