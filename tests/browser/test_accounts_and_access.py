"""Logging in and out through the header, the keyboard and label baseline, and the page watch
itself (so that "no console errors" on the other pages means something)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect

from tests.personas import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIGNUP_LABELS = ["Your name", "Email", "Business name", "Password", "Confirm password"]


def sessions_of(user) -> list[Session]:
    return [
        s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)
    ]


def test_the_owner_logs_in_and_out_through_the_header(page: Page, live_site, owner):
    page.goto("/")
    header = page.get_by_role("navigation", name="Main")
    header.get_by_role("link", name="Log in").click()
    expect(page).to_have_url(f"{live_site}/accounts/login/")
    page.get_by_label("Email").fill("owner@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_site}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Olive Owner")
    expect(page.get_by_text("You are managing Acme Ltd.")).to_be_visible()
    expect(header.get_by_role("link", name="Log in")).to_have_count(0)
    # Cookies are Secure (DEBUG is off); Chromium keeps them on http://localhost, a
    # potentially trustworthy origin, which is why the login above held.
    session_cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    assert session_cookie["secure"] and session_cookie["httpOnly"]
    assert len(sessions_of(owner)) == 1

    header.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(f"{live_site}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Share your business data on your terms"
    )
    expect(header.get_by_role("button", name="Log out")).to_have_count(0)
    expect(header.get_by_role("link", name="Log in")).to_be_visible()
    assert sessions_of(owner) == []
    page.goto("/connections/")
    expect(page).to_have_url(f"{live_site}/accounts/login/?next=/connections/")


def test_a_wrong_password_keeps_the_visitor_out_and_says_why(page: Page, live_site, owner):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("owner@acme.example")
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("main")).to_contain_text("do not match an account")
    expect(page).to_have_url(f"{live_site}/accounts/login/")
    expect(page.get_by_label("Email")).to_have_value("owner@acme.example")
    expect(page.get_by_label("Password")).to_have_value("")
    assert sessions_of(owner) == []


@pytest.mark.parametrize("path", ["/", "/accounts/signup/"])
def test_the_skip_link_comes_first_and_moves_focus_to_main(page: Page, path):
    page.goto(path)
    skip_link = page.get_by_role("link", name="Skip to main content")
    expect(skip_link).not_to_be_in_viewport()

    page.keyboard.press("Tab")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()  # hidden until focused, then on screen

    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("main :focus")).to_have_count(1)  # the next stop is inside <main>


def test_every_input_on_the_signup_page_has_a_label(page: Page):
    page.goto("/accounts/signup/")

    unlabelled = page.locator("input:not([type=hidden]), select, textarea").evaluate_all(
        """fields => fields
             .filter(field => ![...field.labels].some(label => label.textContent.trim()))
             .map(field => field.outerHTML)"""
    )
    assert unlabelled == []
    fields = page.get_by_role("main").locator("input:not([type=hidden])")
    expect(fields).to_have_count(len(SIGNUP_LABELS))
    for label in SIGNUP_LABELS:
        expect(page.get_by_label(label, exact=True)).to_be_editable()
    # Accessible names come from the labels (password inputs have no ARIA role to query by).
    expect(page.get_by_role("textbox", name="Your name", exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name="Email", exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name="Business name", exact=True)).to_be_visible()


def test_the_page_watch_notices_a_script_the_policy_blocks(page: Page, watch):
    page.goto("/")

    with page.expect_console_message(lambda message: "CSP violation" in message.text):
        page.evaluate(
            """() => {
                 const script = document.createElement("script");
                 script.textContent = "window.inlineScriptRan = true";
                 document.body.append(script);
               }"""
        )

    assert page.evaluate("() => window.inlineScriptRan") is None
    assert any("CSP violation: script-src" in problem for problem in watch.problems)
    assert watch.pages == [page.url]
    watch.problems.clear()  # expected here; every other test must end with none
