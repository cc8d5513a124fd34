"""The unsubscribe pages on both paths: GET asks and changes nothing, POST (also RFC 8058 one-click) opts out."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import httpx
import pytest

from core.container import Container
from domain.consent import UNSUBSCRIBE_PURPOSE, unsubscribe_url
from models.enums import Channel
from tests.web.pages import html_page

PATHS = ("/unsubscribe", "/api/v1/unsubscribe")
ONE_CLICK = {"content": "List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


async def patient_token(container: Container) -> tuple[str, str]:
    now = container.clock.now()
    patient, _ = await container.repos.patients.find_or_create(
        name="Ann Lee", email="ann@example.org", phone=None, now=now
    )
    return patient.id, unsubscribe_url(container.settings, patient.id, now=now).rpartition("/")[2]


async def opted_out(container: Container, patient_id: str) -> list[Channel]:
    patient = await container.repos.patients.get(patient_id)
    assert patient is not None
    return patient.opted_out_channels


@pytest.mark.parametrize("prefix", PATHS)
async def test_get_asks_and_post_opts_out(client: httpx.AsyncClient, container: Container, prefix: str) -> None:
    patient_id, token = await patient_token(container)
    page = html_page(await client.get(f"{prefix}/{token}"), 200)
    assert page.h1 == "Stop emails from Your Clinic Name?" and "unsubscribe-button" in page.ids
    assert await opted_out(container, patient_id) == []
    done = html_page(await client.post(f"{prefix}/{token}"), 200)
    assert done.h1 == "You are unsubscribed" and await opted_out(container, patient_id) == [Channel.EMAIL]
    assert html_page(await client.post(f"{prefix}/{token}"), 200).h1 == "You are unsubscribed"  # idempotent


@pytest.mark.parametrize("prefix", PATHS)
async def test_one_click_post_opts_out(client: httpx.AsyncClient, container: Container, prefix: str) -> None:
    patient_id, token = await patient_token(container)
    assert (await client.post(f"{prefix}/{token}", **ONE_CLICK)).status_code == 200  # type: ignore[arg-type]
    assert await opted_out(container, patient_id) == [Channel.EMAIL]


@pytest.mark.parametrize("prefix", PATHS)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_invalid_link_is_a_friendly_404_page(client: httpx.AsyncClient, prefix: str, method: str) -> None:
    for token in ("not-a-token", "a" * 500, "bad$token"):
        page = html_page(await client.request(method, f"{prefix}/{token}"), 404)
        assert page.h1 == "This link is not valid" and "+1-555-123-4567" in page.html


async def test_an_overlong_token_is_refused_before_it_is_checked(
    client: httpx.AsyncClient, container: Container
) -> None:
    """A correctly signed token padded past 400 characters still opens nothing: the length is bounded first."""
    patient_id, _ = await patient_token(container)
    expires = int((container.clock.now() + timedelta(days=1)).timestamp())
    payload = f"{patient_id}.{expires}.{'n' * 400}"
    mac = hmac.new(container.settings.key("unsubscribe"), f"{UNSUBSCRIBE_PURPOSE}:{payload}".encode(), hashlib.sha256)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    token = f"{b64(payload.encode())}.{b64(mac.digest())}"
    assert len(token) > 400
    html_page(await client.post(f"/unsubscribe/{token}"), 404)
    assert await opted_out(container, patient_id) == []
