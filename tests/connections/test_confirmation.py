"""The page a customer lands on after connecting: what was connected, what is read from it and
for which product, and the next step back to the product they came for."""

from __future__ import annotations

import re

import pytest

from tests.connections.test_journey import finish_at_codat, local, sign_up
from tests.consents.steps import grant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("codat_account_set_up")]


def connect_for(client, key: str, product: str | None) -> str:
    """Press Connect on the picker (opened for `product`), authorise at Codat, come back."""
    data = {"product": product} if product else {}
    link = client.post(f"/connect/{key}/", data)
    assert link.status_code == 302, link.content.decode()[:2000]
    back = client.get(local(finish_at_codat(client, link["Location"])))
    assert back.status_code == 303
    return client.get(back["Location"]).content.decode()


def h1(page: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S).group(1)).strip()


def test_the_confirmation_names_the_connection_what_is_read_and_the_next_step(client):
    sign_up(client)
    grant(client, "lending")
    assert (
        'name="product" value="lending"'
        in client.get("/connections/new/?product=lending").content.decode()
    )

    page = connect_for(client, "gbol", "lending")

    assert h1(page) == "You're connected to Xero"
    assert "What we read from Xero" in page
    assert 'For <a href="/products/lending/">Lending</a>: invoices, bills,' in page
    assert "Next step" in page
    assert "Lending also needs your banking before it can start." in page
    assert 'href="/connections/new/?product=lending">Connect your banking</a>' in page

    page = connect_for(client, "qhnd", "lending")

    assert h1(page) == "You're connected to Banking Sandbox"
    assert 'For <a href="/products/lending/">Lending</a>: bank accounts, bank transactions.' in page
    assert "Lending has everything it needs and is live." in page
    assert 'href="/products/lending/">Continue to Lending</a>' in page
    assert "Bank data shared until <time" in page


def test_connecting_from_the_picker_without_a_product_offers_no_product_step(client):
    sign_up(client)
    grant(client, "business-insights")

    page = connect_for(client, "gbol", None)

    assert h1(page) == "You're connected to Xero"
    assert "Next step" not in page
    assert 'For <a href="/products/business-insights/">Business insights' in page


def test_a_product_slug_that_is_not_a_product_is_ignored(client):
    sign_up(client)
    grant(client, "business-insights")

    page = connect_for(client, "gbol", "not-a-product")

    assert "Next step" not in page
