"""Staff login and identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from api.deps import AuthServiceDep, ClientIP, CurrentStaff
from schemas.auth import LoginForm, TokenRead, UserRead
from schemas.common import BODY_ERRORS, error_responses

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=TokenRead,
    responses=error_responses(
        *BODY_ERRORS,
        401,
        429,
        503,
        notes={401: "Unknown user or wrong password (the same answer)", 429: "Too many failed logins"},
    ),
)
async def login(form: Annotated[LoginForm, Form()], auth: AuthServiceDep, ip: ClientIP) -> TokenRead:
    """Exchange email (as username) and password for a bearer token."""
    issued = await auth.login(form.username, form.password, ip=ip)
    return TokenRead(access_token=issued.access_token, expires_in=issued.expires_in)


@router.get("/me", response_model=UserRead, responses=error_responses(401, 503))
async def me(user: CurrentStaff) -> UserRead:
    """The logged-in user."""
    return UserRead.model_validate(user.model_dump())
