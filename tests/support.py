"""Helpers shared by tests: the test JWT secret, a logged-in staff account, campaign booking links."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from core.config import Settings
from core.logging import make_handler
from domain.campaign_links import verify_campaign_token

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


async def staff_headers(
    http: Any, container: Any, *, email: str = "desk@clinic.test", role: Any = None
) -> dict[str, str]:
    """Create (or reset) a staff account in the container's database and log in through the API."""
    from core.security import hash_password
    from models.enums import Role

    password = "pw-1234567890"
    await container.repos.users.create_or_reset(
        email=email, password_hash=hash_password(password), role=role or Role.STAFF, now=container.clock.now()
    )
    response = await http.post("/api/v1/auth/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


_CAMPAIGN_TOKEN = re.compile(r"[?&]c=([A-Za-z0-9_-]+)")


def campaign_ids_linked(text: str, settings: Settings, *, now: datetime) -> list[str | None]:
    """The campaign each `?c=` booking link in `text` names (None for a token that does not verify)."""
    return [verify_campaign_token(settings, token, now=now) for token in _CAMPAIGN_TOKEN.findall(text)]


def without_campaign_token(url: str, settings: Settings, *, now: datetime) -> str:
    """The URL with a valid `?c=` campaign token taken off (an invalid one stays, so a comparison fails)."""
    match = _CAMPAIGN_TOKEN.search(url)
    if match is None or verify_campaign_token(settings, match.group(1), now=now) is None:
        return url
    return url[: match.start()] + url[match.end() :]


@contextmanager
def root_log_capture() -> Iterator[io.StringIO]:
    """Everything logged while inside, as the production JSON handler renders it."""
    stream = io.StringIO()
    handler = make_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
