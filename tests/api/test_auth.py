"""Login, tokens, lockout, roles, audit — and no PHI or secret in the logs while doing it."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from api.deps import CurrentAdmin
from core.clock import FixedClock
from core.container import Container
from core.keys import derive_key
from core.security import create_access_token
from main import create_app
from models.enums import AuditOutcome, Role
from tests.support import TEST_JWT_SECRET, root_log_capture

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
STAFF_PHONE = "+15557654321"


@pytest.fixture(autouse=True)
def captured_logs(app: FastAPI) -> Iterator[io.StringIO]:
    """Everything the app logs during each auth test, as the production handler renders it."""
    with root_log_capture() as stream:
        yield stream
    output = stream.getvalue()
    # Whatever the test did, no address, phone number or token may have reached the logs.
    assert "@clinic.test" not in output.lower()
    assert "eyJ" not in output
    assert "+1555" not in output and "5557654321" not in output


async def test_login_returns_bearer_token_and_me_works(client: httpx.AsyncClient, make_user: Any) -> None:
    email, password = await make_user("Nurse@Clinic.test")
    response = await client.post(LOGIN, data={"username": email, "password": password})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 30 * 60
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "nurse@clinic.test" and me.json()["role"] == "staff"
    assert "password_hash" not in me.json()
    claims = jwt.decode(body["access_token"], derive_key(TEST_JWT_SECRET, "access"), algorithms=["HS256"])
    assert {"sub", "role", "iat", "exp"} <= claims.keys()


async def test_wrong_password_and_unknown_user_are_identical(client: httpx.AsyncClient, make_user: Any) -> None:
    email, _ = await make_user()
    wrong = await client.post(LOGIN, data={"username": email, "password": "wrong password!"})
    unknown = await client.post(LOGIN, data={"username": "ghost@clinic.test", "password": "wrong password!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "invalid_credentials", "detail": "Incorrect email or password"}
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"


async def test_lockout_after_repeated_failures(client: httpx.AsyncClient, make_user: Any) -> None:
    email, password = await make_user()
    for _ in range(5):
        response = await client.post(LOGIN, data={"username": email, "password": "nope-nope-nope"})
        assert response.status_code == 401
    locked = await client.post(LOGIN, data={"username": email, "password": password})
    assert locked.status_code == 429
    assert locked.json()["error"] == "account_locked"
    # Unknown accounts lock the same way, so lockout reveals nothing about which accounts exist.
    for _ in range(5):
        await client.post(LOGIN, data={"username": "ghost@clinic.test", "password": "x"})
    assert (await client.post(LOGIN, data={"username": "ghost@clinic.test", "password": "x"})).status_code == 429


async def test_lockout_expires(
    make_settings: Callable[..., Any], mongo_uri: str, make_user: Any, container: Container
) -> None:
    email, password = await make_user()
    key_failures = 2
    settings = make_settings(LOGIN_MAX_FAILURES=key_failures, LOGIN_LOCKOUT_MINUTES=1)
    clock = FixedClock(datetime.now(UTC))
    app = create_app(settings, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for _ in range(key_failures):
            assert (await http.post(LOGIN, data={"username": email, "password": "bad"})).status_code == 401
        assert (await http.post(LOGIN, data={"username": email, "password": password})).status_code == 429
        clock.advance(timedelta(minutes=2))
        assert (await http.post(LOGIN, data={"username": email, "password": password})).status_code == 200


async def test_every_login_is_audited(client: httpx.AsyncClient, make_user: Any, container: Container) -> None:
    email, password = await make_user()
    await client.post(LOGIN, data={"username": email, "password": password})
    await client.post(LOGIN, data={"username": email, "password": "bad"})
    records, total = await container.repos.audit.page(skip=0, limit=10)
    assert total == 2
    assert sorted(r.outcome for r in records) == sorted([AuditOutcome.SUCCESS, AuditOutcome.FAILURE])
    assert all(r.action == "login" and r.actor == email and r.ip for r in records)


async def test_missing_login_fields_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, data={"username": "a@b.c"})
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "password"


def _token(
    container: Container,
    user_id: str,
    *,
    secret: str = TEST_JWT_SECRET,
    algorithm: str = "HS256",
    issued: datetime | None = None,
    role: str = "staff",
) -> str:
    return create_access_token(
        subject=user_id,
        role=role,
        key=derive_key(secret, "access"),
        algorithm=algorithm,
        expires=timedelta(minutes=30),
        now=issued or datetime.now(UTC),
    )


async def _user_id(container: Container, make_user: Any) -> str:
    email, _ = await make_user()
    user = await container.repos.users.get_by_email(email)
    assert user is not None
    return user.id


async def test_expired_token_is_401(client: httpx.AsyncClient, container: Container, make_user: Any) -> None:
    token = _token(container, await _user_id(container, make_user), issued=datetime.now(UTC) - timedelta(hours=1))
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"] == "token_expired"


async def test_tampered_token_is_401(client: httpx.AsyncClient, container: Container, make_user: Any) -> None:
    token = _token(container, await _user_id(container, make_user))
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for bad in (f"{header}.{forged}.{signature}", _token(container, "x" * 24, secret="another-secret-" * 4)):
        response = await client.get(ME, headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401


async def test_alg_none_token_is_401(client: httpx.AsyncClient, container: Container, make_user: Any) -> None:
    user_id = await _user_id(container, make_user)
    now = int(datetime.now(UTC).timestamp())
    unsigned = jwt.encode(
        {"sub": user_id, "role": "admin", "iat": now, "exp": now + 600, "type": "access"},
        key=None,  # type: ignore[arg-type]
        algorithm="none",
    )
    response = await client.get(ME, headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401


async def test_token_of_deleted_user_is_401(client: httpx.AsyncClient, container: Container, make_user: Any) -> None:
    user_id = await _user_id(container, make_user)
    token = _token(container, user_id)
    await container.repos.users.delete(user_id)
    assert (await client.get(ME, headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


async def test_staff_gets_403_on_admin_route_and_admin_passes(
    app: FastAPI, client: httpx.AsyncClient, login: Any
) -> None:
    @app.get("/_test/admin-only")
    async def admin_only(user: CurrentAdmin) -> dict[str, str]:
        return {"email": user.email}

    staff = await login(Role.STAFF)
    admin = await login(Role.ADMIN)
    denied = await client.get("/_test/admin-only", headers=staff)
    assert denied.status_code == 403 and denied.json()["error"] == "insufficient_role"
    assert (await client.get("/_test/admin-only", headers=admin)).status_code == 200
    assert (await client.get("/_test/admin-only")).status_code == 401


async def test_logs_hold_no_email_phone_or_token(
    client: httpx.AsyncClient, make_user: Any, captured_logs: io.StringIO
) -> None:
    email, password = await make_user("privacy.check@clinic.test")
    response = await client.post(LOGIN, data={"username": email, "password": password})
    token = response.json()["access_token"]
    await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    await client.post(LOGIN, data={"username": email, "password": "bad password"})
    await client.get(f"/readyz?token={token}&phone={STAFF_PHONE}")
    # Application code that carelessly logs PHI is scrubbed too.
    logging.getLogger("medcampaign.test").warning(
        "contact %s at %s with %s", email, STAFF_PHONE, token, extra={"email": email, "note": f"Bearer {token}"}
    )
    output = captured_logs.getvalue()
    assert output, "expected log lines"
    for secret in (email, STAFF_PHONE, token, password, token.split(".")[1]):
        assert secret not in output
    for line in output.splitlines():
        json.loads(line)
    assert '"route": "/api/v1/auth/login"' in output
