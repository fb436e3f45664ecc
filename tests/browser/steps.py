"""What a customer does in the browser, as steps the tests share."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from django.core import mail
from playwright.sync_api import Locator, Page, expect

NAME = "Bea Baker"
EMAIL = "bea@brightside.example"
BUSINESS = "Brightside Bakery"
PASSWORD = "flour and water 2026"


def sign_up(page: Page, on_the_way: Callable[[str], None] | None = None) -> None:
    """From the home page, through the sign-up form and the link it mails, to the signed-in
    home page. (The live server runs in this process, so its mail is in mail.outbox.)
    `on_the_way(name)` is called on each page between (the accessibility sweep checks them)."""
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    page.get_by_label("Your name").fill(NAME)
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_label("Business name").fill(BUSINESS)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    if on_the_way:
        on_the_way("sign up, email sent")
    [message] = [m for m in mail.outbox if m.to == [EMAIL]]
    link = re.search(r"https?://\S+/accounts/signup/confirm/[\w-]+/", message.body)
    assert link, message.body
    page.goto(urlsplit(link.group(0)).path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Finish creating your account")
    if on_the_way:
        on_the_way("sign up, finish")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {NAME}")


def start_connecting(page: Page, platform: str) -> None:
    """From the picker to the sandbox's Link page (which stands in for Codat's)."""
    page.goto("/connections/new/")
    page.get_by_role("button", name=f"Connect {platform}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Connect {platform}")


def choose_at_codat(page: Page, outcome: str) -> None:
    """Press one of the Link page's buttons; the browser comes back to the portal."""
    page.get_by_role("button", name=outcome, exact=True).click()


def connect(page: Page, platform: str) -> None:
    start_connecting(page, platform)
    choose_at_codat(page, "Authorize")
    expect(page.get_by_role("heading", name="You're connected")).to_be_visible()


def product_card(page: Page, product: str) -> Locator:
    """A product's card in "Your products" on the home page."""
    return (
        page.get_by_role("region", name="Your products")
        .get_by_role("listitem")
        .filter(has=page.get_by_role("heading", name=product, exact=True))
    )


def agree_to_share(page: Page, product: str) -> None:
    """From the home page, through the product's page and its review page, to the picker."""
    page.goto("/")
    product_card(page, product).get_by_role("link", name=product, exact=True).click()
    page.get_by_role("link", name="Get started").click()
    page.get_by_label("I'm happy to share this data").check()
    page.get_by_role("button", name="Agree and continue").click()
    expect(page.get_by_text(f"Connecting for {product}:")).to_be_visible()


def make_lending_live(page: Page) -> None:
    """A new customer who agreed to Lending and connected Xero and the Banking Sandbox."""
    sign_up(page)
    agree_to_share(page, "Lending")
    connect(page, "Xero")
    connect(page, "Banking Sandbox")
    page.goto("/")
    expect(product_card(page, "Lending").locator(".badge")).to_have_text("Live")
