"""The picker says that connecting shares nothing on its own, marks what is connected, and says
why a greyed-out tile can't be chosen."""

from __future__ import annotations

import re

import pytest

from tests.fakes import link_xero

pytestmark = pytest.mark.django_db


def tile(page: str, name: str) -> str:
    tiles = re.findall(r'<li class="tile[^"]*">.*?</li>', page, re.S)
    return next(t for t in tiles if f'class="tile-name">{name}<' in t)


def test_the_picker_says_nothing_is_read_until_a_product_is_agreed(owner_client, catalogue):
    page = owner_client.get("/connections/new/").content.decode()

    assert "Connecting on its own shares nothing" in page
    assert "only for a product you have agreed to" in page


def test_a_connected_platform_says_connected_and_leads_to_its_page(owner_client, acme, catalogue):
    xero = link_xero(acme)

    page = owner_client.get("/connections/new/").content.decode()

    xero_tile = tile(page, "Xero")
    assert "Connected" in xero_tile
    assert f'href="/connections/{xero.id}/"' in xero_tile
    assert ">Connect<" not in xero_tile
    assert 'action="/connect/gbol/"' not in xero_tile


def test_a_greyed_out_tile_says_why(owner_client, acme, catalogue):
    link_xero(acme)

    page = owner_client.get("/connections/new/").content.decode()

    quickbooks = tile(page, "QuickBooks Online")
    assert "disabled" in quickbooks
    assert "One accounting software at a time: disconnect Xero first." in quickbooks
    assert 'aria-describedby="why-qhyg"' in quickbooks and 'id="why-qhyg"' in quickbooks
    # Other kinds are not affected.
    assert "disabled" not in tile(page, "Plaid")
