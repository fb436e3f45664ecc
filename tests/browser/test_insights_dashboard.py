"""The Business insights dashboard in a real browser: a new customer consents, connects the
accounting sandbox, watches the sync, sees the charts with the sandbox's figures, withdraws,
and sees the dashboard stop and the withdrawal in "How your data was used". axe finds nothing
serious on the dashboard at 1280 and 320 pixels wide."""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from codat_sandbox.books import books_for
from companies.models import Company
from connections.models import Connection
from tests.browser.steps import agree_to_share, connect, product_card, sign_up
from tests.insights.steps import pounds

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Accounting data Business insights reads, as the connection page lists its progress.
INSIGHTS_FROM_THE_BOOKS = 4


def serious_accessibility_problems(page: Page) -> list[str]:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    results = axe.Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def test_a_new_customer_sees_their_dashboard_then_withdraws(
    page: Page, live_site, watch, deliver_webhooks
):
    sign_up(page)
    agree_to_share(page, "Business insights dashboard")
    connect(page, "Sandbox")
    books = Connection.objects.get(platform_key="mqjo")
    expect(page).to_have_url(f"{live_site}/connections/{books.id}/")

    # The sync, watched on the connection's page as it arrives.
    progress = page.get_by_role(
        "region", name=re.compile(r"^(Fetching your data|Your data is in)$")
    )
    expect(progress.get_by_role("heading")).to_have_text("Fetching your data")
    assert deliver_webhooks() > 0
    expect(progress.get_by_role("heading")).to_have_text("Your data is in", timeout=10_000)
    expect(progress.get_by_role("status")).to_have_text(
        f"{INSIGHTS_FROM_THE_BOOKS} of {INSIGHTS_FROM_THE_BOOKS} kinds of data done"
    )

    # From the home page to the product, and its dashboard.
    page.goto("/")
    expect(product_card(page, "Business insights dashboard").locator(".badge")).to_have_text("Live")
    product_card(page, "Business insights dashboard").get_by_role(
        "link", name="Business insights dashboard", exact=True
    ).click()
    page.get_by_role("link", name="Open your dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your business insights")

    company = Company.objects.get()
    figures = books_for(uuid.UUID(str(company.codat_company_id)), today=timezone.localdate())
    newest = figures.months[-1]
    charts = page.get_by_role("img")
    expect(charts).to_have_count(3)  # no bank connected: no bank chart
    expect(page.get_by_role("img", name="Revenue and costs by month")).to_be_visible()
    expect(page.get_by_role("img", name="Profit by month")).to_be_visible()
    expect(page.get_by_role("img", name="Money in and out by month")).to_be_visible()
    table = page.get_by_role("table", name="Revenue, costs and profit by month")
    last_row = table.get_by_role("row").last
    expect(last_row.get_by_role("rowheader")).to_have_text(f"{newest.start:%B %Y}")
    expect(last_row.get_by_role("cell").first).to_have_text(pounds(newest.sales))
    expect(last_row.get_by_role("cell").last).to_have_text(pounds(newest.net_profit))
    expect(page.get_by_text("Cash position")).to_be_visible()
    expect(page.get_by_text(pounds(newest.cash)).first).to_be_visible()
    expect(page.get_by_text("Last updated")).to_be_visible()

    for width, height in ((1280, 900), (320, 800)):
        page.set_viewport_size({"width": width, "height": height})
        assert serious_accessibility_problems(page) == [], width

    # Withdrawing stops the dashboard at once, and says why.
    page.get_by_role("link", name="Withdraw consent").click()
    page.get_by_label("Withdraw my consent only").check()
    page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(page.get_by_role("main").locator(".badge")).to_have_text("Withdrawn")
    page.goto("/insights/")
    expect(page.get_by_role("heading", name="This dashboard has stopped")).to_be_visible()
    expect(page.get_by_text("You withdrew your consent")).to_be_visible()
    expect(page.get_by_role("img")).to_have_count(0)

    page.get_by_role("link", name="See how your data was used").click()
    used = page.get_by_role("region", name="Business insights dashboard")
    expect(used.get_by_role("listitem").first).to_contain_text("Consent withdrawn")
    expect(used.get_by_role("listitem").first).to_contain_text("reads nothing")
    expect(used).to_contain_text("Show the Business insights dashboard, for Bea Baker: Read")
