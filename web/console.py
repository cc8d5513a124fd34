"""What every console route uses: the session cookie, who is signed in, the CSRF check and the console's pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ConsoleSessionsDep, get_container
from core.config import Settings
from core.errors import NotFound
from domain.auth import AuthService
from domain.console_sessions import ConsoleSessionService, SignedIn
from models.enums import Role
from web.forms import SEE_OTHER
from web.rendering import page

HOME = "/console"
LOGIN = "/console/login"
MAX_NEXT = 500
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
# A local console path only: no scheme or host, no "//" or "\" a browser could read as another host.
_SAFE_NEXT = re.compile(r"^/console(?:[/?#][\x21-\x7e]*)?$")


@dataclass(frozen=True)
class NavItem:
    """One link of the console's navigation."""

    key: str
    label: str
    href: str
    admin_only: bool = False


NAV = (
    NavItem("dashboard", "Dashboard", HOME),
    NavItem("campaigns", "Campaigns", "/console/campaigns"),
    NavItem("handoffs", "Handoffs", "/console/handoffs"),
    NavItem("appointments", "Appointments", "/console/appointments"),
    NavItem("patients", "Patients", "/console/patients"),
    NavItem("kb", "Knowledge base", "/console/kb"),
    NavItem("outbox", "Outbox", "/console/outbox"),
    NavItem("users", "Users", "/console/users", admin_only=True),
    NavItem("audit", "Audit", "/console/audit", admin_only=True),
)


def is_id(value: str) -> bool:
    """Whether a path or form value has the shape of a stored id (others are refused before anything is read)."""
    return bool(_OBJECT_ID.match(value))


def campaign_id_path(campaign_id: str) -> str:
    """The path's campaign id when it has an id's shape (else the 404 page, before anything is read or audited)."""
    if not is_id(campaign_id):
        raise NotFound("There is no campaign at this address.", error="campaign_not_found")
    return campaign_id


CampaignId = Annotated[str, Depends(campaign_id_path)]


def session_cookie(settings: Settings) -> str:
    """The session cookie's name: `__Host-` prefixed in production (Secure, Path=/, no Domain)."""
    return "__Host-mc_session" if settings.is_production else "mc_session"


def login_cookie(settings: Settings) -> str:
    """The sign-in form's token cookie (double submit), prefixed like the session cookie."""
    return "__Host-mc_login" if settings.is_production else "mc_login"


def set_cookie(response: Response, settings: Settings, name: str, value: str) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, Path=/, Secure in production; no Max-Age (ends with the browser)."""
    response.set_cookie(name, value, path="/", secure=settings.is_production, httponly=True, samesite="strict")


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    """Remove a console cookie (same attributes, so the browser matches it)."""
    response.delete_cookie(name, path="/", secure=settings.is_production, httponly=True, samesite="strict")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: the given console path, or the dashboard for anything else (no open redirect)."""
    if not value or len(value) > MAX_NEXT or not _SAFE_NEXT.match(value) or "//" in value or "\\" in value:
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return HOME
    return value


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page, then back to `next_path`."""

    def __init__(self, next_path: str | None):
        super().__init__("sign-in required")
        self.next_path = next_path


async def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """303 to the sign-in page with the page that was asked for as `next`."""
    assert isinstance(exc, SignInRequired)
    target = LOGIN
    if exc.next_path and safe_next(exc.next_path) == exc.next_path and exc.next_path != HOME:
        target += "?next=" + quote(exc.next_path, safe="/")
    return RedirectResponse(target, status_code=SEE_OTHER)


async def signed_in(request: Request, sessions: ConsoleSessionsDep) -> SignedIn:
    """The signed-in staff member (staff or admin); without a live session, to the sign-in page."""
    found = await sessions.resolve(request.cookies.get(session_cookie(sessions.settings)))
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path if request.method == "GET" else None)
    return found


ConsoleUser = Annotated[SignedIn, Depends(signed_in)]


async def signed_in_admin(user: ConsoleUser) -> SignedIn:
    """A signed-in admin; staff get the 403 page."""
    AuthService.require_role(user.user, Role.ADMIN)
    return user


ConsoleAdmin = Annotated[SignedIn, Depends(signed_in_admin)]


async def console_form(user: ConsoleUser, csrf_token: Annotated[str, Form()] = "") -> SignedIn:
    """A console POST: signed in, and the form carries the session's CSRF token (403 page otherwise)."""
    ConsoleSessionService.check_csrf(user, csrf_token)
    return user


ConsoleForm = Annotated[SignedIn, Depends(console_form)]


def console_page(
    request: Request,
    template: str,
    user: SignedIn,
    current: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A console page: the navigation (admin links for admins), who is signed in and the CSRF token for its forms."""
    is_admin = user.user.role == Role.ADMIN
    outbox = get_container(request).settings.outbox_enabled
    nav = [item for item in NAV if (is_admin or not item.admin_only) and (outbox or item.key != "outbox")]
    base = {"staff": user.user, "csrf_token": user.csrf_token, "nav": nav, "current": current}
    return page(request, template, {**base, **(context or {})}, status_code=status_code)


@dataclass(frozen=True)
class Pager:
    """Where a paged list is: its page, how many there are, and the links to the neighbours (None at the ends)."""

    page: int
    pages: int
    total: int
    previous_href: str | None
    next_href: str | None


def pager(request: Request, *, page: int, page_size: int, total: int) -> Pager:
    """Links to the previous and next page of this list, keeping every other query parameter."""
    pages = max(1, -(-total // page_size))
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]

    def href(number: int) -> str:
        return f"{request.url.path}?{urlencode([*kept, ('page', str(number))])}"

    return Pager(
        page=page,
        pages=pages,
        total=total,
        previous_href=href(page - 1) if page > 1 else None,
        next_href=href(page + 1) if page < pages else None,
    )
