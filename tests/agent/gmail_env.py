"""Helpers of the Gmail reply tests: an app wired to the fake Gmail, a seeded patient, a patient's reply."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx

from core.container import Container
from models.base import new_id
from models.campaign import Campaign
from services.gmail.fake_server import FakeGmailServer
from tests.agent.conversation import seed_conversation

CLINIC = "frontdesk@brightsmiles.test"
PUSH_TOKEN = "push-secret-0123456789"


@dataclass
class Env:
    http: httpx.AsyncClient
    container: Container
    gmail: FakeGmailServer
    staff: dict[str, str]

    async def push(
        self, history_id: int, message_id: str, token: str = PUSH_TOKEN, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        data = base64.b64encode(json.dumps({"emailAddress": CLINIC, "historyId": history_id}).encode()).decode()
        envelope = {
            "message": {"data": data, "messageId": message_id, "publishTime": "2026-11-26T10:00:00Z"},
            "subscription": "projects/p/subscriptions/s",
        }
        return await self.http.post(f"/pubsub/push?token={token}", json=envelope, headers=headers or {})

    async def settle(self) -> None:
        await self.container.drain(timeout=30)


async def seed(container: Container, email: str = "ann@example.com", name: str = "Ann Lee") -> tuple[Campaign, str]:
    """A patient in a recall campaign whose outreach email carried a Message-ID we can be replied to."""
    return await seed_conversation(container, email=email, name=name)


def reply_from(
    env: Env, our_header: str, text: str | None, *, email: str = "ann@example.com", **extra: Any
) -> tuple[str, str]:
    return env.gmail.add_incoming(
        f"Ann Lee <{email}>",
        "Re: Time for your check-up",
        text,
        message_id_header=f"<patient-{new_id()}@example.com>",
        in_reply_to=our_header,
        references=our_header,
        **extra,
    )
