"""The connect journey in a real browser: sign up, pick, authorise at the sandbox's Link page,
come back, and later disconnect — what the customer sees at each step, and what we stored."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from codat_sandbox.models import SandboxConnection
from companies.models import Company, Membership
from connections.models import Connection, LinkAttempt
from tests.browser.steps import BUSINESS, EMAIL, NAME, choose_at_codat, connect, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_a_new_customer_signs_up_connects_xero_and_sees_it_listed(page: Page, live_site, tmp_path):
    sign_up(page)
    expect(page.get_by_role("status")).to_have_text(
        f"Done: Welcome, {NAME}. Your account is ready."
    )
    expect(page.get_by_text(f"You are managing {BUSINESS}.")).to_be_visible()

    page.get_by_role("link", name="Connect your software or bank", exact=True).click()
    expect(page).to_have_url(f"{live_site}/connections/new/")
    expect(page.get_by_role("heading", level=2)).to_have_text(["Accounting", "Banking", "Commerce"])
    # The URL changes when the page arrives, before its images have; "load" waits for them, so
    # a logo that is broken (not merely still loading on a busy machine) fails below.
    page.wait_for_load_state("load")
    for group in ("Accounting", "Banking", "Commerce"):
        logos = page.get_by_role("region", name=group).locator("img.logo")
        expect(logos.first).to_be_visible()
        assert logos.evaluate_all("imgs => imgs.every(img => img.complete && img.naturalWidth > 0)")
    expect(page.get_by_role("button", name="Connect Plaid")).to_be_visible()

    page.get_by_label("Find your software or bank").fill("xero")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/connections/new/\?q=xero(&|$)"))
    expect(page.locator(".tile-name")).to_have_text(["Xero"])
    expect(page.get_by_role("heading", level=2)).to_have_text(["Accounting"])
    expect(page.get_by_role("link", name="Show all")).to_be_visible()

    page.get_by_role("button", name="Connect Xero", exact=True).click()
    expect(page).to_have_url(
        re.compile(
            rf"^{re.escape(live_site)}/sandbox/link/"
            rf"companies/{UUID}/connections/{UUID}/start\?(.*&)?state="
        )
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect Xero")
    expect(page.get_by_role("main")).to_contain_text(
        f"{BUSINESS} is being asked to share its accounting data from Xero."
    )

    choose_at_codat(page, "Authorize")
    # The return is answered with a redirect to a URL without the single-use state.
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_site)}/connections/{UUID}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You're connected to Xero")
    expect(page.get_by_role("main")).to_contain_text("Accounting · Connected")
    screenshot = tmp_path / "connected.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 0
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    expect(page).to_have_url(f"{live_site}/connections/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your connections")
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(2)  # the header and Xero
    expect(rows.nth(1).get_by_role("cell")).to_contain_text(["Xero", "Accounting", "Connected"])
    expect(page.get_by_role("heading", name="Disconnected")).to_have_count(0)

    company = Company.objects.get(name=BUSINESS)
    membership = Membership.objects.get(company=company)
    assert membership.user.email == EMAIL and membership.role == Membership.Role.OWNER
    connection = Connection.objects.get(company=company)
    assert connection.platform_key == "gbol" and connection.platform_name == "Xero"
    assert connection.status == Connection.Status.LINKED and connection.linked_at is not None
    expect(rows.nth(1).get_by_role("link", name="Xero", exact=True)).to_have_attribute(
        "href", f"/connections/{connection.id}/"
    )
    assert SandboxConnection.objects.get(pk=connection.codat_connection_id).status == "Linked"
    assert LinkAttempt.objects.get(connection=connection).used_at is not None


def test_cancelling_at_codat_offers_to_connect_again_and_reuses_the_connection(
    page: Page, live_site
):
    sign_up(page)
    page.goto("/connections/new/")
    page.get_by_role("button", name="Connect Xero", exact=True).click()
    first_link_page = page.url.split("?")[0]

    choose_at_codat(page, "Cancel")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_site)}/connections/attempts/{UUID}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You cancelled — connect again?")
    expect(page.get_by_role("main")).to_contain_text("nothing has been shared")
    assert Connection.objects.get().status == Connection.Status.PENDING_AUTH

    page.get_by_role("button", name="Connect Xero", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect Xero")
    assert page.url.split("?")[0] == first_link_page  # the same pending connection at Codat

    choose_at_codat(page, "Authorize")
    expect(page.get_by_role("heading", name="You're connected")).to_be_visible()

    connection = Connection.objects.get()
    assert connection.status == Connection.Status.LINKED
    assert SandboxConnection.objects.get().status == "Linked"
    assert sorted(LinkAttempt.objects.values_list("status_code", flat=True)) == ["200", "403"]


def test_disconnecting_explains_what_stops_and_moves_it_to_disconnected(page: Page, live_site):
    sign_up(page)
    connect(page, "Xero")
    connection = Connection.objects.get()

    page.goto("/connections/")
    page.get_by_role("link", name="Disconnect Xero").click()
    expect(page).to_have_url(f"{live_site}/connections/{connection.id}/disconnect/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Disconnect Xero?")
    expect(page.get_by_role("main").get_by_role("listitem")).to_contain_text(
        [
            "we can no longer read your accounting data from Xero",
            "stops updating until you connect again",
            "This can't be undone",
            "We keep a record that this connection existed",
        ]
    )
    assert Connection.objects.get().status == Connection.Status.LINKED  # looking changes nothing

    page.get_by_role("button", name="Yes, disconnect Xero").click()
    expect(page).to_have_url(f"{live_site}/connections/")
    expect(page.get_by_role("status")).to_contain_text("Xero is disconnected.")
    expect(page.get_by_role("table")).to_have_count(0)
    expect(page.get_by_text("You haven't connected anything yet.")).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_text("Disconnected")
    history = page.locator("ul.history > li")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("Xero — Accounting, disconnected on")

    connection.refresh_from_db()
    assert connection.status == Connection.Status.DELETED and connection.deleted_at is not None
    assert not SandboxConnection.objects.filter(pk=connection.codat_connection_id).exists()
