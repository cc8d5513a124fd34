"""Console sign-in: the session cookie and its flags, lockout shared with the API, CSRF, logout, idle timeout, roles."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.config import Settings
from core.container import Container
from core.security import hash_password, sha256_hex
from main import create_app
from models.enums import AuditOutcome, Role
from tests.support import root_log_capture
from tests.web.conftest import Clinic
from tests.web.console import LOGIN, PASSWORD, console_csrf, login_form, sign_in
from tests.web.pages import html_page
from web.console import safe_next

PRODUCTION = {
    "ENVIRONMENT": "production",
    "ALLOWED_ORIGINS": "https://admin.example",
    "PUBLIC_BASE_URL": "https://clinic.example",
    "EMAIL_BACKEND": "disabled",
}


@pytest.fixture(autouse=True)
def captured_logs() -> Iterator[io.StringIO]:
    """Whatever a test does, no staff address or password reaches the logs."""
    with root_log_capture() as stream:
        yield stream
    output = stream.getvalue().lower()
    assert "@clinic.test" not in output and PASSWORD not in output and "wrong password" not in output


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def flags(header: str) -> set[str]:
    """A Set-Cookie header's attributes, lower-cased."""
    return {part.strip().lower() for part in header.split(";")[1:]}


@asynccontextmanager
async def serve(settings: Settings, base_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    """A client for an app built from these settings (its lifespan running), and the app's container."""
    application = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=base_url) as http,
    ):
        yield http, application.state.container


# ---- signing in ----------------------------------------------------------------------------------------------


async def test_signing_in_sets_an_httponly_strict_session_cookie_and_opens_the_dashboard(
    client: httpx.AsyncClient, container: Container, make_user: Any
) -> None:
    email, _ = await make_user()
    form = await login_form(client)
    assert form.h1 == "Sign in to the staff console" and form.ids["password"]["type"] == "password"
    login_cookie = flags(set_cookies(await client.get(LOGIN))["mc_login"])
    assert {"httponly", "samesite=strict", "path=/"} <= login_cookie and "secure" not in login_cookie

    response = await sign_in(client, email)

    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = set_cookies(response)["mc_session"]
    assert {"httponly", "samesite=strict", "path=/"} <= flags(cookie)
    assert "secure" not in flags(cookie) and not any(f.startswith(("domain", "max-age")) for f in flags(cookie))
    value = client.cookies["mc_session"]
    stored = await container.repos.console_sessions.live(sha256_hex(value), now=container.clock.now())
    assert stored is not None and stored.role == Role.STAFF
    assert await container.repos.console_sessions.count({"token_hash": value}) == 0  # only the hash is kept
    assert stored.expires_at - stored.created_at == timedelta(minutes=30)

    dashboard = html_page(await client.get("/console"), 200)
    assert dashboard.h1 == "Dashboard"
    assert "staff@clinic.test" in dashboard.html and dashboard.ids["staff-role"] and ">staff<" in dashboard.html
    assert dashboard.ids["nav-dashboard"]["aria-current"] == "page"
    assert "nav-audit" not in dashboard.ids  # admin links only for admins
    assert dashboard.hidden["csrf_token"] == stored.csrf_token


async def test_in_production_the_cookies_are_secure_and_host_prefixed(
    make_settings: Callable[..., Settings], db_name: str
) -> None:
    async with serve(make_settings(**PRODUCTION), "https://clinic.example") as (http, container):
        await container.repos.users.create_or_reset(
            email="prod@clinic.test", password_hash=hash_password(PASSWORD), role=Role.STAFF, now=container.clock.now()
        )
        form_cookie = set_cookies(await http.get(LOGIN))["__Host-mc_login"]
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags(form_cookie)
        response = await sign_in(http, "prod@clinic.test")
        assert response.status_code == 303
        cookies = set_cookies(response)
        assert "mc_session" not in cookies
        cookie = cookies["__Host-mc_session"]
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags(cookie)
        assert not any(f.startswith("domain") for f in flags(cookie))
        assert html_page(await http.get("/console"), 200).h1 == "Dashboard"
        await container.client.drop_database(db_name)


async def test_a_wrong_password_or_unknown_account_is_a_401_page_without_a_cookie(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    email, _ = await make_user()
    wrong = await sign_in(client, email, "wrong password!")
    unknown = await sign_in(client, "ghost@clinic.test", "wrong password!")
    for response in (wrong, unknown):
        page = html_page(response, 401)
        assert page.ids["form-message"] and "Incorrect email or password." in page.html
        assert "mc_session" not in set_cookies(response)
        assert page.ids["password"].get("value", "") == ""  # the password is never sent back
    assert "mc_session" not in client.cookies
    assert (await client.get("/console")).status_code == 303


async def test_api_failures_lock_the_console_and_console_failures_lock_the_api(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    email, _ = await make_user()
    for _ in range(5):
        api = await client.post("/api/v1/auth/login", data={"username": email, "password": "nope-nope-nope"})
        assert api.status_code == 401
    locked = await sign_in(client, email)
    page = html_page(locked, 429)
    assert "too many sign-in attempts for this account" in page.html.lower()
    assert "try again in about 15 minutes" in page.html
    assert locked.headers["retry-after"] == str(15 * 60)
    assert "mc_session" not in set_cookies(locked)

    other, _ = await make_user("other@clinic.test")
    for _ in range(5):
        assert (await sign_in(client, other, "nope-nope-nope")).status_code == 401
    api = await client.post("/api/v1/auth/login", data={"username": other, "password": PASSWORD})
    assert api.status_code == 429 and api.json()["error"] == "account_locked"


# ---- CSRF ----------------------------------------------------------------------------------------------------


async def test_logout_without_or_with_a_wrong_csrf_token_is_refused_and_keeps_the_session(
    client: httpx.AsyncClient, container: Container, make_user: Any
) -> None:
    email, _ = await make_user()
    await sign_in(client, email)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "not-the-token"}):
        refused = await client.post("/console/logout", data=data)
        page = html_page(refused, 403)
        assert page.h1 == "Not allowed"
        assert "mc_session" not in set_cookies(refused)
    assert await container.repos.console_sessions.count() == 1
    assert html_page(await client.get("/console"), 200).h1 == "Dashboard"


async def test_the_sign_in_form_needs_its_own_token(
    client: httpx.AsyncClient, container: Container, make_user: Any
) -> None:
    email, _ = await make_user()
    await login_form(client)  # the cookie is set, but the form field is missing or forged
    forged = client.cookies["mc_login"][:-2] + "xx"
    for token in ("", "forged", forged):
        response = await client.post(LOGIN, data={"email": email, "password": PASSWORD, "csrf_token": token})
        page = html_page(response, 403)
        assert "sign-in form had expired" in page.html and "mc_session" not in set_cookies(response)
    # A field that matches no cookie (a cross-site form cannot read or set the SameSite=Strict cookie).
    token = (await login_form(client)).hidden["csrf_token"]
    client.cookies.delete("mc_login")
    response = await client.post(LOGIN, data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403
    assert await container.repos.console_sessions.count() == 0
    assert await container.repos.audit.count({"action": "console.login"}) == 0  # nothing was checked


async def test_an_expired_sign_in_form_is_refused(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    await container.repos.users.create_or_reset(
        email="late@clinic.test", password_hash=hash_password(PASSWORD), role=Role.STAFF, now=container.clock.now()
    )
    token = (await login_form(http)).hidden["csrf_token"]
    clinic.clock.advance(timedelta(hours=2, seconds=1))
    response = await http.post(LOGIN, data={"email": "late@clinic.test", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403


# ---- logout and the idle timeout -----------------------------------------------------------------------------


async def test_logout_ends_the_session_and_is_audited(
    client: httpx.AsyncClient, container: Container, make_user: Any
) -> None:
    email, _ = await make_user()
    await sign_in(client, email)
    old = client.cookies["mc_session"]
    response = await client.post("/console/logout", data={"csrf_token": await console_csrf(client)})
    assert response.status_code == 303 and response.headers["location"] == LOGIN
    assert "max-age=0" in flags(set_cookies(response)["mc_session"])
    assert await container.repos.console_sessions.count() == 0

    # The old cookie value no longer opens anything, even when a client keeps sending it.
    client.cookies.set("mc_session", old)
    again = await client.get("/console")
    assert again.status_code == 303 and again.headers["location"] == LOGIN

    records, _ = await container.repos.audit.page(skip=0, limit=10)
    actions = [(r.action, r.outcome, r.actor, r.resource) for r in records]
    assert ("console.logout", AuditOutcome.SUCCESS, email, "auth") in actions
    assert ("console.login", AuditOutcome.SUCCESS, email, "auth") in actions


async def test_a_session_idle_past_console_session_minutes_is_signed_out(clinic: Clinic) -> None:
    http, container, clock = clinic.http, clinic.container, clinic.clock
    await container.repos.users.create_or_reset(
        email="idle@clinic.test", password_hash=hash_password(PASSWORD), role=Role.STAFF, now=clock.now()
    )
    await sign_in(http, "idle@clinic.test")
    sessions = container.repos.console_sessions
    token_hash = sha256_hex(http.cookies["mc_session"])
    first = await sessions.live(token_hash, now=clock.now())
    assert first is not None

    clock.advance(timedelta(seconds=30))
    assert (await http.get("/console")).status_code == 200
    unchanged = await sessions.live(token_hash, now=clock.now())
    assert unchanged is not None and unchanged.expires_at == first.expires_at  # at most one write a minute

    clock.advance(timedelta(minutes=29))  # 29.5 minutes after sign-in: still alive, and now slid forward
    assert (await http.get("/console")).status_code == 200
    slid = await sessions.live(token_hash, now=clock.now())
    assert slid is not None and slid.expires_at == clock.now() + timedelta(minutes=30)

    clock.advance(timedelta(minutes=29))  # past the first expiry, inside the slid one
    assert (await http.get("/console")).status_code == 200

    clock.advance(timedelta(minutes=30, seconds=1))
    response = await http.get("/console")
    assert response.status_code == 303 and response.headers["location"] == LOGIN


# ---- roles and where to go after signing in ------------------------------------------------------------------


async def test_staff_get_403_on_the_audit_page_and_admins_see_it(client: httpx.AsyncClient, make_user: Any) -> None:
    staff, _ = await make_user()
    await sign_in(client, staff)
    page = html_page(await client.get("/console/audit"), 403)
    assert page.h1 == "Not allowed" and "admin role" in page.html
    await client.post("/console/logout", data={"csrf_token": await console_csrf(client)})

    admin, _ = await make_user("boss@clinic.test", role=Role.ADMIN)
    await sign_in(client, admin)
    dashboard = html_page(await client.get("/console"), 200)
    assert "nav-audit" in dashboard.ids
    audit = html_page(await client.get("/console/audit"), 200)
    assert audit.h1 == "Audit log" and audit.ids["audit-table"]
    assert "console.logout" in audit.html and "console.login" in audit.html


async def test_not_signed_in_pages_redirect_to_sign_in_with_next(client: httpx.AsyncClient, make_user: Any) -> None:
    response = await client.get("/console/audit")
    assert response.status_code == 303 and response.headers["location"] == "/console/login?next=/console/audit"
    form = await login_form(client, response.headers["location"])
    assert form.hidden["next"] == "/console/audit"
    assert (await client.post("/console/logout")).headers["location"] == LOGIN  # a POST is sent to sign in too

    admin, _ = await make_user("boss@clinic.test", role=Role.ADMIN)
    signed = await sign_in(client, admin, next_path=form.hidden["next"])
    assert signed.status_code == 303 and signed.headers["location"] == "/console/audit"
    # Signed in already: the sign-in page sends on at once.
    again = await client.get("/console/login?next=/console/audit")
    assert again.status_code == 303 and again.headers["location"] == "/console/audit"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil",
        "/console//evil.example",
        "/console\\evil",
        "/consolex",
        "/console/\x00",
        "http://testserver/console",
        "/book",
        "",
    ],
)
async def test_next_refuses_anything_but_a_console_path(client: httpx.AsyncClient, make_user: Any, target: str) -> None:
    email, _ = await make_user()
    response = await sign_in(client, email, next_path=target)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    assert safe_next(target) == "/console"


@pytest.mark.parametrize("target", ["/console", "/console/audit", "/console/campaigns?status=handoff&page=2"])
def test_next_keeps_a_console_path(target: str) -> None:
    assert safe_next(target) == target


async def test_console_errors_are_pages(client: httpx.AsyncClient, app: FastAPI) -> None:
    page = html_page(await client.get("/console/no-such-page"), 404)
    assert page.ids["console-link"]["href"] == "/console"
    assert app.state.container.settings.CONSOLE_SESSION_MINUTES == 30
