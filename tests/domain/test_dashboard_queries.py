"""One dashboard computation costs two database commands whatever the data size; chart months are local."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bson import ObjectId

from core.clock import FixedClock
from core.config import Settings
from core.container import Container
from core.snapshot import Snapshot
from db.client import make_client
from db.monitoring import CommandCounter
from db.repositories import Repositories
from domain.dashboard import DashboardService, chart_months


async def test_a_computation_is_two_aggregates_at_any_size(
    container: Container, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(TZ="America/New_York")
    now = datetime(2025, 6, 15, 12, tzinfo=UTC)
    counter = CommandCounter()
    client = make_client(settings, event_listeners=[counter])
    try:
        service = DashboardService(
            settings=settings,
            clock=FixedClock(now),
            repos=Repositories.over(client[settings.MONGO_DB_NAME]),
            snapshot=Snapshot(),
        )
        await client.admin.command("ping")
        for size in (0, 50, 600):
            if size:
                await container.db.campaigns.insert_many(
                    [
                        {
                            "_id": ObjectId(),
                            "patient_id": ObjectId(),
                            "campaign_type": ("RECOVERY", "RECALL")[i % 2],
                            "status": ("ENGAGED", "BOOKING_COMPLETED")[i % 2],
                            "created_at": now - timedelta(hours=i),
                            "converted_at": now - timedelta(minutes=i) if i % 2 else None,
                            "updated_at": now,
                        }
                        for i in range(size)
                    ]
                )
                await container.db.appointments.insert_many(
                    [
                        {
                            "_id": ObjectId(),
                            "patient_id": ObjectId(),
                            "doctor": "Dr. Smith",
                            "service": "x",
                            "start": now - timedelta(hours=3 * i),
                            "duration_minutes": 30,
                            "status": "booked",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(size)
                    ]
                )
            counter.names.clear()
            stats = await service.compute()
            assert sorted(counter.names) == ["aggregate", "aggregate"], size
        assert stats.kpis.engaged_leads == 325 and stats.charts.campaign_breakdown.recovered == 325
    finally:
        await client.close()


def test_chart_months_are_local_and_dst_correct() -> None:
    zone = ZoneInfo("America/New_York")
    labels, bounds = chart_months(zone, datetime(2025, 3, 1, 3, 0, tzinfo=UTC))  # still Feb 28 in New York
    assert labels[0] == "2024-03" and labels[-1] == "2025-02" and len(labels) == 12 and len(bounds) == 13
    assert bounds[-1] == datetime(2025, 3, 1, 5, 0, tzinfo=UTC)  # EST midnight
    assert bounds[2] == datetime(2024, 5, 1, 4, 0, tzinfo=UTC)  # EDT midnight
    assert all(b.astimezone(zone).time().hour == 0 and b.astimezone(zone).day == 1 for b in bounds)
    labels, _ = chart_months(ZoneInfo("Pacific/Kiritimati"), datetime(2024, 12, 31, 11, 0, tzinfo=UTC))
    assert labels[-1] == "2025-01" and labels[0] == "2024-02"
