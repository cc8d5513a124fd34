"""The demo seed and the create_admin command."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections import defaultdict
from datetime import time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import CliRunner

from core.clock import FixedClock
from core.config import Settings
from core.container import Container
from db.repositories.base import Repository
from models.appointment import Appointment, SlotClaim
from models.base import Document, new_id
from models.enums import ATTEMPTING_STATUSES, AppointmentStatus, CampaignStatus, Direction, Role
from models.interaction import Interaction
from models.patient import Patient
from models.system import KbArticle
from scripts import create_admin
from scripts.create_admin import WeakPasswordError, create_or_reset_admin
from scripts.seed_demo import DEFAULT_DEMO_ADMIN_PASSWORD, DEMO_ADMIN_EMAIL, ensure_demo_admin, is_empty, seed

ROOT = Path(__file__).resolve().parents[2]
D = TypeVar("D", bound=Document)
REPLIED = (CampaignStatus.ENGAGED, CampaignStatus.HANDOFF, CampaignStatus.DECLINED, CampaignStatus.BOOKING_COMPLETED)


async def everything(repo: Repository[D]) -> list[D]:
    """Every document of a repository's collection."""
    return [repo.model.from_mongo(doc) async for doc in repo.collection.find({})]


async def stored_counts(container: Container) -> dict[str, int]:
    """Documents per collection the seed writes."""
    repos = container.repos
    named: dict[str, Repository[Any]] = {
        "patients": repos.patients,
        "campaigns": repos.campaigns,
        "interactions": repos.interactions,
        "appointments": repos.appointments,
        "slot_claims": repos.slot_claims,
        "kb_articles": repos.kb_articles,
    }
    return {name: await repo.count() for name, repo in named.items()}


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """POST the login form."""
    return await client.post("/api/v1/auth/login", data={"username": email, "password": password})


@pytest.fixture(autouse=True)
def _default_demo_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)


async def test_seed_twice_writes_the_same_documents(container: Container) -> None:
    assert await is_empty(container)

    first = await seed(container, patients=60, progress=False)
    after_first = await stored_counts(container)
    second = await seed(container, patients=60, progress=False)
    after_second = await stored_counts(container)

    assert not await is_empty(container)
    assert first == second
    assert after_first == after_second == first
    assert after_first["patients"] == 60
    assert 60 <= after_first["campaigns"] <= 60 * 1.4
    assert after_first["kb_articles"] >= 12


async def test_seed_on_a_later_day_leaves_no_stale_or_overlapping_visits(container: Container) -> None:
    await seed(container, patients=60, progress=False)
    before = await stored_counts(container)
    container.clock = FixedClock(container.clock.now() + timedelta(days=3, hours=7))

    counts = await seed(container, patients=60, progress=False)

    after = await stored_counts(container)
    assert after == counts
    assert {k: after[k] for k in ("patients", "campaigns", "interactions")} == {
        k: before[k] for k in ("patients", "campaigns", "interactions")
    }
    appointments: list[Appointment] = await everything(container.repos.appointments)
    held = [a for a in appointments if a.status is not AppointmentStatus.CANCELLED]
    assert after["slot_claims"] == sum(a.duration_minutes // 15 for a in held)


async def test_seed_keeps_clear_of_slots_booked_by_others(container: Container) -> None:
    await seed(container, patients=60, progress=False)
    appointments: list[Appointment] = await everything(container.repos.appointments)
    visit = next(a for a in appointments if a.status is AppointmentStatus.BOOKED)
    buckets = [visit.start + k * timedelta(minutes=15) for k in range(visit.duration_minutes // 15)]
    # The patient gave the slot up and someone else booked it through the app.
    await container.repos.slot_claims.release_for_appointments([visit.id])
    other = new_id()
    await container.repos.slot_claims.upsert_many(
        [SlotClaim(id=new_id(), doctor=visit.doctor, bucket_start=b, appointment_id=other) for b in buckets]
    )

    await seed(container, patients=60, progress=False)

    claims: list[SlotClaim] = await everything(container.repos.slot_claims)
    assert sorted(c.bucket_start for c in claims if c.appointment_id == other) == buckets
    moved = await container.repos.appointments.get(visit.id)
    assert moved is None or moved.start != visit.start or moved.doctor != visit.doctor


async def test_seeded_campaigns_cover_every_status_coherently(container: Container) -> None:
    await seed(container, patients=60, progress=False)
    now = container.clock.now()
    campaigns = await everything(container.repos.campaigns)
    by_id = {c.id: c for c in campaigns}
    patients = {p.id: p for p in await everything(container.repos.patients)}

    assert {c.status for c in campaigns} == set(CampaignStatus)
    for c in campaigns:
        assert c.patient_id in patients
        assert now - timedelta(days=14 * 31) <= c.created_at <= now
        if c.status in ATTEMPTING_STATUSES:
            assert c.follow_up_details.next_follow_up_at is not None
            assert c.follow_up_details.next_follow_up_at > now
        if c.status is CampaignStatus.BOOKING_COMPLETED:
            assert c.converted_at is not None and c.created_at < c.converted_at <= now
        else:
            assert c.converted_at is None
        if c.status is CampaignStatus.HANDOFF:
            assert c.handoff is not None and c.handoff.reason and c.handoff.at is not None
            assert c.handoff.at >= c.created_at

    interactions: list[Interaction] = await everything(container.repos.interactions)
    replies: dict[str, list[Interaction]] = defaultdict(list)
    for item in interactions:
        assert item.campaign_id is not None
        campaign = by_id[item.campaign_id]
        assert campaign.created_at <= item.timestamp <= now
        assert item.patient_id == campaign.patient_id
        assert item.body
        if item.direction is Direction.INCOMING:
            replies[campaign.id].append(item)
    for c in campaigns:
        if c.status in REPLIED:
            assert replies[c.id], c.status
            assert all(reply.intent is not None for reply in replies[c.id])
        else:
            assert not replies[c.id]


async def test_seeded_patients_look_real(container: Container) -> None:
    await seed(container, patients=60, progress=False)
    patients: list[Patient] = await everything(container.repos.patients)

    emails = [p.email for p in patients]
    assert len(set(emails)) == len(emails)
    assert all(e is not None and e.endswith("@example.com") for e in emails)
    phones = [p.phone for p in patients if p.phone]
    assert 0 < len(phones) < len(patients)
    assert all(p.startswith("+1555") and len(p) == 12 and p[1:].isdigit() for p in phones)
    assert len({p.name for p in patients}) > 40


async def test_seeded_appointments_never_overlap_and_cover_every_status(
    container: Container, settings: Settings
) -> None:
    await seed(container, patients=60, progress=False)
    now = container.clock.now()
    appointments: list[Appointment] = await everything(container.repos.appointments)
    claims: list[SlotClaim] = await everything(container.repos.slot_claims)

    assert {a.status for a in appointments} == set(AppointmentStatus)
    held = [a for a in appointments if a.status is not AppointmentStatus.CANCELLED]
    assert len(claims) == sum(a.duration_minutes // 15 for a in held)
    assert {c.appointment_id for c in claims} == {a.id for a in held}

    by_doctor: dict[str, list[Appointment]] = defaultdict(list)
    for a in held:
        by_doctor[a.doctor].append(a)
    assert settings.CONSULTING_DOCTOR in by_doctor
    for visits in by_doctor.values():
        visits.sort(key=lambda a: a.start)
        for before, after in itertools.pairwise(visits):
            assert before.start + timedelta(minutes=before.duration_minutes) <= after.start

    def minutes(t: time) -> int:
        return t.hour * 60 + t.minute

    for a in appointments:
        local = a.start.astimezone(settings.zone)
        assert local.minute in (0, 30) and local.second == 0
        assert minutes(settings.CLINIC_OPEN) <= minutes(local.time())
        assert minutes(local.time()) + a.duration_minutes <= minutes(settings.CLINIC_CLOSE)
        if a.status is AppointmentStatus.BOOKED:
            assert a.start > now
        elif a.status in (AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW):
            assert a.start + timedelta(minutes=a.duration_minutes) <= now


async def test_seeded_knowledge_base_uses_the_clinic_settings(container: Container, settings: Settings) -> None:
    await seed(container, patients=5, progress=False)
    articles: list[KbArticle] = await everything(container.repos.kb_articles)

    assert len(articles) >= 12
    text = " ".join(a.answer for a in articles)
    assert settings.CLINIC_ADDRESS in text and settings.CLINIC_PHONE in text
    assert settings.CLINIC_OPEN.strftime("%H:%M") in text


async def test_demo_admin_can_log_in(container: Container, client: httpx.AsyncClient) -> None:
    await seed(container, patients=5, progress=False)
    await ensure_demo_admin(container)

    response = await login(client, DEMO_ADMIN_EMAIL, DEFAULT_DEMO_ADMIN_PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"


async def test_demo_admin_password_comes_from_the_environment(
    container: Container, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "another-demo-password")
    await ensure_demo_admin(container)

    assert (await login(client, DEMO_ADMIN_EMAIL, DEFAULT_DEMO_ADMIN_PASSWORD)).status_code == 401
    assert (await login(client, DEMO_ADMIN_EMAIL, "another-demo-password")).status_code == 200


async def test_create_or_reset_admin_creates_then_resets(container: Container, client: httpx.AsyncClient) -> None:
    await create_or_reset_admin(container, "Ops@Clinic.test", "first-long-password", Role.STAFF)
    assert (await login(client, "ops@clinic.test", "first-long-password")).status_code == 200

    user = await create_or_reset_admin(container, "ops@clinic.test", "second-long-password", Role.ADMIN)

    assert user.role is Role.ADMIN
    assert await container.repos.users.count() == 1
    assert (await login(client, "ops@clinic.test", "first-long-password")).status_code == 401
    ok = await login(client, "ops@clinic.test", "second-long-password")
    assert ok.status_code == 200
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {ok.json()['access_token']}"})
    assert me.json()["role"] == "admin"


async def test_create_or_reset_admin_rejects_a_short_password(container: Container) -> None:
    with pytest.raises(WeakPasswordError, match="at least 12"):
        await create_or_reset_admin(container, "ops@clinic.test", "elevenchars", Role.ADMIN)

    assert await container.repos.users.count() == 0


def test_cli_rejects_a_short_password_with_exit_code_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "tiny-secret")

    result = CliRunner().invoke(create_admin.app, ["--email", "ops@clinic.test"])

    assert result.exit_code == 2
    assert "at least 12 characters" in result.output
    assert "tiny-secret" not in result.output


async def test_cli_creates_an_account_that_can_log_in(client: httpx.AsyncClient, settings: Settings) -> None:
    password = "a-long-cli-password"
    env = {
        **os.environ,
        "ADMIN_PASSWORD": password,
        "MONGO_URI": settings.mongo_uri,
        "MONGO_DB_NAME": settings.MONGO_DB_NAME,
        "ENVIRONMENT": "test",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.create_admin",
        "--email",
        "cli@clinic.test",
        "--role",
        "staff",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, err.decode()
    assert password not in (out + err).decode()
    response = await login(client, "cli@clinic.test", password)
    assert response.status_code == 200, response.text
