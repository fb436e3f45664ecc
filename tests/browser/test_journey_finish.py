"""What a customer sees first and what greyed-out choices say, in a real browser: the home
page leads with choosing a product, a tile that can't be chosen says why, to the eye and to a
screen reader; and the consent's own page, the receipt and the wording fit a 320 px screen."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.steps import agree_to_share, connect, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_home_page_leads_with_choosing_a_product(page: Page, live_site):
    sign_up(page)

    main = page.get_by_role("main")
    # The first thing to press in the page's content is a product, not "connect".
    first = main.locator("a.button, button.button").first
    expect(first).to_have_accessible_name("See what it reads for Business insights dashboard")
    products = page.get_by_role("region", name="Your products")
    connections = page.get_by_role("region", name="Your connections")
    assert products.bounding_box()["y"] < connections.bounding_box()["y"]
    expect(products).to_contain_text("nothing is read until you agree")


def test_a_greyed_out_tile_says_why_and_a_connected_one_says_connected(page: Page, live_site):
    sign_up(page)
    connect(page, "Xero")

    page.goto("/connections/new/?type=Accounting")
    quickbooks = page.get_by_role("button", name="Connect QuickBooks Online")
    expect(quickbooks).to_be_disabled()
    expect(quickbooks).to_have_accessible_description(
        "One accounting software at a time: disconnect Xero first."
    )
    tile = page.get_by_role("listitem").filter(has=quickbooks)
    expect(tile).to_contain_text("One accounting software at a time: disconnect Xero first.")

    xero_tile = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name="View Xero", exact=True)
    )
    expect(xero_tile).to_contain_text("Connected")
    expect(xero_tile.get_by_role("button", name="Connect Xero")).to_have_count(0)
    xero_tile.get_by_role("link", name="View Xero").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You're connected to Xero")


def test_the_consent_receipt_and_wording_pages_reflow_at_320px_and_pass_axe(page: Page, live_site):
    sign_up(page)
    agree_to_share(page, "Lending")
    page.set_viewport_size({"width": 320, "height": 800})
    axe = Axe()
    for url in ("/consents/lending/", "/consents/receipt/", "/products/lending/wording/1/"):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, (url, width)
        violations = [
            (v["id"], v["impact"])
            for v in axe.run(page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert violations == [], url
