"""Patient pages: `GET /book` throughput against `GET /`, and the bytes a first visit to /book transfers.

1. With 1,000 booked appointments over the coming weeks, requests per second of `GET /book` and of `GET /` on one
   uvicorn worker, in the same run; the ratio book/root (goal >= 0.3).
2. A first visit's bytes, all assets included (goal <= 60 KB = 60,000 bytes): /book fetched as a browser would
   (Accept-Encoding gzip/br), its same-origin stylesheets, scripts, images and icons parsed out of the HTML (and
   url()/@import out of the CSS) and fetched; wire bytes (compressed when the server compresses, headers included)
   and raw body bytes. Then the same visit in the system Chromium, when there is one: the sizes Playwright reports
   for every response (a fresh context, so nothing is cached).
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import httpx
from bson import ObjectId
from pymongo import MongoClient

from bench.common import app_server, embedded_database, generate_load, print_table
from models.appointment import Appointment
from services.browser import PHONE, find_chromium, launch_options

CONCURRENCY = 16
DURATION_SECONDS = 5.0
RATIO_GOAL = 0.3
BYTES_GOAL = 60_000
DB_NAME = "bench_pages"
CLINIC_TZ = "Europe/Berlin"
ZONE = ZoneInfo(CLINIC_TZ)
DOCTORS = ("Dr. Smith", "Dr. Patel")
APP_ENV = {"TZ": CLINIC_TZ, "CLINIC_DOCTORS": ",".join(DOCTORS)}
SEED_APPOINTMENTS = 1_000
SEED_DAYS = 42
SUNDAY = 6
BROWSER_HEADERS = {"Accept": "text/html,*/*", "Accept-Encoding": "gzip, deflate, br"}
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
_LINK_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "modulepreload", "manifest", "mask-icon"}


def _seed(mongo_uri: str) -> None:
    """Booked 30-minute appointments on half-hour starts, Monday to Saturday, over the next weeks."""
    today = datetime.now(ZONE).date()
    starts = [time(9 + half // 2, 30 * (half % 2)) for half in range(22)]  # 09:00 .. 19:30
    grid = [
        (doctor, day, at)
        for doctor in DOCTORS
        for day in (today + timedelta(days=n) for n in range(1, SEED_DAYS + 1))
        if day.weekday() != SUNDAY
        for at in starts
    ]
    now = datetime.now(UTC).replace(microsecond=0)
    docs = [
        Appointment(
            id=str(ObjectId()),
            patient_id=str(ObjectId()),
            doctor=doctor,
            service="Check-up",
            start=datetime.combine(day, at, tzinfo=ZONE).astimezone(UTC),
            duration_minutes=30,
            created_at=now,
            updated_at=now,
        ).to_mongo()
        for doctor, day, at in random.Random(14).sample(grid, SEED_APPOINTMENTS)
    ]
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    with client:
        client[DB_NAME]["appointments"].insert_many(docs)


# ---- 1. throughput ------------------------------------------------------------------------------------------


def _throughput(base_url: str) -> None:
    print(f"{CONCURRENCY} concurrent clients, {DURATION_SECONDS:.0f} s per endpoint, one uvicorn worker")
    book = generate_load(base_url + "/book", concurrency=CONCURRENCY, duration=DURATION_SECONDS)
    root = generate_load(base_url + "/", concurrency=CONCURRENCY, duration=DURATION_SECONDS)
    print_table(["endpoint", "req/s", "p50 ms", "p99 ms", "errors"], [book.row("GET /book"), root.row("GET /")])
    ratio = book.requests_per_second / root.requests_per_second if root.requests_per_second else 0.0
    verdict = "met" if ratio >= RATIO_GOAL else "NOT met"
    print(f"ratio book/root: {ratio:.2f} (goal >= {RATIO_GOAL:.2f}: {verdict})")


# ---- 2. first-visit bytes -----------------------------------------------------------------------------------


class _Assets(HTMLParser):
    """The URLs of the subresources an HTML page references."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (kind, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link" and values.get("href"):
            rels = set(values.get("rel", "").lower().split())
            if rels & _LINK_RELS:
                self.urls.append(("/".join(sorted(rels & _LINK_RELS)), values["href"]))
        elif tag == "script" and values.get("src"):
            self.urls.append(("script", values["src"]))
        elif tag in ("img", "source", "input") and (values.get("src") or values.get("srcset")):
            if values.get("src") and (tag != "input" or values.get("type", "").lower() == "image"):
                self.urls.append(("img", values["src"]))
            for candidate in values.get("srcset", "").split(","):
                if candidate.strip():
                    self.urls.append(("img", candidate.split()[0]))


@dataclass
class Fetched:
    """One response: what crossed the wire and what it decoded to."""

    url: str
    kind: str
    status: int
    encoding: str
    wire_bytes: int  # status line + headers + body as sent (compressed when Content-Encoding is set)
    raw_bytes: int  # body after decoding


@dataclass
class Visit:
    """A first visit: every response, and references that left the origin (never fetched)."""

    fetched: list[Fetched] = field(default_factory=list)
    third_party: list[str] = field(default_factory=list)

    @property
    def wire_bytes(self) -> int:
        """Bytes transferred, headers included."""
        return sum(f.wire_bytes for f in self.fetched)

    @property
    def raw_bytes(self) -> int:
        """Body bytes after decoding."""
        return sum(f.raw_bytes for f in self.fetched)


def _header_bytes(response: httpx.Response) -> int:
    status_line = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n")
    return status_line + sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 2


def _fetch(http: httpx.Client, url: str, kind: str) -> tuple[Fetched, httpx.Response]:
    response = http.get(url)
    encoding = response.headers.get("content-encoding", "identity")
    body_on_wire = response.num_bytes_downloaded
    fetched = Fetched(
        url=url,
        kind=kind,
        status=response.status_code,
        encoding=encoding,
        wire_bytes=_header_bytes(response) + body_on_wire,
        raw_bytes=len(response.content),
    )
    return fetched, response


def first_visit(base_url: str) -> Visit:
    """Fetch /book and everything it references on the same origin (CSS url() and @import too), once each."""
    origin = urlsplit(base_url).netloc
    visit = Visit()
    seen: set[str] = set()
    with httpx.Client(headers=BROWSER_HEADERS, timeout=10.0) as http:
        queue: list[tuple[str, str]] = [("document", base_url + "/book")]
        while queue:
            kind, url = queue.pop(0)
            url = url.split("#", 1)[0]
            if url in seen or url.startswith("data:"):
                continue
            seen.add(url)
            if urlsplit(url).netloc != origin:
                visit.third_party.append(url)
                continue
            fetched, response = _fetch(http, url, kind)
            visit.fetched.append(fetched)
            content_type = response.headers.get("content-type", "")
            if response.status_code >= 400:
                continue
            if kind == "document":
                parser = _Assets()
                parser.feed(response.text)
                queue += [(k, urljoin(url, u)) for k, u in parser.urls]
            elif "text/css" in content_type:
                for match in _CSS_URL.finditer(response.text):
                    queue.append(("css-url", urljoin(url, match.group(1) or match.group(2))))
    return visit


async def browser_visit(base_url: str, chromium: str) -> Visit:
    """A first visit to /book in Chromium: every response's header and (encoded) body size, as Playwright reports."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import Response, ViewportSize, async_playwright

    visit = Visit()
    origin = urlsplit(base_url).netloc
    responses: list[Response] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_options(chromium))
        try:
            context = await browser.new_context(viewport=ViewportSize(width=PHONE["width"], height=PHONE["height"]))
            page = await context.new_page()
            page.on("response", lambda response: responses.append(response))
            page.on(
                "request",
                lambda r: visit.third_party.append(r.url) if urlsplit(r.url).netloc not in ("", origin) else None,
            )
            await page.goto(base_url + "/book", wait_until="networkidle")
            for response in responses:
                sizes = await response.request.sizes()
                try:
                    body = await response.body()
                except PlaywrightError:  # a redirect or an aborted load has no body to read
                    body = b""
                visit.fetched.append(
                    Fetched(
                        url=response.url,
                        kind=response.request.resource_type,
                        status=response.status,
                        encoding=(await response.all_headers()).get("content-encoding", "identity"),
                        wire_bytes=sizes["responseHeadersSize"] + sizes["responseBodySize"],
                        raw_bytes=len(body),
                    )
                )
            await context.close()
        finally:
            await browser.close()
    return visit


def _print_visit(visit: Visit, base_url: str) -> None:
    rows = [
        [f.url.removeprefix(base_url) or "/", f.kind, f.status, f.encoding, f"{f.wire_bytes:,}", f"{f.raw_bytes:,}"]
        for f in visit.fetched
    ]
    rows.append(["total", f"{len(visit.fetched)} responses", "", "", f"{visit.wire_bytes:,}", f"{visit.raw_bytes:,}"])
    print_table(["url", "kind", "status", "encoding", "wire bytes", "raw bytes"], rows)
    for url in visit.third_party:
        print(f"  THIRD-PARTY reference (not fetched): {url}")


def _verdict(wire_bytes: int) -> str:
    return "met" if wire_bytes <= BYTES_GOAL else "NOT met"


def _bytes(base_url: str) -> None:
    print("\nfirst visit to /book, every same-origin asset (httpx, as a browser asks: gzip/br accepted):")
    visit = first_visit(base_url)
    _print_visit(visit, base_url)
    compressed = any(f.encoding != "identity" for f in visit.fetched)
    how = "compressed" if compressed else "uncompressed: the server sent no Content-Encoding"
    print(
        f"transferred {visit.wire_bytes:,} bytes ({how}, headers included), {visit.raw_bytes:,} bytes decoded"
        f" (goal <= {BYTES_GOAL:,}: {_verdict(visit.wire_bytes)})"
    )
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium (see `make browser`): the browser measurement is skipped")
        return
    try:
        real = asyncio.run(browser_visit(base_url, chromium))
    except ImportError:
        print("playwright is not installed (requirements-dev.txt): the browser measurement is skipped")
        return
    print(f"\nfirst visit to /book in Chromium ({chromium}), fresh context, 390x844:")
    _print_visit(real, base_url)
    print(
        f"Chromium transferred {real.wire_bytes:,} bytes (headers included; the browser's own /favicon.ico guess"
        f" is not reported to pages) (goal <= {BYTES_GOAL:,}: {_verdict(real.wire_bytes)})"
    )


def main() -> None:
    """Seed, serve one worker, measure both parts."""
    with embedded_database() as mongo_uri:
        _seed(mongo_uri)
        with app_server(mongo_uri, DB_NAME, extra_env=APP_ENV) as app:
            print(f"{SEED_APPOINTMENTS:,} booked appointments over the next {SEED_DAYS} days ({', '.join(DOCTORS)})")
            probe = httpx.get(app.url + "/book", headers=BROWSER_HEADERS, timeout=10.0)
            if probe.status_code != 200:
                print(
                    f"GET /book answered {probe.status_code} ({probe.headers.get('content-type', '?')}): the booking"
                    " page is not there yet; nothing to measure (GET / alone follows for reference)"
                )
                root = generate_load(app.url + "/", concurrency=CONCURRENCY, duration=DURATION_SECONDS)
                print_table(["endpoint", "req/s", "p50 ms", "p99 ms", "errors"], [root.row("GET /")])
                print(f"ratio book/root: n/a (goal >= {RATIO_GOAL:.2f}: NOT measured)")
                print(f"first-visit bytes: n/a (goal <= {BYTES_GOAL:,}: NOT measured)")
                return
            _throughput(app.url)
            _bytes(app.url)
