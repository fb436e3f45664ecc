"""What went wrong in the browser while a test ran: console errors, uncaught exceptions, CSP
violations and pages served without the CSP header (the `watch` fixture hands one to each test)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # annotations only: the conftest copes with playwright missing
    from playwright.sync_api import ConsoleMessage, Response


@dataclass
class PageWatch:
    """What went wrong in the browser while a test ran, page by page."""

    problems: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    # (path, status) of pages a test expects to be answered with an error status.
    error_pages: set[tuple[str, int]] = field(default_factory=set)

    def expect_error_page(self, path: str, status: int) -> None:
        """The test expects `path` to be answered with `status` (a form with errors is answered
        400, say). Chromium logs every page answered 4xx/5xx as a console error; for this page
        and status that one message is not a problem. Call it before the request is made."""
        self.error_pages.add((path, status))

    def _expected_error_page(self, message: ConsoleMessage) -> bool:
        status = re.fullmatch(
            r"Failed to load resource: the server responded with a status of (\d+) \(.*\)",
            message.text,
        )
        path = urlsplit(message.location.get("url", "")).path
        return bool(status) and (path, int(status[1])) in self.error_pages

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not self._expected_error_page(message):
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
