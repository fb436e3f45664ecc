"""Accessibility in CI: every customer page, in the states a journey reaches, and the main
admin pages, checked with axe-core (serious and critical findings fail) and for reflow at
320 CSS pixels (WCAG 1.4.10: 1280 px at 400 % zoom; 200 % zoom on a phone is narrower still).

One browser context walks the whole journey at 320 px, and every page is checked where the
customer meets it, so the sweep costs about as much as one journey test. axe-core comes with
the `axe-playwright-python` package; it is evaluated through the DevTools protocol, which the
page's Content-Security-Policy does not govern, so the policy stays as strict as in production
and the page watch still fails the test on any violation the pages themselves cause.

`A11Y_SCREENSHOTS=<directory>` also saves a full-page screenshot of every page checked (that is
how the before/after pictures in docs/screenshots/ were taken).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from codat_sandbox.faults import MAX_CALLS, fault_add
from codat_sandbox.models import SandboxFault
from companies import page_cache
from companies.models import Company
from connections.models import Connection
from consents.models import Consent, ConsentEvent
from tests.browser.steps import (
    PASSWORD,
    agree_to_share,
    choose_at_codat,
    connect,
    sign_up,
    start_connecting,
)
from tests.browser.watch import PageWatch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NARROW = {"width": 320, "height": 800}
# The other width the issue measured: a 1280 px screen at 200 % zoom.
ZOOMED = {"width": 640, "height": 800}
FAILING_IMPACTS = {"serious", "critical"}
STAFF_EMAIL = "staff@bank.example"

# axe's rules for WCAG 2.0-2.2 A and AA, and its best practices (the `listitem` finding in the
# issue is one); the experimental rules stay off. No preloading: axe would fetch the page's
# stylesheets and parse an @import through an inline <style>, which the CSP rightly blocks
# (and the page watch reports); only the CSS orientation-lock rule needs it.
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "preload": False,
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
}

# How wide the page is against the window, and the outermost elements that stick out (to say
# what to fix). An element scrolling inside its own box is allowed by 1.4.10 and does not
# widen the page.
PAGE_OVERFLOW = """() => {
  const root = document.documentElement;
  const sticksOut = (el) => el.getBoundingClientRect().right > root.clientWidth + 1;
  const wide = [...document.body.querySelectorAll("*")]
    .filter((el) => sticksOut(el) && !sticksOut(el.parentElement))
    .slice(0, 3)
    .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (el.classList.length ? "." + [...el.classList].join(".") : ""));
  return {scroll: root.scrollWidth, client: root.clientWidth, wide};
}"""


# Cards and what follows them: anything after a card (text, buttons, another card) keeps at
# least this much room from it, unless they share a grid, where the gap spaces them.
CARD_ROOM = """(minimum) => [...document.querySelectorAll("main .card")]
  .filter((card) => !card.parentElement.closest(".grid") && card.nextElementSibling)
  .map((card) => [card, card.nextElementSibling])
  .filter(([card, next]) => next.getBoundingClientRect().height > 0 &&
    next.getBoundingClientRect().top - card.getBoundingClientRect().bottom < minimum)
  .map(([card, next]) => (card.id || card.className) + " → " + next.tagName.toLowerCase())"""


# Content that sticks out of its card (a long badge on a phone, say): the page may not scroll,
# but the card no longer holds what it says.
OUT_OF_CARD = """() => [...document.querySelectorAll("main .card")].flatMap((card) => {
  const edge = card.getBoundingClientRect().right;
  return [...card.querySelectorAll("*")]
    .filter((el) => {
      const box = el.getBoundingClientRect();
      return box.width > 1 && box.right > edge + 1;
    })
    .map((el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
})"""


class Sweep:
    """Checks each page it is shown, and collects every finding, so that one run lists all."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.axe = Axe()
        self.findings: list[str] = []
        self.checked: list[str] = []
        screenshots = os.environ.get("A11Y_SCREENSHOTS")
        self.screenshots = Path(screenshots) if screenshots else None

    def check(self, name: str, *, reflow: bool = True) -> None:
        page = self.page
        page.wait_for_load_state("load")
        self.checked.append(name)
        results = self.axe.run(page, options=AXE_OPTIONS).response
        for violation in results["violations"]:
            if violation["impact"] in FAILING_IMPACTS:
                targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
                self.findings.append(
                    f"{name} ({page.url}): axe {violation['impact']} {violation['id']}:"
                    f" {violation['help']} — {targets}"
                )
        crowded = page.evaluate(CARD_ROOM, 16)
        if crowded:
            self.findings.append(f"{name} ({page.url}): no room below a card: {crowded}")
        sticking_out = page.evaluate(OUT_OF_CARD)
        if sticking_out:
            self.findings.append(f"{name} ({page.url}): sticks out of its card: {sticking_out}")
        if reflow:
            viewport = page.viewport_size or NARROW
            for size in (ZOOMED, viewport):
                page.set_viewport_size(size)
                width = page.evaluate(PAGE_OVERFLOW)
                if width["scroll"] > width["client"]:
                    self.findings.append(
                        f"{name} ({page.url}): scrolls sideways at {width['client']} px"
                        f" ({width['scroll']} px wide; widest: {', '.join(width['wide'])})"
                    )
        if self.screenshots:
            self.screenshots.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            page.screenshot(path=self.screenshots / f"{slug}.png", full_page=True)

    def check_focus_on_error_summary(self, name: str) -> None:
        """After a form comes back with errors, focus is on the summary of them, so a
        screen reader reads the problems out and a keyboard user starts from their links."""
        summary = self.page.get_by_role("alert")
        expect(summary.get_by_role("heading")).to_have_text("There is a problem")
        # Browsers apply `autofocus` after the page has rendered, not as it is parsed: wait a
        # moment for it, as a user would, rather than look on the very first frame.
        try:
            expect(summary).to_be_focused(timeout=3_000)
        except AssertionError:
            self.findings.append(f"{name} ({self.page.url}): the error summary is not focused")
        self.check(name)

    def assert_clean(self) -> None:
        assert not self.findings, (
            f"{len(self.findings)} accessibility findings on {len(self.checked)} pages:\n"
            + "\n".join(self.findings)
        )


def test_every_customer_page_passes_axe_and_reflows_at_320_px(
    page: Page, live_site, watch: PageWatch, settings, deliver_webhooks, owner
):
    # The project's URLs, and views that fail on purpose, for the 403 and 500 pages.
    settings.ROOT_URLCONF = "tests.companies.error_urls"
    page.set_viewport_size(NARROW)
    sweep = Sweep(page)

    # A visitor.
    for path, name in [
        ("/", "home, signed out"),
        ("/help/", "help"),
        ("/privacy/", "privacy"),
        ("/accounts/login/", "log in"),
        ("/accounts/signup/", "sign up"),
    ]:
        page.goto(path)
        sweep.check(name)

    # A forgotten password, from the form to the mailed link and the new password.
    page.goto("/accounts/password-reset/")
    sweep.check("password reset")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_role("button", name="Send reset link").click()
    expect(page).to_have_url(f"{live_site}/accounts/password-reset/sent/")
    sweep.check("password reset, sent")
    [message] = mail.outbox
    link = re.search(r"https?://\S+(/accounts/reset/\S+/)", message.body)
    assert link, message.body
    page.goto(link.group(1))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    sweep.check("password reset, new password")
    page.get_by_label("New password", exact=True).fill(PASSWORD + " again")
    page.get_by_label("New password confirmation").fill(PASSWORD + " again")
    page.get_by_role("button", name="Save new password").click()
    expect(page).to_have_url(f"{live_site}/accounts/reset/done/")
    sweep.check("password reset, done")
    mail.outbox.clear()

    # Our own error pages.
    for path, status, heading in [
        ("/no-such-page/", 404, "Page not found"),
        ("/test-errors/403/", 403, "You do not have permission to do that"),
        ("/test-errors/500/", 500, "Sorry, something went wrong on our side"),
        ("/connections/return/", 401, "Log in to finish connecting"),
    ]:
        watch.expect_error_page(path, status)
        response = page.goto(path)
        assert response and response.status == status
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        sweep.check(f"{heading} ({status})")
    # A wrong password: the summary, not the (autofocused) email field, has the focus.
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Log in").click()
    sweep.check_focus_on_error_summary("log in, wrong password")

    # A form sent without its CSRF cookie (a page left open too long, say).
    page.goto("/accounts/login/")
    page.context.clear_cookies()
    watch.expect_error_page("/accounts/login/", 403)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("That form has expired")
    sweep.check("form expired (403)")

    # A form with errors: the summary is checked, and it has the focus.
    page.goto("/accounts/signup/")
    watch.expect_error_page("/accounts/signup/", 400)
    page.get_by_role("button", name="Create account").click()
    sweep.check_focus_on_error_summary("sign up, with errors")

    # A new customer, with a message waiting on the home page.
    sign_up(page, on_the_way=sweep.check)
    sweep.check("home, new customer")
    watch.expect_error_page("/connections/return/", 400)
    page.goto("/connections/return/")
    sweep.check("link return, refused")
    page.goto("/products/lending/")
    sweep.check("product, not started")
    page.goto("/connections/")
    sweep.check("connections, none yet")
    page.goto("/consents/")
    sweep.check("my consents, none yet")
    page.goto("/connections/new/")
    sweep.check("picker")

    # Agreeing to Lending: the review page, with an error, then the picker for the product.
    page.goto("/products/lending/consent/")
    sweep.check("consent review")
    watch.expect_error_page("/products/lending/consent/", 400)
    page.get_by_role("button", name="Agree and continue").click()
    sweep.check_focus_on_error_summary("consent review, with errors")
    agree_to_share(page, "Lending")
    sweep.check("picker, for a product")

    # Cancelling at Codat, then connecting Xero (the first sync still running) and the bank.
    start_connecting(page, "Xero")
    choose_at_codat(page, "Cancel")
    expect(page.get_by_role("heading", level=1)).to_have_text("You cancelled — connect again?")
    sweep.check("link attempt, cancelled")
    connect(page, "Xero")
    sweep.check("connection, first sync running")
    connect(page, "Banking Sandbox")
    page.goto("/")
    sweep.check("home, product live")
    product_cards_line_up_on_a_wide_screen(page)
    page.goto("/products/lending/")
    sweep.check("product, live")
    page.goto("/connections/")
    sweep.check("connections")
    page.goto("/consents/")
    sweep.check("my consents")
    xero = Connection.objects.get(platform_key="gbol", status=Connection.Status.LINKED)
    page.goto(f"/connections/{xero.id}/disconnect/")
    sweep.check("disconnect")
    # The first reads have finished meanwhile; their webhooks arrive.
    assert deliver_webhooks() > 0
    page.goto(f"/connections/{xero.id}/")
    expect(page.get_by_role("heading", name="Your data is in")).to_be_visible()
    sweep.check("connection, data in")

    # The 90-day banking check falls due, and the bank connection expires.
    consent = Consent.objects.get(product__slug="lending")
    due = timezone.now() - timedelta(days=85)
    Consent.objects.filter(pk=consent.pk).update(banking_confirmed_at=due)
    Connection.objects.filter(platform_key="qhnd").update(
        authorised_at=due, status=Connection.Status.DEAUTHORIZED
    )
    page_cache.facts_changed(consent.company_id)  # written past the services: say so
    page.goto("/")
    sweep.check("home, with banners")
    page.goto("/products/lending/keep-sharing/")
    sweep.check("keep sharing")
    page.goto("/connections/")
    sweep.check("connections, one expired")

    # Withdrawing: the page, its error, and what the customer sees afterwards.
    page.goto("/products/lending/withdraw/")
    sweep.check("withdraw")
    choices = page.get_by_role("group", name="What would you like to do?")
    box = choices.evaluate(
        """el => { const s = getComputedStyle(el), legend = el.querySelector("legend");
        return {radius: parseFloat(s.borderTopLeftRadius), background: s.backgroundColor,
                legendInside: legend.getBoundingClientRect().top >= el.getBoundingClientRect().top}
        }"""
    )
    # A card of its own, the question inside it, not across its border (issue 12, #15).
    assert box == {"radius": 10, "background": "rgb(255, 255, 255)", "legendInside": True}, box
    watch.expect_error_page("/products/lending/withdraw/", 400)
    page.get_by_role("button", name="Withdraw", exact=True).click()
    sweep.check_focus_on_error_summary("withdraw, with errors")
    page.get_by_label("Withdraw my consent only").check()
    page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lending")
    sweep.check("product, withdrawn")
    page.goto("/consents/")
    sweep.check("my consents, with history")
    page.goto("/consents/lending/")
    sweep.check("one consent, its details and history")
    page.goto("/products/lending/wording/1/")
    sweep.check("a wording version")
    page.goto("/consents/receipt/")
    sweep.check("receipt, printable")

    # Closing the account: the impact page, and its error (nothing is closed).
    page.goto("/consents/")
    page.get_by_role("link", name="Close my account and delete my data").click()
    sweep.check("close account")
    watch.expect_error_page("/accounts/close/", 400)
    page.get_by_role("button", name="Close account and delete data").click()
    sweep.check_focus_on_error_summary("close account, with errors")

    # Codat not answering when the customer tries to connect.
    page.goto("/connections/new/")
    fault_add(kind=SandboxFault.Kind.UNAVAILABLE, calls=MAX_CALLS)
    watch.expect_error_page("/connect/fztf/", 503)
    page.get_by_role("button", name="Connect Shopify", exact=True).click()
    expect(page).to_have_url(f"{live_site}/connect/fztf/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Codat isn't answering, try again")
    sweep.check("Codat unavailable")

    sweep.assert_clean()


def product_cards_line_up_on_a_wide_screen(page: Page) -> None:
    """Side by side on a desktop: the same width and height, level tops, and their buttons
    level too (not staggered, as a margin meant for stacked cards once made them)."""
    page.set_viewport_size({"width": 1280, "height": 800})
    cards = page.get_by_role("region", name="Your products").get_by_role("listitem")
    expect(cards).to_have_count(2)
    boxes = [card.bounding_box() for card in cards.all()]
    buttons = [card.locator(".button").bounding_box() for card in cards.all()]
    page.set_viewport_size(NARROW)
    assert all(box and button for box, button in zip(boxes, buttons, strict=True))
    left, right = boxes
    assert left["x"] < right["x"], "the cards are side by side"
    for key in ("y", "width", "height"):
        assert abs(left[key] - right[key]) < 1, (key, boxes)
    assert abs(buttons[0]["y"] - buttons[1]["y"]) < 1, buttons


def test_the_main_admin_pages_pass_axe(page: Page, live_site):
    """Stock Django admin pages are not ours to make reflow, so only axe is asked about them."""
    sweep = Sweep(page)
    get_user_model().objects.create_superuser(
        username=STAFF_EMAIL, email=STAFF_EMAIL, password=PASSWORD
    )
    sign_up(page)  # a company with a member, to have something to look at
    agree_to_share(page, "Lending")
    connect(page, "Xero")
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Log out").click()

    page.goto("/admin/")
    page.get_by_label("Username").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_site}/admin/")
    sweep.check("admin index", reflow=False)

    company = Company.objects.get()
    connection = Connection.objects.get()
    consent = Consent.objects.get()
    for model, obj in [
        ("companies/company", company),
        ("connections/connection", connection),
        ("consents/consent", consent),
    ]:
        page.goto(f"/admin/{model}/")
        sweep.check(f"admin {model} list", reflow=False)
        page.goto(f"/admin/{model}/{obj.pk}/change/")
        sweep.check(f"admin {model} page", reflow=False)
    page.goto(f"/admin/consents/consentevent/{ConsentEvent.objects.get().pk}/change/")
    sweep.check("admin consent event page (the evidence in words)", reflow=False)

    # Withdrawing at the customer's request: confirmation, refused without a reason, done.
    page.goto("/admin/consents/consent/")
    page.locator('input[name="_selected_action"]').check()
    page.locator('select[name="action"]').select_option("withdraw_on_behalf")
    page.locator('button[name="index"]').click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Withdraw on the customer's behalf?")
    sweep.check("admin staff withdrawal, confirmation", reflow=False)
    page.get_by_role("button", name="Withdraw 1 consent").click()
    expect(page.get_by_text("Give the customer's reason")).to_be_visible()
    sweep.check("admin staff withdrawal, without a reason", reflow=False)
    page.get_by_label("Reason, as the customer gave it").fill("Asked by phone")
    page.get_by_role("button", name="Withdraw 1 consent").click()
    expect(page.get_by_text("Withdrew 1 consent(s)")).to_be_visible()
    page.goto(f"/admin/companies/company/{company.pk}/change/")
    expect(page.get_by_text("Withdrawn by staff at the customer's request")).to_be_visible()
    sweep.check("admin company page, with a staff withdrawal", reflow=False)
    # The rest of what staff read, as lists.
    for model in [
        "companies/membership",
        "connections/linkattempt",
        "connections/datasync",
        "connections/webhookevent",
        "connections/integration",
        "consents/consentevent",
        "consents/product",
        "consents/consenttext",
        "consents/codatsyncstate",
    ]:
        page.goto(f"/admin/{model}/")
        sweep.check(f"admin {model} list", reflow=False)

    sweep.assert_clean()
