"""Consent and Open Banking in a real browser: agreeing to a product and connecting what it
needs, watching the first sync arrive live (htmx), withdrawing, an expired bank connection, and
the 90-day "keep sharing" check — what the customer sees at each step, and what we stored."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.dateformat import format as date_format
from playwright.sync_api import Page, Response, expect

from codat.types import DATA_TYPES
from codat_sandbox.models import SandboxConnection, SandboxSyncSetting
from companies import page_cache
from companies.models import Company
from connections.models import Connection, DataSync
from consents.models import Consent, ConsentEvent, Product
from tests.browser.steps import (
    BUSINESS,
    EMAIL,
    NAME,
    PASSWORD,
    agree_to_share,
    choose_at_codat,
    connect,
    make_lending_live,
    product_card,
    sign_up,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# What Lending reads, as the customer reads it (consents/data_types.py).
LENDING_READS = [
    "Invoices — who owes you, and when",
    "Bills — who you owe, and when",
    "Customers — who you sell to",
    "Suppliers — who you buy from",
    "Bank accounts in your books — the accounts your bookkeeping tracks",
    "Profit and loss — what you earned and spent, month by month",
    "Balance sheet — what your business owns and owes",
    "Bank accounts — the accounts you hold at your bank",
    "Bank transactions — money in and out of your accounts",
]
LENDING_MAY_READ = ["Orders — what your customers bought", "Payments — how your customers paid"]
# Lending's accounting data types, as the progress on the Xero connection's page lists them
# (in the order of Codat's keys).
LENDING_FROM_XERO = [
    "Balance sheet",
    "Bank accounts in your books",
    "Bills",
    "Customers",
    "Invoices",
    "Profit and loss",
    "Suppliers",
]


def is_form_post(response: Response) -> bool:
    return response.request.resource_type == "document" and response.request.method == "POST"


def status_message(page: Page):
    return page.get_by_role("main").get_by_role("status").first


def test_first_use_of_lending_from_sign_up_to_live(page: Page, live_site, watch):
    sign_up(page)
    for product in ("Business insights dashboard", "Lending"):
        expect(product_card(page, product).locator(".badge")).to_have_text("Not started")

    product_card(page, "Lending").get_by_role("link", name="Lending", exact=True).click()
    expect(page).to_have_url(f"{live_site}/products/lending/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Lending")
    expect(page.get_by_role("main").locator(".badge")).to_have_text("Not started")
    page.get_by_role("link", name="Get started").click()

    expect(page).to_have_url(f"{live_site}/products/lending/consent/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Share your data with Lending")
    reads = page.get_by_role("region", name="The data it reads").locator("ul.data-types")
    expect(reads.nth(0).get_by_role("listitem")).to_have_text(LENDING_READS)
    expect(reads.nth(1).get_by_role("listitem")).to_have_text(LENDING_MAY_READ)
    # Plain words only: none of Codat's data type keys reach the customer.
    main_text = page.get_by_role("main").inner_text()
    for key in ("profitAndLoss", "bankAccounts", "banking-transactions", "commerce-orders"):
        assert key not in main_text
    agree = page.get_by_label("I'm happy to share this data")
    expect(agree).not_to_be_checked()

    watch.expect_error_page("/products/lending/consent/", 400)
    with page.expect_response(is_form_post) as answer:
        page.get_by_role("button", name="Agree and continue").click()
    assert answer.value.status == 400
    summary = page.get_by_role("alert")
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    error_link = summary.get_by_role("link")
    expect(error_link).to_have_text(
        "I'm happy to share this data: Tick the box to agree, or go back if you'd rather not."
    )
    expect(error_link).to_have_attribute("href", "#id_agree")
    expect(agree).to_have_attribute("id", "id_agree")
    expect(agree).to_have_attribute("aria-invalid", "true")
    expect(agree).to_have_accessible_description(
        "Tick the box to agree, or go back if you'd rather not."
    )
    expect(agree).not_to_be_checked()
    error_link.click()
    expect(agree).to_be_focused()
    assert not Consent.objects.exists()

    agree.check()
    page.get_by_role("button", name="Agree and continue").click()
    expect(page).to_have_url(f"{live_site}/connections/new/?product=lending")
    expect(status_message(page)).to_have_text(
        "Done: Thank you. Now connect your accounting and banking so Lending can start."
    )
    expect(page.locator(".notice")).to_have_text(
        "Connecting for Lending: showing the kinds of data it still needs."
    )
    # Nothing is connected yet: Lending needs accounting and banking, and may use commerce.
    expect(page.get_by_role("heading", level=2)).to_have_text(["Accounting", "Banking", "Commerce"])

    page.get_by_role("button", name="Connect Xero", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect Xero")
    choose_at_codat(page, "Authorize")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_site)}/connections/{UUID}/$"))
    expect(page.get_by_role("heading", name="You're connected")).to_be_visible()
    using = page.get_by_role("region", name="Products using this connection")
    expect(using.get_by_role("listitem")).to_have_text(["Lending — Waiting for a connection"])

    using.get_by_role("link", name="Lending").click()
    expect(page.get_by_role("main").locator(".badge")).to_have_text("Waiting for a connection")
    expect(page.get_by_role("main")).to_contain_text(
        "Lending starts as soon as your banking is connected."
    )
    page.get_by_role("link", name="Connect banking", exact=True).click()
    expect(page).to_have_url(f"{live_site}/connections/new/?product=lending")
    expect(page.get_by_text("Connecting for Lending:")).to_be_visible()
    # Only the kinds it still needs: the accounting is connected.
    expect(page.get_by_role("heading", level=2)).to_have_text(["Banking", "Commerce"])

    page.get_by_role("button", name="Connect Banking Sandbox", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect Banking Sandbox")
    choose_at_codat(page, "Authorize")
    expect(page.get_by_role("heading", name="You're connected")).to_be_visible()
    using = page.get_by_role("region", name="Products using this connection")
    expect(using.get_by_role("listitem")).to_have_text(["Lending — Live"])

    using.get_by_role("link", name="Lending").click()
    expect(page).to_have_url(f"{live_site}/products/lending/")
    expect(page.get_by_role("main").locator(".badge")).to_have_text("Live")
    expect(
        page.get_by_text("Lending is live: it reads the data above and nothing else.")
    ).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    expect(product_card(page, "Lending").locator(".badge")).to_have_text("Live")
    expect(product_card(page, "Business insights dashboard").locator(".badge")).to_have_text(
        "Not started"
    )

    company = Company.objects.get(name=BUSINESS)
    lending = Product.objects.get(slug="lending")
    consent = Consent.objects.get(company=company)
    assert consent.product == lending and consent.state == Consent.State.ACTIVE
    assert consent.granted_by.email == EMAIL
    assert consent.data_types == lending.all_data_types
    (event,) = ConsentEvent.objects.filter(company=company)
    assert event.action == ConsentEvent.Action.GRANT and event.text_sha256 == consent.text.sha256
    assert event.surface == "consent_review" and event.user_agent
    connections = Connection.objects.filter(company=company).order_by("linked_at")
    assert [(c.platform_name, c.status) for c in connections] == [
        ("Xero", Connection.Status.LINKED),
        ("Banking Sandbox", Connection.Status.LINKED),
    ]
    # Codat was told to fetch exactly what Lending may read, every other type named and off.
    synced = SandboxSyncSetting.objects.filter(company_id=company.codat_company_id)
    switched_on = synced.filter(Q(fetch_on_first_link=True) | Q(sync_schedule__gt=0))
    assert set(switched_on.values_list("data_type", flat=True)) == set(lending.all_data_types)
    assert synced.count() == len(DATA_TYPES)


def test_the_first_sync_arrives_live_and_the_page_works_without_javascript(
    page: Page, live_site, another_page, deliver_webhooks
):
    sign_up(page)
    agree_to_share(page, "Lending")
    connect(page, "Banking Sandbox")
    connect(page, "Xero")  # we stay on Xero's page while its first read runs
    xero = Connection.objects.get(platform_key="gbol")
    xero_page = f"{live_site}/connections/{xero.id}/"
    expect(page).to_have_url(xero_page)

    # The live section: its name changes with its heading.
    progress = page.get_by_role(
        "region", name=re.compile(r"^(Fetching your data|Your data is in)$")
    )
    expect(progress.get_by_role("heading")).to_have_text("Fetching your data")
    bar = progress.get_by_role("progressbar")
    expect(bar).to_have_attribute("max", "7")
    expect(bar).to_have_attribute("value", "0")
    expect(progress.get_by_role("status")).to_have_text("0 of 7 kinds of data done")
    items = progress.get_by_role("listitem")
    expect(items).to_have_text([f"{label} — Waiting to start" for label in LENDING_FROM_XERO])
    # htmx is polling, and finds nothing new yet.
    with page.expect_response(
        lambda r: r.url.endswith(f"/connections/{xero.id}/progress/")
    ) as poll:
        pass
    assert poll.value.status == 200
    expect(progress.get_by_role("status")).to_have_text("0 of 7 kinds of data done")
    page.evaluate("() => { window.stillTheSamePage = true }")
    # The live region is updated, not replaced: a screen reader keeps hearing the same one.
    progress.get_by_role("status").evaluate("el => { window.liveRegion = el }")

    # The same customer, with JavaScript off: the same page, with a link to refresh it.
    plain = another_page(java_script_enabled=False, storage_state=page.context.storage_state())
    polls = []
    plain.on(
        "request",
        lambda request: polls.append(request.url) if "/progress/" in request.url else None,
    )
    plain.goto(xero_page)
    plain_progress = plain.get_by_role("region", name="Fetching your data")
    expect(plain_progress.get_by_role("status")).to_have_text("0 of 7 kinds of data done")
    refresh = plain_progress.get_by_role("link", name="Refresh")
    expect(refresh).to_have_attribute("href", f"/connections/{xero.id}/")

    # The sandbox finishes its simulated first reads (a few seconds) and says so by webhook.
    assert deliver_webhooks() > 0

    expect(progress.get_by_role("heading")).to_have_text("Your data is in", timeout=10_000)
    expect(progress.get_by_role("status")).to_have_text("7 of 7 kinds of data done")
    expect(bar).to_have_attribute("value", "7")
    expect(items).to_have_text([f"{label} — Ready" for label in LENDING_FROM_XERO])
    expect(progress).to_contain_text(
        "Ready to use: balance sheet, bank accounts in your books, bills, customers, invoices, "
        "profit and loss, suppliers."
    )
    expect(progress.get_by_role("link", name="Refresh")).to_have_count(0)
    # Swapped in place: no navigation, and the finished section stops polling.
    assert page.url == xero_page
    assert page.evaluate("() => window.stillTheSamePage") is True
    expect(page.locator("#sync-progress")).not_to_have_attribute("hx-trigger", "every 2s")
    expect(page.locator("#sync-progress [hx-trigger]")).to_have_count(0)
    assert progress.get_by_role("status").evaluate("el => el === window.liveRegion") is True

    # Without JavaScript nothing polled and nothing changed, until the customer refreshes.
    expect(plain_progress.get_by_role("heading")).to_have_text("Fetching your data")
    assert polls == []
    refresh.click()
    expect(plain.get_by_role("region", name="Your data is in").get_by_role("status")).to_have_text(
        "7 of 7 kinds of data done"
    )

    assert (
        sorted(DataSync.objects.filter(connection=xero).values_list("status", flat=True))
        == ["Complete"] * 7
    )


def test_withdrawing_lending_explains_what_stops_and_keeps_a_receipt(page: Page, live_site, watch):
    make_lending_live(page)

    page.goto("/products/lending/")
    page.get_by_role("link", name="Withdraw consent").click()
    expect(page).to_have_url(f"{live_site}/products/lending/withdraw/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Withdraw consent for Lending")
    stops = page.get_by_role("region", name="We stop reading").get_by_role("listitem")
    expect(stops).to_have_text(LENDING_READS + LENDING_MAY_READ)
    connections = page.get_by_role("region", name="Your connections")
    expect(connections).to_contain_text("These connections would no longer serve any product:")
    expect(connections.get_by_role("listitem")).to_have_text(  # newest first
        ["Banking Sandbox (connected)", "Xero (connected)"]
    )
    choices = page.get_by_role("group", name="What would you like to do?").get_by_role("radio")
    expect(choices).to_have_count(3)
    for choice in choices.all():
        expect(choice).not_to_be_checked()

    # Nothing chosen: the page's own error summary says so and links to the question.
    withdraw = page.get_by_role("button", name="Withdraw", exact=True)
    watch.expect_error_page("/products/lending/withdraw/", 400)
    with page.expect_response(is_form_post) as answer:
        withdraw.click()
    assert answer.value.status == 400
    error_link = page.get_by_role("alert").get_by_role("link")
    expect(error_link).to_have_text("What would you like to do?: Choose one of the options.")
    expect(error_link).to_have_attribute("href", "#id_choice_0")
    error_link.click()
    expect(choices.first).to_be_focused()
    assert Consent.objects.get().state == Consent.State.ACTIVE

    page.get_by_label("Withdraw my consent only").check()
    withdraw.click()
    expect(page).to_have_url(f"{live_site}/products/lending/")
    expect(status_message(page)).to_have_text(
        "Done: Lending no longer uses your data, from this moment."
    )
    expect(page.get_by_role("main").locator(".badge")).to_have_text("Withdrawn")
    expect(page.get_by_role("link", name="Share again")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My consents").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My consents")
    lending_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Lending"))
    expect(lending_row.locator(".badge")).to_have_text("Withdrawn")
    history = page.locator("ol.history > li")
    expect(history.filter(has_text="Lending:")).to_have_text(
        [
            re.compile(rf"— Lending: Granted by {NAME}, wording version 1\. Data: invoices, .+$"),
            re.compile(rf"— Lending: Withdrawn by {NAME}"),
        ]
    )
    # The connections' own events are in the same history.
    expect(history.filter(has_text="(accounting): Connected")).to_have_count(1)
    expect(history.filter(has_text="(banking): Connected")).to_have_count(1)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="JSON", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "consent-receipt.json"
    receipt = json.loads(download.path().read_text(encoding="utf-8"))
    assert receipt["company"]["name"] == BUSINESS
    assert [(e["product"], e["action"], e["actor"]) for e in receipt["history"]] == [
        ("lending", "grant", EMAIL),
        ("lending", "withdraw", EMAIL),
    ]
    assert receipt["history"][0]["data_types"] == Product.objects.get(slug="lending").all_data_types
    states = {c["product"]: c["state"] for c in receipt["consents"]}
    assert states == {"business-insights": "not_started", "lending": "withdrawn"}

    consent = Consent.objects.get()
    assert consent.state == Consent.State.WITHDRAWN and consent.withdrawn_at is not None
    assert consent.withdrawn_by.email == EMAIL
    assert list(ConsentEvent.objects.values_list("action", flat=True)) == ["grant", "withdraw"]
    # "My consent only": the connections stay.
    assert set(Connection.objects.values_list("status", flat=True)) == {Connection.Status.LINKED}


def test_an_expired_bank_connection_is_flagged_everywhere_and_reconnected_in_place(
    page: Page, live_site, deliver_webhooks, another_page
):
    make_lending_live(page)
    bank = Connection.objects.get(platform_key="qhnd")
    company = bank.company

    # Open Banking access ends at the bank (90 days, say): a tester plays the bank from the
    # sandbox console, which in a deployment like this one (DEBUG off) is for staff only.
    get_user_model().objects.create_superuser(
        username="tester@bank.example", email="tester@bank.example", password=PASSWORD
    )
    tester = another_page()
    tester.goto("/sandbox/")
    expect(tester.get_by_role("heading", level=1)).to_have_text("Log in")
    tester.get_by_label("Email").fill("tester@bank.example")
    tester.get_by_label("Password").fill(PASSWORD)
    tester.get_by_role("button", name="Log in").click()
    expect(tester.get_by_role("heading", level=1)).to_have_text("Sandbox console")
    tester.get_by_role(
        "button",
        name=f"Expire (Open Banking) Banking Sandbox connection {bank.codat_connection_id}",
    ).click()
    expect(tester.get_by_role("status")).to_have_text(
        f"Connection {bank.codat_connection_id} is now Deauthorized; "
        "connection.disconnected is queued."
    )
    assert deliver_webhooks("connection.disconnected") >= 1
    bank.refresh_from_db()
    assert bank.status == Connection.Status.DEAUTHORIZED

    expired = "Your connection to Banking Sandbox has expired."
    stops = "Lending can't get fresh banking data until you reconnect."
    for path in ("/", "/consents/", "/products/lending/", "/connections/"):
        page.goto(path)
        banner = page.get_by_role("region", name="Connection expired")
        expect(banner).to_have_count(1)
        expect(banner.get_by_role("paragraph")).to_have_text(f"{expired} {stops}")
    bank_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Banking Sandbox"))
    expect(bank_row.locator(".badge")).to_have_text("Access expired")

    banner.get_by_role("button", name="Reconnect Banking Sandbox").click()
    # Codat re-authorises the same connection on its own id: no new connection.
    expect(page).to_have_url(
        re.compile(
            rf"^{re.escape(live_site)}/sandbox/link/companies/{company.codat_company_id}"
            rf"/connections/{bank.codat_connection_id}/start\?(.*&)?state="
        )
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect Banking Sandbox")
    choose_at_codat(page, "Authorize")
    expect(page).to_have_url(f"{live_site}/connections/{bank.id}/")
    expect(page.get_by_role("heading", name="You're connected")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("Banking · Connected")
    expect(page.get_by_role("region", name="Connection expired")).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("region", name="Connection expired")).to_have_count(0)
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(3)  # the header, the bank and Xero
    expect(bank_row).to_have_count(1)
    expect(bank_row.locator(".badge")).to_have_text("Connected")

    banking = Connection.objects.filter(company=company, source_type="Banking")
    assert banking.count() == 1
    bank.refresh_from_db()
    assert banking.get() == bank and bank.status == Connection.Status.LINKED
    assert SandboxConnection.objects.get(pk=bank.codat_connection_id).status == "Linked"
    assert SandboxConnection.objects.filter(company_id=company.codat_company_id).count() == 2


def test_keep_sharing_bank_data_restarts_the_90_day_clock(page: Page, live_site):
    make_lending_live(page)
    consent = Consent.objects.get(product__slug="lending")
    confirmed = timezone.now() - timedelta(days=85)
    Consent.objects.filter(pk=consent.pk).update(banking_confirmed_at=confirmed)
    # The clock runs from the bank's authorisation too: 85 days ago as well.
    Connection.objects.filter(company=consent.company, source_type="Banking").update(
        authorised_at=confirmed
    )
    page_cache.facts_changed(consent.company_id)  # written past the services: say so
    ends = confirmed + timedelta(days=90)

    page.goto("/")
    banner = page.get_by_role("region", name="Bank data confirmation")
    expect(banner.get_by_role("paragraph")).to_have_text(
        f"Keep sharing your bank data with Lending? Please confirm by {date_format(ends, 'j F')}."
    )
    banner.get_by_role("link", name="Yes, keep sharing").click()

    expect(page).to_have_url(f"{live_site}/products/lending/keep-sharing/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Keep sharing your bank data with Lending?"
    )
    expect(page.locator(".lead")).to_have_text(
        "Open Banking rules ask us to check with you every 90 days. "
        f"Your current confirmation ends on {date_format(ends, 'j F Y')}."
    )
    uses = (
        page.locator("section")
        .filter(has=page.get_by_role("heading", name="The bank data it uses"))
        .get_by_role("listitem")
    )
    expect(uses).to_have_text(LENDING_READS[-2:])
    page.get_by_role("button", name="Yes, keep sharing").click()

    expect(page).to_have_url(f"{live_site}/products/lending/")
    expect(status_message(page)).to_have_text(
        "Done: Thank you. Lending will keep using your bank data for 90 days."
    )
    expect(page.get_by_role("region", name="Bank data confirmation")).to_have_count(0)
    expect(page.get_by_role("main").locator(".badge")).to_have_text("Live")
    page.goto("/")
    expect(page.get_by_role("region", name="Bank data confirmation")).to_have_count(0)

    consent.refresh_from_db()
    assert consent.banking_confirmed_at > timezone.now() - timedelta(minutes=1)
    reconfirmed = ConsentEvent.objects.get(action=ConsentEvent.Action.RECONFIRM)
    assert reconfirmed.consent == consent and reconfirmed.actor.email == EMAIL
    assert reconfirmed.surface == "keep_sharing"
    assert list(ConsentEvent.objects.values_list("action", flat=True)) == ["grant", "reconfirm"]
