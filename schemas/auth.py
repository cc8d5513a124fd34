"""Auth API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

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
