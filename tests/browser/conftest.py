"""Browser-test harness: the system Chromium driven by Playwright against the real app on a live uvicorn.

Async Playwright, in one event loop for the whole session: the browser is launched once (about 0.8 s with the
driver), every test in this directory runs in that loop (marked here), and each test gets fresh browser contexts.
The app runs in its own thread (LiveServer) with its own container; `live_app.container` is a second container over
the same database, in the test's loop, for arranging data and checking it (the app supports several instances).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from core.clock import Clock
from core.config import Settings
from core.container import Container, build_container
from main import create_app
from services.browser import INSTALL_HINT, VIEWPORTS, ci, find_chromium, launch_options
from services.loopback import LiveServer, bind_loopback
from tests.browser.support import PageWatch
from tests.fakes.smtp import SmtpSink

HERE = Path(__file__).resolve().parent
SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here `browser`, and run the async ones in the session's loop (where the browser lives)."""
    for item in items:
        if HERE not in item.path.parents:
            continue
        item.add_marker(pytest.mark.browser)
        if pytest_asyncio.is_async_test(item):
            item.add_marker(SESSION_LOOP, append=False)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The system Chromium; skips without one, fails on CI (CI=true) so a run cannot pass by skipping."""
    found = find_chromium()
    if found is None:
        if ci():
            pytest.fail("CI=true and no Chromium for the browser tests.\n" + INSTALL_HINT, pytrace=False)
        pytest.skip("no Chromium found (run `make browser`, or see services/browser.py INSTALL_HINT)")
    return found


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium_executable: str) -> AsyncIterator[Browser]:
    """One headless Chromium for the session."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(**launch_options(chromium_executable))
        yield launched
        await launched.close()


@dataclass
class LiveApp:
    """The app served by uvicorn on loopback, with the SMTP server it sends to and a container over its database.

    `app` is the served application: `app.state.container` is the server's own container, living in the server's
    thread and event loop (a test may swap one of its repositories to hold requests at a chosen point).
    """

    url: str
    settings: Settings
    smtp: SmtpSink
    container: Container
    http: httpx.AsyncClient
    server: LiveServer = field(repr=False)
    app: FastAPI = field(repr=False)

    def link(self, path: str) -> str:
        """An absolute URL on the app."""
        return self.url + path


@pytest.fixture
def live_app_overrides() -> dict[str, Any]:
    """Settings overrides for `live_app`; a test module overrides this fixture to change them."""
    return {}


@pytest_asyncio.fixture(loop_scope="session")
async def make_live_app(
    make_settings: Callable[..., Settings], smtp: SmtpSink
) -> AsyncIterator[Callable[..., Awaitable[LiveApp]]]:
    """Start the app (create_app) on a live uvicorn: PUBLIC_BASE_URL is its own URL, SMTP is the `smtp` sink."""
    started: list[LiveApp] = []

    async def start(*, clock: Clock | None = None, **overrides: Any) -> LiveApp:
        sock = bind_loopback()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        values: dict[str, Any] = {
            "PUBLIC_BASE_URL": url,
            "ALLOWED_ORIGINS": url,
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": smtp.port,
            "SMTP_STARTTLS": False,
            **overrides,
        }
        settings = make_settings(**values)
        application = create_app(settings, clock=clock)
        server = LiveServer(application, sock=sock)
        await asyncio.to_thread(server.start)
        container = await build_container(settings, clock=clock)
        http = httpx.AsyncClient(base_url=url, timeout=30)
        live = LiveApp(
            url=url, settings=settings, smtp=smtp, container=container, http=http, server=server, app=application
        )
        started.append(live)
        return live

    yield start
    for live in started:
        await live.http.aclose()
        await asyncio.to_thread(live.server.stop)
    if started:
        first = started[0].container
        await first.client.drop_database(first.settings.MONGO_DB_NAME)
    for live in started:
        await live.container.close()


@pytest_asyncio.fixture(loop_scope="session")
async def live_app(make_live_app: Callable[..., Awaitable[LiveApp]], live_app_overrides: dict[str, Any]) -> LiveApp:
    """The app on a live uvicorn with this test's database and SMTP sink (settings: `live_app_overrides`)."""
    return await make_live_app(**live_app_overrides)


class WatchedPage(NamedTuple):
    """A page in its own browser context, and the watch on what it requests and logs."""

    page: Page
    watch: PageWatch


@pytest_asyncio.fixture(loop_scope="session")
async def new_page(browser: Browser, live_app: LiveApp) -> AsyncIterator[Callable[..., Awaitable[WatchedPage]]]:
    """Open pages, each in a fresh context (no shared cookies) at a named viewport; checked when the test ends.

    Relative URLs go to `live_app`; `java_script_enabled=False` opens a context with the pages' JavaScript off. At
    teardown every page must have stayed on the app's origin and logged no console error, CSP violation, uncaught
    exception or failed subresource (`watch.clear()` forgets a deliberate one).
    """
    opened: list[tuple[BrowserContext, PageWatch]] = []

    async def open_page(
        viewport: str = "phone", *, base_url: str | None = None, java_script_enabled: bool = True
    ) -> WatchedPage:
        size = VIEWPORTS[viewport]
        context = await browser.new_context(
            viewport=ViewportSize(width=size["width"], height=size["height"]),
            base_url=base_url or live_app.url,
            locale="en-US",
            java_script_enabled=java_script_enabled,
        )
        context.set_default_timeout(10_000)
        page = await context.new_page()
        watch = PageWatch(origin=base_url or live_app.url)
        watch.attach(page)
        opened.append((context, watch))
        return WatchedPage(page, watch)

    yield open_page
    for context, _ in opened:
        await context.close()
    for _, watch in opened:
        watch.assert_clean()


@pytest.fixture(params=sorted(VIEWPORTS, reverse=True))
def viewport(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each viewport in turn: "phone" (390x844) and "desktop" (1280x800)."""
    yield str(request.param)


@pytest_asyncio.fixture(loop_scope="session")
async def watched_page(new_page: Callable[..., Awaitable[WatchedPage]], viewport: str) -> WatchedPage:
    """A page at each viewport (the test runs once per viewport) with its watch."""
    return await new_page(viewport)


@pytest.fixture
def page(watched_page: WatchedPage) -> Page:
    """A page at each viewport (the test runs once per viewport); relative URLs go to `live_app`."""
    return watched_page.page


@pytest.fixture
def page_watch(watched_page: WatchedPage) -> PageWatch:
    """The watch of `page`: its requests, failed loads, console errors."""
    return watched_page.watch
