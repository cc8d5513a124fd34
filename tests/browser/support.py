"""Helpers for browser tests: a watch on what a page requests and logs, axe checks, links in received emails."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import ConsoleMessage, Page, Request, Response

# WCAG 2.0 and 2.1, levels A and AA (axe-core tags); best-practice rules are not part of the bar.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
_AXE = Axe()
# Chromium logs the status of every failed load as a console error (see PageWatch._on_console).
_STATUS_MESSAGE = re.compile(r"^Failed to load resource: the server responded with a status of \d+")
ABORTED = "net::ERR_ABORTED"  # Chromium's failure text for a load the page itself cancelled
_URL = re.compile(r"https?://[^\s\"'<>]+")


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class PageWatch:
    """Everything one page requested, failed to load and logged as an error, for the assertions below."""

    origin: str
    requests: list[str] = field(default_factory=list)
    third_party: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    documents: set[str] = field(default_factory=set)

    def attach(self, page: Page) -> None:
        """Start recording the page's requests, responses, console errors and uncaught exceptions."""
        page.on("request", self._on_request)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    def _on_request(self, request: Request) -> None:
        url = request.url
        self.requests.append(f"{request.method} {url}")
        if request.resource_type == "document":
            self.documents.add(url)
        if url.startswith(("http:", "https:", "ws:", "wss:")) and origin_of(url) != self.origin:
            self.third_party.append(f"{request.method} {url} ({request.resource_type})")

    def _on_request_failed(self, request: Request) -> None:
        if request.failure == ABORTED:
            return  # cancelled because the page navigated on (e.g. the icon still loading): nothing is broken
        self.failed.append(f"{request.method} {request.url} ({request.resource_type}): {request.failure}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.failed.append(
                f"{response.request.method} {response.url} ({response.request.resource_type}): HTTP {response.status}"
            )

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        # The document's own status is the test's to check; /favicon.ico is the browser's own guess when a page
        # declares no icon (not a request of the page's: it is not even reported as one).
        if _STATUS_MESSAGE.match(message.text) and (url in self.documents or url == self.origin + "/favicon.ico"):
            return
        self.console_errors.append(f"{message.text} (at {url or '?'})")

    def _on_page_error(self, error: Exception) -> None:
        self.page_errors.append(str(error))

    def clear(self) -> None:
        """Forget everything recorded so far (a test that provokes a problem on purpose)."""
        for recorded in (self.requests, self.third_party, self.failed, self.console_errors, self.page_errors):
            recorded.clear()
        self.documents.clear()

    def assert_same_origin(self) -> None:
        """No request left the app's origin (no CDN, web font, analytics...)."""
        assert not self.third_party, (
            "requests to other origins than " + self.origin + ":\n  " + "\n  ".join(self.third_party)
        )

    def assert_no_errors(self) -> None:
        """No console error (CSP violations are console errors), no uncaught exception, no failed subresource."""
        problems = [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"uncaught exception: {text}" for text in self.page_errors),
            *(f"failed load: {text}" for text in self.failed),
        ]
        assert not problems, "the page reported problems:\n  " + "\n  ".join(problems)

    def assert_clean(self) -> None:
        """Both checks: same origin only, and no errors."""
        self.assert_same_origin()
        self.assert_no_errors()


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """A readable list: rule id, impact, what it means, and the CSS target of every failing element."""
    lines: list[str] = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation.get('impact') or 'n/a'}): {violation.get('help', '')}")
        for node in violation.get("nodes", []):
            target = " ".join(str(part) for part in node.get("target", []))
            snippet = " ".join(str(node.get("html", "")).split())[:160]
            lines.append(f"    at {target}: {snippet}")
        if violation.get("helpUrl"):
            lines.append(f"    see {violation['helpUrl']}")
    return "\n".join(lines)


async def axe_violations(page: Page, *, tags: tuple[str, ...] = WCAG_TAGS) -> list[dict[str, Any]]:
    """axe-core's violations of the given tags on the page as it is now."""
    options = {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]}
    results = await _AXE.run(page, options=options)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


async def assert_accessible(page: Page, *, tags: tuple[str, ...] = WCAG_TAGS) -> None:
    """axe reports no WCAG 2.1 A/AA violation on the page as it is now."""
    violations = await axe_violations(page, tags=tags)
    size = page.viewport_size or {"width": 0, "height": 0}
    where = f"{page.url} at {size['width']}x{size['height']}"
    assert not violations, f"axe: {len(violations)} WCAG 2.1 A/AA violation(s) on {where}:\n" + describe_violations(
        violations
    )


async def assert_fits_width(page: Page) -> None:
    """The page needs no horizontal scrolling at its viewport (nothing sticks out to the right)."""
    scroll_width, inner_width = await page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{page.url} scrolls sideways: {scroll_width} px wide in {inner_width} px"


def email_links(message: EmailMessage) -> list[str]:
    """Every http(s) URL in the message's text and HTML parts, in order, without duplicates."""
    found: list[str] = []
    for part in message.walk():
        if part.get_content_maintype() != "text" or part.is_attachment():
            continue
        content = part.get_content()
        for match in _URL.findall(str(content)):
            url = html.unescape(match).rstrip(".,;)")
            if url not in found:
                found.append(url)
    return found
