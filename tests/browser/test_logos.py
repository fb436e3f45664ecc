"""Platform logos in a real browser: once `codat_logos_fetch` has kept Codat's artwork, the
picker shows it from our own origin under the unchanged policy (`img-src 'self'`), with no
violation reported; the monograms before that."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.browser.steps import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def picker_logos(page: Page) -> list[str]:
    page.goto("/connections/new/")
    page.wait_for_load_state("load")  # the images too
    logos = page.locator("img.logo")
    expect(logos.first).to_be_visible()
    assert logos.evaluate_all("imgs => imgs.every(img => img.complete && img.naturalWidth > 0)")
    return logos.evaluate_all("imgs => imgs.map(img => new URL(img.src).pathname)")


def test_the_picker_shows_codats_logos_once_fetched(page: Page, live_site):
    sign_up(page)
    before = picker_logos(page)
    _screenshot(page, "before-picker-logos-1280.png")

    call_command("codat_logos_fetch", stdout=StringIO())
    after = picker_logos(page)
    _screenshot(page, "after-picker-logos-1280.png")

    assert all(src.startswith("/static/img/platforms/") for src in before)
    assert len(after) == len(before)
    assert all(src.startswith("/logos/") for src in after)
    policy = page.request.get("/connections/new/").headers["content-security-policy"]
    assert "img-src 'self' data:" in policy
    # The `page` fixture fails the test on any CSP violation or failed request it saw.


def _screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("A11Y_SCREENSHOTS")
    if folder:
        page.screenshot(path=Path(folder) / name, full_page=True)
