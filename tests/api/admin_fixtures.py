"""Helpers for the admin API tests: an app on a given clock, staff tokens valid in real time, raw documents."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from core.clock import Clock
from core.config import Settings
from core.container import Container
from core.keys import derive_key
from core.security import create_access_token
from main import create_app
from models.enums import Role
from tests.support import TEST_JWT_SECRET


@dataclass
class Served:
    """A running app, its container and an in-process client."""

    app: FastAPI
    container: Container
    client: httpx.AsyncClient

    async def headers(self, role: Role = Role.STAFF) -> dict[str, str]:
        """A user of the role and a bearer token for it, signed with the real time (PyJWT checks exp against it)."""
        now = datetime.now(UTC)
        await self.container.db.users.insert_one(
            {
                "_id": (user_id := ObjectId()),
                "email": f"{role.value}-{uuid.uuid4().hex[:6]}@clinic.test",
                "password_hash": "unused",
                "role": role.value,
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
        token = create_access_token(
            subject=str(user_id),
            role=role.value,
            key=derive_key(TEST_JWT_SECRET, "access"),
            algorithm="HS256",
            expires=timedelta(minutes=30),
            now=now,
        )
        return {"Authorization": f"Bearer {token}"}


def app_starter(mongo_uri: str, db_name: str) -> Callable[..., Any]:
    """An async context manager factory: the app with given settings and clock; its database dropped afterwards."""

    @asynccontextmanager
    async def start(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Served]:
        app = create_app(settings, clock=clock)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
            ):
                yield Served(app, app.state.container, client)
        finally:
            async with AsyncMongoClient[dict[str, Any]](mongo_uri) as cleanup:
                await cleanup.drop_database(db_name)

    return start


def patient_doc(name: str, email: str | None, *, at: datetime, phone: str | None = None) -> dict[str, Any]:
    """A raw patient document."""
    return {
        "_id": ObjectId(),
        "name": name,
        "email": email,
        "phone": phone,
        "timezone": None,
        "opted_out_channels": [],
        "created_at": at,
        "updated_at": at,
    }


def campaign_doc(
    patient_id: ObjectId,
    campaign_type: str,
    status: str,
    *,
    created_at: datetime,
    converted_at: datetime | None = None,
    updated_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A raw campaign document."""
    return {
        "_id": ObjectId(),
        "patient_id": patient_id,
        "campaign_type": campaign_type,
        "status": status,
        "channel": "email",
        "follow_up_details": {
            "attempts_made": 1,
            "max_attempts": 3,
            "next_follow_up_at": None,
            "last_attempt_at": None,
            "cadence_days": [2, 5, 10],
        },
        "engagement_summary": "",
        "handoff": None,
        "failure_reason": None,
        "converted_at": converted_at,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
        "lease": None,
        **extra,
    }


def interaction_doc(
    campaign_id: ObjectId, patient_id: ObjectId, direction: str, at: datetime, body: str, **extra: Any
) -> dict[str, Any]:
    """A raw interaction document."""
    return {
        "_id": ObjectId(),
        "campaign_id": campaign_id,
        "patient_id": patient_id,
        "direction": direction,
        "channel": "email",
        "timestamp": at,
        "body": body,
        "summary": f"summary of {body}",
        "intent": None,
        **extra,
    }


def appointment_doc(patient_id: ObjectId, start: datetime, status: str) -> dict[str, Any]:
    """A raw appointment document."""
    return {
        "_id": ObjectId(),
        "patient_id": patient_id,
        "campaign_id": None,
        "doctor": "Dr. Smith",
        "service": "Check-up",
        "start": start,
        "duration_minutes": 30,
        "status": status,
        "manage_token_hash": None,
        "created_at": start - timedelta(days=3),
        "updated_at": start,
    }
