"""Jinja2 templates (autoescaped), the pages' security headers, and cache-busting static URLs."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.config import Settings

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# No inline script or style anywhere: every page works under this policy (ARCHITECTURE.md rule 13).
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
PAGE_HEADERS = {"Content-Security-Policy": CSP}


@dataclass(frozen=True)
class Clinic:
    """The clinic's name and contact details shown on every page."""

    name: str
    phone: str
    phone_href: str
    address: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Clinic:
        """From CLINIC_NAME, CLINIC_PHONE and CLINIC_ADDRESS."""
        digits = re.sub(r"[^0-9+]", "", settings.CLINIC_PHONE)
        return cls(settings.CLINIC_NAME, settings.CLINIC_PHONE, f"tel:{digits}", settings.CLINIC_ADDRESS)


@cache
def static_url(name: str) -> str:
    """The URL of a file in web/static with a content hash, so it can be cached for a long time."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def long_date(day: date) -> str:
    """'Tuesday 8 December 2026'."""
    return f"{day:%A} {day.day} {day:%B} {day.year}"


def short_date(day: date) -> str:
    """'Tuesday 8 December'."""
    return f"{day:%A} {day.day} {day:%B}"


def clock_time(at: datetime) -> str:
    """'09:30'."""
    return f"{at:%H:%M}"


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["static_url"] = static_url
_env.filters["long_date"] = long_date
_env.filters["short_date"] = short_date


def render_html(template: str, settings: Settings, context: dict[str, Any]) -> str:
    """The page's HTML with the clinic's details available to every template."""
    return _env.get_template(template).render({"clinic": Clinic.from_settings(settings), **context})


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page with the security headers every page carries."""
    settings: Settings = request.app.state.settings
    body = render_html(template, settings, context or {})
    return HTMLResponse(body, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})
