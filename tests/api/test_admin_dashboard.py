"""GET /api/v1/admin/dashboard-stats against a fixture dataset, with the expectations computed in plain Python.

The expected numbers are computed here, independently of the production code, straight from the documents the
test inserts (ARCHITECTURE §4 definitions); the endpoint's answer must equal them field by field.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId

from core.clock import FixedClock
from core.config import Settings
from models.enums import Role
from tests.api.admin_fixtures import app_starter, appointment_doc, campaign_doc, interaction_doc, patient_doc

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def serve(mongo_uri: str, db_name: str) -> Callable[..., Any]:
    """Start the app on a given clock (see tests/api/admin_fixtures.py)."""
    return app_starter(mongo_uri, db_name)


STATUSES = [
    "ATTEMPTING_RECOVERY",
    "ATTEMPTING_RECALL",
    "ENGAGED",
    "HANDOFF",
    "BOOKING_COMPLETED",
    "DECLINED",
    "FAILED",
    "PAUSED",
]
ACTIVE = {"ATTEMPTING_RECOVERY", "ATTEMPTING_RECALL", "ENGAGED", "HANDOFF"}
APPOINTMENT_STATUSES = ["booked", "completed", "cancelled", "no_show"]


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, *, fold: int = 0) -> datetime:
    """A New York wall time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=NEW_YORK, fold=fold).astimezone(UTC)


# ---- the expectation, in plain Python ---------------------------------------------------------------------------


def month_label(value: datetime | None) -> str | None:
    """YYYY-MM of the New York month holding the instant."""
    return None if value is None else value.astimezone(NEW_YORK).strftime("%Y-%m")


def last_12_labels(now: datetime) -> list[str]:
    """The 12 New York months ending with now's, oldest first."""
    local = now.astimezone(NEW_YORK)
    year, month = local.year, local.month
    labels = []
    for _ in range(12):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return labels[::-1]


def expected_dashboard(
    campaigns: list[dict[str, Any]], appointments: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """ARCHITECTURE §4, computed by brute force."""
    this_month = month_label(now)
    since = now - timedelta(days=90)

    def count(items: list[dict[str, Any]], test: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for item in items if test(item))

    def rate(kind: str, window: Callable[[dict[str, Any]], bool]) -> float | None:
        created = [c for c in campaigns if c["campaign_type"] == kind and window(c)]
        converted = [c for c in created if c["status"] == "BOOKING_COMPLETED"]
        return len(converted) / len(created) if created else None

    def rates(kind: str) -> dict[str, float | None]:
        return {
            "month": rate(kind, lambda c: month_label(c["created_at"]) == this_month),
            "lifetime": rate(kind, lambda c: True),
            "trailing_90d": rate(kind, lambda c: since <= c["created_at"] <= now),
        }

    def started(kind: str, label: str) -> int:
        return count(campaigns, lambda c: c["campaign_type"] == kind and month_label(c["created_at"]) == label)

    def converted(kind: str, label: str) -> int:
        return count(campaigns, lambda c: c["campaign_type"] == kind and month_label(c["converted_at"]) == label)

    def appointments_in(label: str, status: str) -> int:
        return count(appointments, lambda a: month_label(a["start"]) == label and a["status"] == status)

    labels = last_12_labels(now)
    return {
        "timezone": "America/New_York",
        "kpis": {
            "active_recovery": count(campaigns, lambda c: c["campaign_type"] == "RECOVERY" and c["status"] in ACTIVE),
            "active_recall": count(campaigns, lambda c: c["campaign_type"] == "RECALL" and c["status"] in ACTIVE),
            "engaged_leads": count(campaigns, lambda c: c["status"] == "ENGAGED"),
            "handoffs": count(campaigns, lambda c: c["status"] == "HANDOFF"),
            "recoveries_this_month": count(
                campaigns, lambda c: c["campaign_type"] == "RECOVERY" and month_label(c["converted_at"]) == this_month
            ),
            "booked_appointments_this_month": count(
                appointments, lambda a: month_label(a["start"]) == this_month and a["status"] != "cancelled"
            ),
        },
        "rates": {"recovery": rates("RECOVERY"), "recall": rates("RECALL")},
        "charts": {
            "performance_12m": [
                {
                    "month": label,
                    "recovery_started": started("RECOVERY", label),
                    "recovery_converted": converted("RECOVERY", label),
                    "recall_started": started("RECALL", label),
                    "recall_converted": converted("RECALL", label),
                }
                for label in labels
            ],
            "campaign_breakdown": {
                "active": count(
                    campaigns, lambda c: c["status"] in {"ATTEMPTING_RECOVERY", "ATTEMPTING_RECALL", "ENGAGED"}
                ),
                "recovered": count(campaigns, lambda c: c["status"] == "BOOKING_COMPLETED"),
                "failed": count(campaigns, lambda c: c["status"] == "FAILED"),
                "declined": count(campaigns, lambda c: c["status"] == "DECLINED"),
                "handoffs": count(campaigns, lambda c: c["status"] == "HANDOFF"),
            },
            "appointments_trend": [
                {"month": label, **{s: appointments_in(label, s) for s in APPOINTMENT_STATUSES}} for label in labels
            ],
        },
    }


# ---- the dataset ------------------------------------------------------------------------------------------------

NOW = ny(2025, 3, 20, 15, 0)  # after the spring-forward of 2025-03-09; the data goes back 14 months


def build_dataset(
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Patients, campaigns (every type and status over 14 months, DST and month edges), interactions, appointments."""
    rng = random.Random(20250320)
    patients = [patient_doc(f"Patient {i}", f"p{i}@example.com", at=ny(2024, 1, 1)) for i in range(60)]
    campaigns: list[dict[str, Any]] = []

    def add(kind: str, status: str, created: datetime, converted: datetime | None = None) -> None:
        if status == "BOOKING_COMPLETED" and converted is None:
            converted = min(created + timedelta(days=rng.randint(0, 40), hours=rng.randint(0, 23)), now)
        campaigns.append(
            campaign_doc(rng.choice(patients)["_id"], kind, status, created_at=created, converted_at=converted)
        )

    start = ny(2024, 1, 15)
    span = (now - start).total_seconds()
    for i in range(320):
        kind = "RECOVERY" if i % 3 else "RECALL"
        created = start + timedelta(seconds=rng.uniform(0, span))
        if kind == "RECALL" and month_label(created) == month_label(now):
            kind = "RECOVERY"  # no recall campaign created this month: its month rate must be null
        add(kind, STATUSES[i % len(STATUSES)], created)
    # Month and DST edges (New York): the local month decides, not the UTC one.
    add("RECOVERY", "BOOKING_COMPLETED", ny(2025, 2, 10), converted=ny(2025, 2, 28, 23, 30))  # Mar 1 in UTC
    add("RECOVERY", "BOOKING_COMPLETED", ny(2025, 2, 27), converted=ny(2025, 3, 1, 0, 0))
    add("RECALL", "ENGAGED", ny(2024, 10, 31, 23, 59, 59))  # Nov in UTC
    add("RECALL", "FAILED", ny(2024, 11, 1, 0, 0))
    add("RECOVERY", "HANDOFF", ny(2024, 11, 3, 1, 30, fold=0))  # the ambiguous hour of the fall-back, twice
    add("RECOVERY", "DECLINED", ny(2024, 11, 3, 1, 30, fold=1))
    add("RECALL", "BOOKING_COMPLETED", ny(2025, 3, 9, 3, 0) - timedelta(days=40), converted=ny(2025, 3, 9, 3, 0))
    add("RECOVERY", "PAUSED", ny(2024, 3, 31, 23, 59))  # just before the chart window: only lifetime figures
    add("RECOVERY", "BOOKING_COMPLETED", ny(2024, 4, 1, 0, 0), converted=ny(2024, 4, 2))
    add("RECALL", "BOOKING_COMPLETED", now - timedelta(days=90), converted=now - timedelta(days=1))  # 90d edge in
    add("RECALL", "DECLINED", now - timedelta(days=90, seconds=1))  # 90d edge out
    add("RECOVERY", "ATTEMPTING_RECOVERY", now)
    interactions = []
    for campaign in campaigns[::3]:
        for k in range(3):
            interactions.append(
                interaction_doc(
                    campaign["_id"],
                    campaign["patient_id"],
                    "outgoing" if k % 2 == 0 else "incoming",
                    campaign["created_at"] + timedelta(hours=k),
                    f"message {k}",
                )
            )
    appointments = []
    for i in range(200):
        begin = start + timedelta(seconds=rng.uniform(0, span + 15 * 86400))  # some later this month and after
        appointments.append(
            appointment_doc(rng.choice(patients)["_id"], begin, APPOINTMENT_STATUSES[i % len(APPOINTMENT_STATUSES)])
        )
    appointments += [
        appointment_doc(patients[0]["_id"], ny(2025, 2, 28, 23, 45), "booked"),  # Mar in UTC
        appointment_doc(patients[0]["_id"], ny(2025, 3, 1, 0, 0), "no_show"),
        appointment_doc(patients[1]["_id"], ny(2025, 3, 31, 23, 30), "booked"),  # Apr in UTC
        appointment_doc(patients[1]["_id"], ny(2025, 3, 25, 10, 0), "cancelled"),
        appointment_doc(patients[2]["_id"], ny(2025, 4, 1, 0, 0), "booked"),  # next month: nowhere
        appointment_doc(patients[2]["_id"], ny(2024, 3, 31, 23, 59), "completed"),  # before the window
    ]
    return patients, campaigns, interactions, appointments


async def test_dashboard_equals_independent_computation(
    make_settings: Callable[..., Settings], serve: Callable[..., Any]
) -> None:
    patients, campaigns, interactions, appointments = build_dataset(NOW)
    statuses = {c["status"] for c in campaigns}
    assert statuses == set(STATUSES) and {a["status"] for a in appointments} == set(APPOINTMENT_STATUSES)
    assert len({month_label(c["created_at"]) for c in campaigns}) >= 14
    async with serve(make_settings(TZ="America/New_York"), FixedClock(NOW)) as served:
        db = served.container.db
        await db.patients.insert_many(patients)
        await db.campaigns.insert_many(campaigns)
        await db.interactions.insert_many(interactions)
        await db.appointments.insert_many(appointments)
        response = await served.client.get("/api/v1/admin/dashboard-stats", headers=await served.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    expected = expected_dashboard(campaigns, appointments, NOW)
    assert datetime.fromisoformat(body.pop("generated_at")) == NOW
    assert body["timezone"] == expected["timezone"]
    assert body["kpis"] == expected["kpis"]
    assert body["rates"] == expected["rates"]
    assert body["rates"]["recall"]["month"] is None and body["rates"]["recovery"]["month"] is not None
    assert body["charts"]["campaign_breakdown"] == expected["charts"]["campaign_breakdown"]
    for got, want in zip(body["charts"]["performance_12m"], expected["charts"]["performance_12m"], strict=True):
        assert got == want
    for got, want in zip(body["charts"]["appointments_trend"], expected["charts"]["appointments_trend"], strict=True):
        assert got == want
    assert body == {key: value for key, value in expected.items()}
    labels = [m["month"] for m in body["charts"]["performance_12m"]]
    assert labels[0] == "2024-04" and labels[-1] == "2025-03" and len(labels) == 12


async def test_empty_database_gives_zeros_and_null_rates(
    make_settings: Callable[..., Settings], serve: Callable[..., Any]
) -> None:
    async with serve(make_settings(TZ="America/New_York"), FixedClock(NOW)) as served:
        response = await served.client.get("/api/v1/admin/dashboard-stats", headers=await served.headers())
    assert response.status_code == 200
    body = response.json()
    assert body["kpis"] == dict.fromkeys(body["kpis"], 0)
    assert body["rates"] == {t: {"month": None, "lifetime": None, "trailing_90d": None} for t in ("recovery", "recall")}
    assert body["charts"]["campaign_breakdown"] == dict.fromkeys(body["charts"]["campaign_breakdown"], 0)
    assert [m["month"] for m in body["charts"]["appointments_trend"]] == last_12_labels(NOW)
    assert all(set(m.values()) == {m["month"], 0} for m in body["charts"]["performance_12m"])


async def test_this_month_is_the_local_month_not_the_utc_one(
    make_settings: Callable[..., Settings], serve: Callable[..., Any]
) -> None:
    now = ny(2025, 10, 31, 23, 45)  # already November in UTC
    patient = patient_doc("Edge Case", "edge@example.com", at=now - timedelta(days=60))
    campaigns = [
        campaign_doc(
            patient["_id"],
            "RECOVERY",
            "BOOKING_COMPLETED",
            created_at=ny(2025, 10, 1),
            converted_at=ny(2025, 10, 31, 23, 30),
        ),  # 2025-11-01 03:30 UTC: counts in October
        campaign_doc(
            patient["_id"],
            "RECOVERY",
            "BOOKING_COMPLETED",
            created_at=ny(2025, 9, 20),
            converted_at=ny(2025, 10, 1, 0, 30),
        ),  # 04:30 UTC on Oct 1
        campaign_doc(
            patient["_id"],
            "RECOVERY",
            "BOOKING_COMPLETED",
            created_at=ny(2025, 9, 2),
            converted_at=ny(2025, 9, 30, 23, 30),
        ),  # Oct 1 03:30 UTC: still September locally
    ]
    appointments = [
        appointment_doc(patient["_id"], ny(2025, 10, 31, 23, 30), "booked"),
        appointment_doc(patient["_id"], ny(2025, 9, 30, 23, 30), "booked"),
    ]
    async with serve(make_settings(TZ="America/New_York"), FixedClock(now)) as served:
        await served.container.db.patients.insert_one(patient)
        await served.container.db.campaigns.insert_many(campaigns)
        await served.container.db.appointments.insert_many(appointments)
        body = (await served.client.get("/api/v1/admin/dashboard-stats", headers=await served.headers())).json()
    assert body["kpis"]["recoveries_this_month"] == 2
    assert body["kpis"]["booked_appointments_this_month"] == 1
    last, before = body["charts"]["performance_12m"][-1], body["charts"]["performance_12m"][-2]
    assert last["month"] == "2025-10" and last["recovery_converted"] == 2 and last["recovery_started"] == 1
    assert before["month"] == "2025-09" and before["recovery_converted"] == 1 and before["recovery_started"] == 2
    assert body["charts"]["appointments_trend"][-1] == {
        "month": "2025-10",
        "booked": 1,
        "completed": 0,
        "cancelled": 0,
        "no_show": 0,
    }
    assert body["rates"]["recovery"]["month"] == 1.0 and body["rates"]["recall"]["month"] is None
    assert body == {**expected_dashboard(campaigns, appointments, now), "generated_at": body["generated_at"]}


async def test_concurrent_requests_on_a_cold_snapshot_share_one_computation(
    make_settings: Callable[..., Settings], serve: Callable[..., Any]
) -> None:
    async with serve(make_settings(TZ="America/New_York"), FixedClock(NOW)) as served:
        patient = patient_doc("P", "p@example.com", at=NOW)
        await served.container.db.campaigns.insert_many(
            [campaign_doc(patient["_id"], "RECALL", "ENGAGED", created_at=NOW - timedelta(days=i)) for i in range(50)]
        )
        headers = await served.headers()
        snapshot = served.container.dashboard_snapshot
        assert snapshot.computations == 0
        responses = await asyncio.gather(
            *(served.client.get("/api/v1/admin/dashboard-stats", headers=headers) for _ in range(25))
        )
        assert {r.status_code for r in responses} == {200}
        assert snapshot.computations == 1
        assert len({r.json()["generated_at"] for r in responses}) == 1
        assert all(r.json()["kpis"]["engaged_leads"] == 50 for r in responses)
        # Warm: served from the snapshot, no new computation.
        again = await served.client.get("/api/v1/admin/dashboard-stats", headers=headers)
        assert again.status_code == 200 and snapshot.computations == 1


async def test_dashboard_needs_staff_login(make_settings: Callable[..., Settings], serve: Callable[..., Any]) -> None:
    async with serve(make_settings()) as served:
        assert (await served.client.get("/api/v1/admin/dashboard-stats")).status_code == 401
        bad = await served.client.get("/api/v1/admin/dashboard-stats", headers={"Authorization": "Bearer x.y.z"})
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"
        for role in (Role.STAFF, Role.ADMIN):
            ok = await served.client.get("/api/v1/admin/dashboard-stats", headers=await served.headers(role))
            assert ok.status_code == 200


def test_dataset_ids_are_unique() -> None:
    _, campaigns, interactions, appointments = build_dataset(NOW)
    ids: list[ObjectId] = [d["_id"] for d in (*campaigns, *interactions, *appointments)]
    assert len(ids) == len(set(ids))
