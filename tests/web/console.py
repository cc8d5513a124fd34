"""Helpers for the console's route tests: sign in the way a browser does, and read a page's CSRF token."""

from __future__ import annotations

import httpx

from core.container import Container
from core.security import hash_password
from models.enums import Role
from tests.web.pages import Page, html_page

LOGIN = "/console/login"
PASSWORD = "correct horse battery"


async def login_form(http: httpx.AsyncClient, path: str = LOGIN) -> Page:
    """The sign-in page (its form token is now also the client's cookie)."""
    return html_page(await http.get(path), 200)


async def sign_in(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, *, next_path: str | None = None
) -> httpx.Response:
    """Fill in and post the sign-in form the way a browser does."""
    form = await login_form(http)
    data = {"email": email, "password": password, "csrf_token": form.hidden["csrf_token"]}
    if next_path is not None:
        data["next"] = next_path
    return await http.post(LOGIN, data=data)


async def console_csrf(http: httpx.AsyncClient, path: str = "/console") -> str:
    """The CSRF token a signed-in console page's forms carry."""
    return html_page(await http.get(path), 200).hidden["csrf_token"]


async def signed_in(
    http: httpx.AsyncClient, container: Container, email: str = "staff@clinic.test", *, role: Role = Role.STAFF
) -> str:
    """Create the account, sign `http` in with it, and return the session's CSRF token."""
    await container.repos.users.create_or_reset(
        email=email, password_hash=hash_password(PASSWORD), role=role, now=container.clock.now()
    )
    response = await sign_in(http, email)
    assert response.status_code == 303, response.text
    return await console_csrf(http)
