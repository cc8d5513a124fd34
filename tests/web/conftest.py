"""Page-test fixtures: the app on a fixed clock (Monday 2 December 2030, 08:00 in Berlin), seeded campaigns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from core.clock import FixedClock
from core.config import Settings
from core.container import Container
from main import create_app
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType
from models.patient import Patient

MONDAY_8AM_BERLIN = datetime(2030, 12, 2, 7, 0, tzinfo=UTC)


@dataclass
class Clinic:
    """A running app on a fixed clock and a client for it."""

    http: httpx.AsyncClient
    container: Container
    clock: FixedClock


@pytest.fixture
def clinic_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Two doctors and a named clinic."""
    return make_settings(
        CLINIC_DOCTORS="Dr. Patel",
        CLINIC_NAME="Riverside Dental",
        CLINIC_PHONE="+49 30 1234567",
        CLINIC_ADDRESS="Uferstrasse 12, 10115 Berlin",
        PUBLIC_BASE_URL="https://clinic.test",
        EMAIL_BACKEND="disabled",
    )


@pytest.fixture
async def clinic(clinic_settings: Settings, mongo_uri: str, db_name: str) -> AsyncIterator[Clinic]:
    """The app with its lifespan running on the fixed clock; its database is dropped afterwards."""
    clock = FixedClock(MONDAY_8AM_BERLIN)
    app = create_app(clinic_settings, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield Clinic(http, app.state.container, clock)
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as cleanup:
        await cleanup.drop_database(db_name)


async def seed_campaigns(container: Container, *, count: int, email: str = "ann.lee@example.com") -> list[Campaign]:
    """A patient with `count` active recall campaigns."""
    now = container.clock.now()
    patient = Patient(id=new_id(), name="Ann Lee", email=email, created_at=now, updated_at=now)
    await container.repos.patients.insert(patient)
    campaigns = []
    for _ in range(count):
        campaign = Campaign(
            id=new_id(),
            patient_id=patient.id,
            campaign_type=CampaignType.RECALL,
            status=CampaignStatus.ATTEMPTING_RECALL,
            follow_up_details=FollowUpDetails(attempts_made=1, next_follow_up_at=now),
            created_at=now,
            updated_at=now,
        )
        await container.repos.campaigns.insert(campaign)
        campaigns.append(campaign)
    return campaigns
