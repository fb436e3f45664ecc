"""Fixtures for the browser tests: the app on pytest-django's live server, driven by Debian's
headless Chromium through Playwright (one browser for the package's tests in each process, a
fresh context per test).

Playwright never downloads a browser here. Without /usr/bin/chromium these tests are skipped,
unless BROWSER_TESTS_REQUIRED=1 (CI sets it), when they fail instead.

Every page a test visits is watched: a console error, an uncaught exception or a
Content-Security-Policy violation fails the test, and so does an HTML page served without the
CSP header (which would make "no violations" meaningless). The one exception is Chromium's own
console note about a page answered with an error status the test expects and declares
(`watch.expect_error_page`): a form with errors is answered 400.

Webhooks: no pump thread runs under pytest, so a test that needs the sandbox's webhooks asks
for `deliver_webhooks`, which waits for them to fall due and delivers them (see `ServerGate`
for why that happens with the live server held back).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db.models import Max
from django.test.utils import override_settings
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from codat_sandbox.models import SandboxWebhookMessage
from codat_sandbox.webhooks import deliver_due
from tests.browser.watch import PageWatch

try:
    from playwright.sync_api import Browser, Page, sync_playwright
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
def live_site(live_server, settings, request) -> str:
    """The live server's base URL, with the sandbox's Link URLs and Codat's redirect back
    pointing at it. Both are built from SITE_URL (127.0.0.1:8000 by default), the redirect
    template once, when settings.py is imported, so it is rebuilt here. Then the sandbox's
    Codat account is set up for this site, as `codat_setup --apply` does for a real one: its
    redirect URL and webhook consumer point at the live server."""
    url = live_server.url
    template = settings.CODAT_REDIRECT_URL_TEMPLATE
    assert template.startswith(settings.SITE_URL), template
    settings.CODAT_REDIRECT_URL_TEMPLATE = url + template.removeprefix(settings.SITE_URL)
    settings.CODAT_BASE_URL = f"{url}/sandbox/codat"
    settings.SITE_URL = url
    # The sandbox's simulated reads at four times their pace (done within 1.25 s, not 5 s):
    # these tests wait for them in real time.
    settings.CODAT_SANDBOX_SYNC_SPEED = 4
    request.getfixturevalue("codat_account_set_up")
    return url


# Package scope: the browser tests run first and together (tests/conftest.py), so Chromium
# starts once per process and is gone, with the asyncio loop Playwright keeps marked as running,
# before any other test.
@pytest.fixture(scope="package")
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


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


def _watched_page(browser: Browser, live_site: str, watch: PageWatch, **options) -> Page:
    """A page in a new browser context, every problem it meets reported to `watch`."""
    context = browser.new_context(base_url=live_site, locale="en-GB", **options)
    context.set_default_timeout(10_000)
    context.add_init_script(script=REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    page.on("response", watch.on_response)
    return page


@pytest.fixture
def page(browser, live_site, watch) -> Iterator[Page]:
    page = _watched_page(browser, live_site, watch)
    yield page
    page.context.close()
    if watch.problems:
        pytest.fail("The browser reported problems:\n" + "\n".join(watch.problems), pytrace=False)


@pytest.fixture
def another_page(browser, live_site, watch, page) -> Iterator[Callable[..., Page]]:
    """Opens more pages, each in its own context (e.g. `java_script_enabled=False`, or
    `storage_state=page.context.storage_state()` to be the same signed-in customer). They are
    watched like `page`, and closed before `page` reports what the watch saw."""
    contexts = []

    def open_page(**options) -> Page:
        new = _watched_page(browser, live_site, watch, **options)
        contexts.append(new.context)
        return new

    yield open_page
    for context in contexts:
        context.close()


class ServerGate:
    """Holds the live server's requests back while the test thread works on the database.

    With SQLite the server's threads and the test share one in-memory database connection. That
    is harmless while the browser waits for the test, but a page that polls (htmx) keeps
    requesting in the background, and two threads inside transactions on one connection
    interleave their BEGINs, savepoints and COMMITs. Inside `with gate:` no request is being
    handled (a request's response body is built, and the request finished, inside the gate).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def wrap(self, app: Callable) -> Callable:
        def gated_app(environ, start_response):
            with self._lock:
                result = app(environ, start_response)
                try:
                    body = b"".join(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
            return [body]

        return gated_app

    def __enter__(self) -> ServerGate:
        self._lock.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self._lock.release()


@pytest.fixture
def server_gate(live_server, settings) -> Iterator[ServerGate]:
    # The app reaches the sandbox (and the sandbox the app) through the WSGI handler in the
    # calling thread, never through the live server: a request calling the live server would
    # wait for the gate that its own request holds.
    settings.CODAT_SANDBOX_IN_PROCESS = True
    httpd = live_server.thread.httpd
    app = httpd.get_app()
    gate = ServerGate()
    httpd.set_app(gate.wrap(app))
    yield gate
    httpd.set_app(app)


@pytest.fixture
def deliver_webhooks(server_gate) -> Callable[..., int]:
    """What the sandbox's pump thread does in a serving process, which pytest never starts:
    wait, in real time, until the sandbox's pending messages (of `event_types`, or all) fall
    due — a simulated first read finishing, say — then deliver everything due to the app,
    in this thread, with the live server held back. Returns how many were delivered."""

    def deliver(*event_types: str, wait_at_most: float = 10.0) -> int:
        with server_gate:
            pending = SandboxWebhookMessage.objects.filter(delivered_at=None, failed_at=None)
            if event_types:
                pending = pending.filter(event_type__in=event_types)
            last_due = pending.aggregate(last=Max("due_at"))["last"]
        if last_due is not None:
            wait = (last_due - timezone.now()).total_seconds()
            assert wait <= wait_at_most, f"the sandbox's webhooks fall due only in {wait:.1f} s"
            time.sleep(max(wait, 0) + 0.05)
        with server_gate:
            return deliver_due()

    return deliver
