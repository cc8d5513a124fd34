"""Documents written by another tool or an older version (the product guide's shape, none of our added fields).

Each is inserted directly with pymongo, then every read route, the outreach worker and the reply agent read it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from bson import ObjectId

from core.config import Settings
from core.container import Container
from domain.audit import Actor
from main import create_app
from models.enums import Role
from tests.fakes.smtp import SmtpSink
from tests.support import staff_headers

BERLIN = ZoneInfo("Europe/Berlin")
Env = tuple[httpx.AsyncClient, Container, dict[str, str]]


@pytest.fixture
async def env(make_settings: Callable[..., Settings], smtp: SmtpSink) -> AsyncIterator[Env]:
    """The app with SMTP on a loopback sink, an in-process client and admin headers (admins see every route)."""
    settings = make_settings(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        SMTP_STARTTLS=False,
        SMTP_FROM_EMAIL="desk@brightsmiles.test",
        CLINIC_NAME="Bright Smiles",
        PUBLIC_BASE_URL="https://clinic.example",
        OUTREACH_RETRY_DELAYS_SECONDS="0.01",
        QUIET_HOURS_START="00:00",
        QUIET_HOURS_END="00:00",
        BOOKING_RATE_LIMIT_PER_IP=0,
        BOOKING_RATE_LIMIT_PER_EMAIL=0,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        container: Container = app.state.container
        headers = await staff_headers(http, container, role=Role.ADMIN)
        yield http, container, headers
        await container.client.drop_database(settings.MONGO_DB_NAME)


def bookable_day() -> date:
    """A Wednesday at least three days ahead."""
    day = datetime.now(BERLIN).date() + timedelta(days=3)
    while day.weekday() != 2:
        day += timedelta(days=1)
    return day


async def seed_foreign(container: Container) -> dict[str, Any]:
    """Minimal guide-shaped documents: only the fields the product guide's data model names."""
    db = container.db
    now = datetime.now(UTC)
    day = bookable_day()
    olga = {"_id": ObjectId(), "name": "Olga Old", "email": "olga@legacy.example"}
    await db.patients.insert_one(olga)
    handoff = {"_id": ObjectId(), "patient_id": olga["_id"], "campaign_type": "RECOVERY", "status": "HANDOFF"}
    recall_id = ObjectId()
    recall = {
        "_id": recall_id,
        "patient_id": olga["_id"],
        "campaign_type": "RECALL",
        "status": "ENGAGED",
        "follow_up_details": {"attempts_made": 2},
        "engagement_summary": "Asked about prices",
        "created_at": recall_id.generation_time,
    }
    # Nulls where this code always writes a value, and a handoff without its time.
    nell = {"_id": ObjectId(), "name": "Nell Null", "email": None, "consent": None, "opted_out_channels": None}
    await db.patients.insert_one(nell)
    asked = {
        "_id": ObjectId(),
        "patient_id": nell["_id"],
        "campaign_type": "RECALL",
        "status": "HANDOFF",
        "channel": None,
        "follow_up_details": {"attempts_made": None, "cadence_days": None},
        "engagement_summary": None,
        "handoff": {"reason": "asked about prices"},
        "created_at": None,
    }
    await db.campaigns.insert_many([handoff, recall, asked])
    await db.interactions.insert_many(
        [
            {
                "_id": ObjectId(),
                "campaign_id": handoff["_id"],
                "patient_id": olga["_id"],
                "direction": "outgoing",
                "timestamp": now - timedelta(days=2),
                "body": "Time for your check-up",
            },
            {
                "_id": ObjectId(),
                "campaign_id": handoff["_id"],
                "patient_id": olga["_id"],
                "direction": "incoming",
                "channel": "email",
                "timestamp": now - timedelta(days=1),
                "body": "Can I bring my son?",
            },
        ]
    )
    start = datetime.combine(day, time(10, 0), BERLIN).astimezone(UTC)
    appointment = {
        "_id": ObjectId(),
        "patient_id": olga["_id"],
        "doctor": container.settings.CONSULTING_DOCTOR,
        "service": "Check-up",
        "start": start,
        "status": "booked",
    }
    await db.appointments.insert_one(appointment)
    audit = {"_id": ObjectId(), "actor": "legacy-import", "action": "import", "resource": "patients"}
    await db.audit_log.insert_one(audit)
    return {
        "olga": olga,
        "handoff": handoff,
        "recall": recall,
        "asked": asked,
        "appointment": appointment,
        "audit": audit,
        "day": day,
    }


async def test_every_read_route_answers_foreign_documents_with_defaults(env: Env) -> None:
    http, container, headers = env
    seeded = await seed_foreign(container)
    handoff_id, recall_id, asked_id = (str(seeded[k]["_id"]) for k in ("handoff", "recall", "asked"))
    created = seeded["handoff"]["_id"].generation_time

    detail = await http.get(f"/api/v1/admin/campaigns/{handoff_id}", headers=headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert (body["campaign_type"], body["status"], body["channel"]) == ("RECOVERY", "HANDOFF", "email")
    assert body["follow_up_details"] == {
        "attempts_made": 0,
        "max_attempts": 3,
        "next_follow_up_at": None,
        "last_attempt_at": None,
        "cadence_days": [2, 5, 10],
        "nudged_at": None,
    }
    assert body["engagement_summary"] == "" and body["handoff"] is None
    # No creation time stored: the id's own timestamp stands in, and the last update is the creation.
    assert datetime.fromisoformat(body["created_at"]) == created
    assert body["updated_at"] == body["created_at"]
    assert body["patient"]["name"] == "Olga Old" and body["patient"]["opted_out_channels"] == []
    assert datetime.fromisoformat(body["patient"]["created_at"]) == seeded["olga"]["_id"].generation_time
    assert [(m["direction"], m["channel"], m["summary"], m["intent"]) for m in body["conversation"]] == [
        ("outgoing", "email", "", None),
        ("incoming", "email", "", None),
    ]

    partial = await http.get(f"/api/v1/admin/campaigns/{recall_id}", headers=headers)
    assert partial.status_code == 200, partial.text
    assert partial.json()["follow_up_details"]["attempts_made"] == 2
    assert partial.json()["follow_up_details"]["max_attempts"] == 3
    assert datetime.fromisoformat(partial.json()["updated_at"]) == seeded["recall"]["created_at"]

    nulls = await http.get(f"/api/v1/admin/campaigns/{asked_id}", headers=headers)
    assert nulls.status_code == 200, nulls.text
    assert nulls.json()["follow_up_details"]["attempts_made"] == 0
    assert nulls.json()["follow_up_details"]["cadence_days"] == [2, 5, 10]
    assert (nulls.json()["channel"], nulls.json()["engagement_summary"]) == ("email", "")
    assert nulls.json()["handoff"] == {"reason": "asked about prices", "at": None, "resolved_at": None, "note": None}
    assert nulls.json()["patient"]["opted_out_channels"] == [] and nulls.json()["patient"]["email"] is None

    for params in ({}, {"q": "olga"}, {"type": "RECOVERY"}, {"status": "HANDOFF"}, {"sort": "created_at"}):
        listed = await http.get("/api/v1/admin/campaigns", headers=headers, params=params)
        assert listed.status_code == 200, (params, listed.text)
        assert handoff_id in [i["id"] for i in listed.json()["items"]], params
    items = (await http.get("/api/v1/admin/campaigns", headers=headers)).json()["items"]
    assert {i["id"]: i["patient_name"] for i in items} == {
        handoff_id: "Olga Old",
        recall_id: "Olga Old",
        asked_id: "Nell Null",
    }

    queue = await http.get("/api/v1/admin/handoffs", headers=headers)
    assert queue.status_code == 200, queue.text
    waiting = {i["campaign_id"]: i for i in queue.json()["items"]}
    assert set(waiting) == {handoff_id, asked_id} and {w["channel"] for w in waiting.values()} == {"email"}
    assert (waiting[handoff_id]["reason"], waiting[handoff_id]["handoff_at"]) == (None, None)
    assert (waiting[asked_id]["reason"], waiting[asked_id]["handoff_at"]) == ("asked about prices", None)
    assert waiting[handoff_id]["last_incoming"]["body"] == "Can I bring my son?"
    assert waiting[asked_id]["last_incoming"] is None

    stats = await http.get("/api/v1/admin/dashboard-stats", headers=headers)
    assert stats.status_code == 200, stats.text
    kpis = stats.json()["kpis"]
    assert (kpis["active_recovery"], kpis["active_recall"], kpis["handoffs"], kpis["engaged_leads"]) == (1, 2, 2, 1)
    # A campaign without created_at counts as started in the month of its id, as its read model says.
    this_month = stats.json()["charts"]["performance_12m"][-1]
    assert created.astimezone(BERLIN).strftime("%Y-%m") == this_month["month"]
    assert (this_month["recovery_started"], this_month["recall_started"]) == (1, 2)

    day = seeded["day"]
    appointments = await http.get(
        "/api/v1/appointments", headers=headers, params={"from": day.isoformat(), "to": day.isoformat()}
    )
    assert appointments.status_code == 200, appointments.text
    [listed_appointment] = appointments.json()["items"]
    assert listed_appointment["duration_minutes"] == 30 and listed_appointment["patient_name"] == "Olga Old"
    assert datetime.fromisoformat(listed_appointment["created_at"]) == seeded["appointment"]["_id"].generation_time

    free = await http.get(
        "/api/v1/availability", params={"month": day.month, "year": day.year, "date": day.isoformat()}
    )
    assert free.status_code == 200, free.text
    slots = free.json()["days"][0]["slots"]
    # The stored appointment without a duration holds the default 30 minutes: 10:00 is taken, 10:30 is free.
    assert "10:00" not in slots and "09:30" in slots and "10:30" in slots

    audit = await http.get("/api/v1/admin/audit", headers=headers, params={"actor": "legacy-import"})
    assert audit.status_code == 200, audit.text
    [record] = audit.json()["items"]
    assert (record["outcome"], record["ip"], record["patient_id"]) == ("success", None, None)
    assert datetime.fromisoformat(record["at"]) == seeded["audit"]["_id"].generation_time


async def test_manage_view_of_an_appointment_stripped_to_the_guides_fields(env: Env) -> None:
    http, container, _ = env
    day = bookable_day()
    booked = await http.post(
        "/api/v1/appointments/book",
        json={
            "name": "Pat Doe",
            "email": "pat@example.com",
            "date": day.isoformat(),
            "time": "11:00",
            "duration_minutes": 30,
            "service": "Check-up",
        },
    )
    assert booked.status_code == 201, booked.text
    token = booked.json()["manage_url"].rsplit("/", 1)[1]
    # Keep the link's hash (so the token opens it) and drop every field the guide does not name.
    await container.db.appointments.update_one(
        {"_id": ObjectId(booked.json()["id"])},
        {"$unset": {"created_at": "", "updated_at": "", "duration_minutes": "", "campaign_id": ""}},
    )
    view = await http.get(f"/api/v1/appointments/manage/{token}")
    assert view.status_code == 200, view.text
    assert (view.json()["id"], view.json()["duration_minutes"], view.json()["status"]) == (
        booked.json()["id"],
        30,
        "booked",
    )


async def test_outreach_worker_handles_or_skips_campaigns_without_follow_up_details(
    env: Env, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    _, container, _ = env
    db = container.db
    past = datetime.now(UTC) - timedelta(hours=1)
    pia = {"_id": ObjectId(), "name": "Pia Past", "email": "pia@legacy.example"}
    await db.patients.insert_one(pia)
    # Due by its partial follow-up details (no attempts, no maximum, no cadence stored).
    due = {
        "_id": ObjectId(),
        "patient_id": pia["_id"],
        "campaign_type": "RECALL",
        "status": "ATTEMPTING_RECALL",
        "follow_up_details": {"next_follow_up_at": past},
    }
    # No follow-up details at all: nothing schedules it, so the worker leaves it alone.
    unscheduled = {
        "_id": ObjectId(),
        "patient_id": pia["_id"],
        "campaign_type": "RECOVERY",
        "status": "ATTEMPTING_RECOVERY",
    }
    await db.campaigns.insert_many([due, unscheduled])
    outreach = container.outreach()
    with caplog.at_level(logging.ERROR):
        results = await outreach.run_due(limit=10)
        again = await outreach.run_due(limit=10)
    assert [(r.campaign_id, r.action) for r in results] == [(str(due["_id"]), "sent")]
    sent = await db.campaigns.find_one({"_id": due["_id"]})
    assert sent is not None and sent["follow_up_details"]["attempts_made"] == 1
    assert sent["follow_up_details"]["next_follow_up_at"] > datetime.now(UTC)  # the default cadence's first step
    assert again == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert await db.campaigns.find_one({"_id": unscheduled["_id"]}) == unscheduled
    # Staff can still run the unscheduled one by hand; it reads as a first attempt.
    manual = await outreach.trigger(
        str(unscheduled["_id"]), actor=Actor("desk@clinic.test", None), ignore_quiet_hours=True
    )
    assert manual.campaign_id == str(unscheduled["_id"])
    stored = await db.campaigns.find_one({"_id": unscheduled["_id"]})
    assert stored is not None and stored["follow_up_details"]["attempts_made"] == 1
    assert [m["To"] for m in smtp.messages] == [pia["email"], pia["email"]]


async def test_reply_agent_reads_foreign_patient_campaign_and_kb_articles(env: Env, smtp: SmtpSink) -> None:
    http, container, headers = env
    db = container.db
    quinn = {"_id": ObjectId(), "name": "Quinn Quaint", "email": "quinn@legacy.example"}
    await db.patients.insert_one(quinn)
    campaign = {"_id": ObjectId(), "patient_id": quinn["_id"], "campaign_type": "RECALL", "status": "ENGAGED"}
    await db.campaigns.insert_one(campaign)
    await db.kb_articles.insert_one(
        {"_id": ObjectId(), "question": "Opening hours", "answer": "We are open Monday to Saturday, 9:00 to 20:30."}
    )
    response = await http.post(
        "/agent/reply",
        headers=headers,
        json={"thread_id": "legacy-thread", "body": "What are your opening hours?", "from": quinn["email"]},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["intent"], response.json()["action"]) == ("question", "kb_answer")
    assert response.json()["campaign_status"] == "ENGAGED"
    [message] = smtp.messages
    assert message["To"] == quinn["email"] and "9:00 to 20:30" in message.get_content()
