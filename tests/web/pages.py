"""Helpers for the page tests: read a rendered page, and the checks every page must pass."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.security import sha256_hex
from models.appointment import Appointment

CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"


@dataclass
class Page:
    """What a test needs to know about a rendered page."""

    html: str
    title: str = ""
    h1: str = ""
    headings: list[int] = field(default_factory=list)
    ids: dict[str, dict[str, str]] = field(default_factory=dict)
    inline_scripts: int = 0
    style_tags: int = 0
    style_attributes: list[str] = field(default_factory=list)
    event_attributes: list[str] = field(default_factory=list)
    external_urls: list[str] = field(default_factory=list)
    radios: list[dict[str, str]] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)

    def value(self, element_id: str) -> str:
        """The value attribute of the element with this id."""
        return self.ids[element_id].get("value", "")

    @property
    def times(self) -> list[str]:
        """The offered slot times (radio values)."""
        return [r["value"] for r in self.radios if r.get("name") == "time"]


class _Reader(HTMLParser):
    def __init__(self, page: Page):
        super().__init__(convert_charrefs=True)
        self.page = page
        self.capture: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        page = self.page
        if "id" in values:
            page.ids[values["id"]] = {"tag": tag, **values}
        if tag == "script" and not values.get("src"):
            page.inline_scripts += 1
        if tag == "style":
            page.style_tags += 1
        if "style" in values:
            page.style_attributes.append(tag)
        page.event_attributes += [k for k in values if k.startswith("on")]
        # What the browser fetches or posts to by itself (links the patient may follow are not requests).
        for name in ("src", "action", *(("href",) if tag == "link" else ())):
            url = values.get(name, "")
            if urlsplit(url).netloc or url.startswith("//"):
                page.external_urls.append(url)
        if tag == "a" and "href" in values:
            page.links.append(values["href"])
        if tag == "input" and values.get("type") == "radio":
            page.radios.append(values)
        if tag == "input" and values.get("type") == "hidden":
            page.hidden[values.get("name", "")] = values.get("value", "")
        if tag in ("title", "h1"):
            self.capture = tag
        if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            page.headings.append(int(tag[1]))

    def handle_endtag(self, tag: str) -> None:
        if tag == self.capture:
            self.capture = None

    def handle_data(self, data: str) -> None:
        if self.capture == "title":
            self.page.title += data
        elif self.capture == "h1":
            self.page.h1 += data


def read(html: str) -> Page:
    """Parse a page."""
    page = Page(html)
    _Reader(page).feed(html)
    page.title, page.h1 = " ".join(page.title.split()), " ".join(page.h1.split())
    return page


def html_page(response: httpx.Response, status: int) -> Page:
    """The response as a page, after the checks every page passes: HTML (not JSON), CSP, nothing inline."""
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]
    try:
        json.loads(response.text)
    except ValueError:
        pass
    else:
        raise AssertionError(f"a page answered JSON: {response.text[:200]}")
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    page = read(response.text)
    assert page.inline_scripts == 0 and page.style_tags == 0, "inline script or style"
    assert page.style_attributes == [] and page.event_attributes == [], "inline style or event handler"
    assert page.external_urls == [], page.external_urls
    assert page.title and page.h1, "every page has a title and a main heading"
    assert page.headings[0] == 1 and all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False))
    assert '<html lang="en">' in page.html and 'href="#main"' in page.html and '<main id="main"' in page.html
    return page


async def appointment_of(container: Any, token: str) -> Appointment:
    """The stored appointment behind a manage token."""
    appointment = await container.repos.appointments.get_by_manage_hash(sha256_hex(token))
    assert appointment is not None
    return appointment


def manage_token_of(response: httpx.Response) -> str:
    """The manage token from the 303 after booking."""
    assert response.status_code == 303, response.text[:2000]
    location = response.headers["location"]
    assert location.startswith("/manage/") and location.endswith("?booked=1"), location
    return location.removeprefix("/manage/").removesuffix("?booked=1")
