"""Auth API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from core.security import MAX_PASSWORD_LENGTH
from models.enums import Role


class TokenRead(BaseModel):
    """A bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class UserRead(BaseModel):
    """A staff user without secrets."""

    id: str
    email: str
    role: Role
    is_active: bool
    created_at: datetime


MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit


class LoginForm(BaseModel):
    """The OAuth2 password form (username = email), bounded before anything is hashed."""

    username: str = Field(max_length=MAX_EMAIL_LENGTH)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, json_schema_extra={"format": "password"})
    grant_type: str | None = Field(default=None, pattern="^password$")
