"""The staff console: sign in and out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ClientIP, ConsoleSessionsDep
from core.errors import ServiceUnavailable, TooManyRequests, Unauthorized
from domain.console_sessions import ConsoleSessionService
from schemas.auth import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH
from web.console import (
    HOME,
    LOGIN,
    ConsoleForm,
    clear_cookie,
    login_cookie,
    safe_next,
    session_cookie,
    set_cookie,
)
from web.errors import wait_words
from web.forms import SEE_OTHER, FormText
from web.rendering import page

router = APIRouter(include_in_schema=False)


def render_login(
    request: Request,
    sessions: ConsoleSessionService,
    *,
    next_path: str,
    email: str = "",
    title: str = "",
    message: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in form with a fresh form token, also set as its cookie (double submit)."""
    token = sessions.login_form_token()
    context: dict[str, Any] = {
        "form_token": token,
        "next": next_path if next_path != HOME else "",
        "email": email,
        "message_title": title,
        "message": message,
    }
    response = page(request, "console/login.html", context, status_code=status_code, headers=headers)
    set_cookie(response, sessions.settings, login_cookie(sessions.settings), token)
    return response


@router.get(LOGIN, response_class=HTMLResponse)
async def login_page(
    request: Request, sessions: ConsoleSessionsDep, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """The sign-in form; already signed in, straight on to where `next` points."""
    target = safe_next(next_path)
    if await sessions.resolve(request.cookies.get(session_cookie(sessions.settings))):
        return RedirectResponse(target, status_code=SEE_OTHER)
    return render_login(request, sessions, next_path=target)


@router.post(LOGIN, response_class=HTMLResponse)
async def login(
    request: Request,
    sessions: ConsoleSessionsDep,
    ip: ClientIP,
    email: FormText = "",
    password: FormText = "",
    csrf_token: FormText = "",
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Sign in with the API's credential check; then 303 to the dashboard (or a console `next`)."""
    settings = sessions.settings
    target = safe_next(next_path)
    shown_email = email[:MAX_EMAIL_LENGTH]

    def again(status_code: int, title: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return render_login(
            request,
            sessions,
            next_path=target,
            email=shown_email,
            title=title,
            message=message,
            status_code=status_code,
            headers=headers,
        )

    if not sessions.login_form_ok(request.cookies.get(login_cookie(settings)), csrf_token):
        return again(403, "Please try again", "The sign-in form had expired. Please enter your details again.")
    wrong = ("Could not sign you in", "Incorrect email or password.")
    if not email or not password or len(email) > MAX_EMAIL_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        return again(401, *wrong)
    try:
        created = await sessions.sign_in(email, password, ip=ip)
    except Unauthorized:
        return again(401, *wrong)
    except TooManyRequests as exc:
        given = (exc.headers or {}).get("Retry-After", "")
        seconds = int(given) if given.isdigit() else settings.LOGIN_LOCKOUT_MINUTES * 60
        why = "this address" if exc.error == "rate_limited" else "this account"
        message = f"There were too many sign-in attempts for {why}. You can try again {wait_words(seconds)}."
        return again(429, "Sign-in is paused", message, {"Retry-After": str(seconds)})
    except ServiceUnavailable as exc:
        message = "Too many people are signing in at once. Please try again in a moment."
        return again(503, "Sign-in is busy", message, dict(exc.headers or {}))
    response = RedirectResponse(target, status_code=SEE_OTHER)
    set_cookie(response, settings, session_cookie(settings), created.token)
    clear_cookie(response, settings, login_cookie(settings))
    return response


@router.post("/console/logout")
async def logout(request: Request, user: ConsoleForm, sessions: ConsoleSessionsDep, ip: ClientIP) -> Response:
    """End the session (the form's CSRF token is checked first), then 303 to the sign-in page."""
    settings = sessions.settings
    await sessions.sign_out(request.cookies.get(session_cookie(settings), ""), user, ip=ip)
    response = RedirectResponse(LOGIN, status_code=SEE_OTHER)
    clear_cookie(response, settings, session_cookie(settings))
    return response
