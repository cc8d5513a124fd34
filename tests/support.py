"""Helpers shared by tests: the test JWT secret and a logged-in staff account."""

from __future__ import annotations

from typing import Any

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
