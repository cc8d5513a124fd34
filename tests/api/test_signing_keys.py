"""Tokens signed with the raw JWT_SECRET_KEY, or with another purpose's key, open nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from core.container import Container
from core.security import create_access_token, sign_token
from domain.booking import MANAGE_PURPOSE
from domain.consent import UNSUBSCRIBE_PURPOSE, unsubscribe_url
from tests.support import TEST_JWT_SECRET

RAW_SECRET = TEST_JWT_SECRET.encode()


async def test_a_jwt_signed_with_the_raw_secret_is_refused(
    client: httpx.AsyncClient, container: Container, login: Callable[..., Any]
) -> None:
    derived = await login()
    me = await client.get("/api/v1/auth/me", headers=derived)
    assert me.status_code == 200
    raw = create_access_token(
        subject=me.json()["id"],
        role="staff",
        key=RAW_SECRET,
        algorithm="HS256",
        expires=timedelta(minutes=5),
        now=container.clock.now(),
    )

    refused = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {raw}"})

    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"


async def test_only_an_unsubscribe_token_signed_with_its_own_key_unsubscribes(
    client: httpx.AsyncClient, container: Container
) -> None:
    now = container.clock.now()
    patient, _ = await container.repos.patients.find_or_create(
        name="Ada Lovelace", email="ada@example.org", phone=None, now=now
    )
    expires = now + timedelta(days=1)
    manage_key = container.settings.key("manage")
    as_manage = sign_token(purpose=MANAGE_PURPOSE, subject=patient.id, expires=expires, key=manage_key)
    with_manage_key = sign_token(purpose=UNSUBSCRIBE_PURPOSE, subject=patient.id, expires=expires, key=manage_key)
    with_raw_secret = sign_token(purpose=UNSUBSCRIBE_PURPOSE, subject=patient.id, expires=expires, key=RAW_SECRET)

    for token in (as_manage, with_manage_key, with_raw_secret):
        response = await client.post(f"/api/v1/unsubscribe/{token}")
        assert response.status_code == 404, token
    assert (await container.repos.patients.get(patient.id)).opted_out_channels == []  # type: ignore[union-attr]

    real = unsubscribe_url(container.settings, patient.id, now=now).rpartition("/")[2]
    assert (await client.post(f"/api/v1/unsubscribe/{real}")).status_code == 200
    assert (await container.repos.patients.get(patient.id)).opted_out_channels != []  # type: ignore[union-attr]
