"""Fixtures for the browser tests: the app on pytest-django's live server, driven by Debian's
headless Chromium through Playwright (one browser per module, a fresh context per test).

Playwright never downloads a browser here. Without /usr/bin/chromium these tests are skipped,
unless BROWSER_TESTS_REQUIRED=1 (CI sets it), when they fail instead.

Every page a test visits is watched: a console error, an uncaught exception or a
Content-Security-Policy violation fails the test, and so does an HTML page served without the
CSP header (which would make "no violations" meaningless).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test.utils import override_settings
from pytest_django.live_server_helper import LiveServer

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and quiet: the machine (and CI) has no internet, and without these Chromium keeps
# trying to reach Google's services and logs every refused connection.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Added to every document before its own scripts (through the DevTools protocol, so the CSP
# does not apply to it): a violation becomes a console error with the details that matter.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(
    `CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "(inline)"}` +
    ` in ${event.sourceFile || event.documentURI}:${event.lineNumber}`
  );
});
"""


def _browser_unavailable(reason: str) -> None:
    if os.environ.get("BROWSER_TESTS_REQUIRED") == "1":
        pytest.fail(f"BROWSER_TESTS_REQUIRED=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live_server(request) -> Iterator[LiveServer]:
    """pytest-django's live server, started with the HTTPS redirect off.

    The server builds its middleware once, when it starts, and SecurityMiddleware reads
    SECURE_SSL_REDIRECT then. pytest-django's autouse helper starts it before the autouse
    fixture in tests/conftest.py turns the redirect off, so without this every page would
    redirect to https:// and the browser would find nothing there.
    """
    address = (
        request.config.getvalue("liveserver")
        or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    with override_settings(SECURE_SSL_REDIRECT=False):
        server = LiveServer(address)
    yield server
    server.stop()


@pytest.fixture
def live_site(live_server, settings) -> str:
    """The live server's base URL, with the sandbox's Link URLs and Codat's redirect back
    pointing at it. Both are built from SITE_URL (127.0.0.1:8000 by default), the redirect
    template once, when settings.py is imported, so it is rebuilt here."""
    url = live_server.url
    template = settings.CODAT_REDIRECT_URL_TEMPLATE
    assert template.startswith(settings.SITE_URL), template
    settings.CODAT_REDIRECT_URL_TEMPLATE = url + template.removeprefix(settings.SITE_URL)
    settings.CODAT_BASE_URL = f"{url}/sandbox/codat"
    settings.SITE_URL = url
    return url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        _browser_unavailable("the playwright package is not installed")
    if not CHROMIUM.exists():
        _browser_unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    # Playwright's sync API keeps an asyncio loop marked as running in this thread, and Django
    # then refuses every ORM call from the test (SynchronousOnlyOperation). Nothing runs
    # concurrently with the test's queries, so the check has nothing to protect here.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageWatch:
    """What went wrong in the browser while a test ran, page by page."""

    problems: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {message.page.url}: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.problems.append(f"uncaught exception: {error}")

    def on_response(self, response: Response) -> None:
        if response.request.resource_type != "document" or response.status != 200:
            return
        self.pages.append(response.url)
        policy = response.headers.get("content-security-policy", "")
        if "default-src 'self'" not in policy:
            self.problems.append(f"no strict Content-Security-Policy on {response.url}")


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(browser, live_site, watch) -> Iterator[Page]:
    context = browser.new_context(base_url=live_site, locale="en-GB")
    context.set_default_timeout(10_000)
    context.add_init_script(script=REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    page.on("response", watch.on_response)
    yield page
    context.close()
    if watch.problems:
        pytest.fail("The browser reported problems:\n" + "\n".join(watch.problems), pytrace=False)
