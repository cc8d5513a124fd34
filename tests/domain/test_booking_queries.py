"""Availability costs one database command, whatever the month holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.clock import FixedClock
from core.config import Settings
from core.container import Container
from db.client import make_client
from db.monitoring import CommandCounter
from db.repositories import Repositories
from domain.booking import BookingService
from models.appointment import Appointment
from models.base import new_id
from services.email.fake import FakeEmail

BERLIN = ZoneInfo("Europe/Berlin")
# Tuesday 1 January 2030, 08:00 in Berlin: the loaded days (2 to 21 January) all lie in that month.
NOW = datetime(2030, 1, 1, 8, 0, tzinfo=BERLIN).astimezone(UTC)


async def test_month_availability_is_one_find(container: Container, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    start = datetime(2030, 1, 2, 9, 0, tzinfo=BERLIN)
    # 20 days of 20 back-to-back 30-minute visits, 09:00 to 19:00 local.
    appointments = [
        Appointment(
            id=new_id(),
            patient_id=new_id(),
            doctor="Dr. Smith",
            service="Check-up",
            start=(start + timedelta(days=i // 20, minutes=30 * (i % 20))).astimezone(UTC),
            duration_minutes=30,
            created_at=NOW,
            updated_at=NOW,
        )
        for i in range(400)
    ]
    await container.repos.appointments.upsert_many(appointments)
    counter = CommandCounter()
    client = make_client(settings, event_listeners=[counter])
    try:
        service = BookingService(
            settings=settings,
            clock=FixedClock(NOW),
            repos=Repositories.over(client[settings.MONGO_DB_NAME]),
            email=FakeEmail(),
            sms=None,
        )
        await client.admin.command("ping")
        counter.names.clear()
        result = await service.availability(year=2030, month=1, day=None, duration_minutes=30, doctor=None)
        assert counter.names == ["find"]
        loaded = {start.date() + timedelta(days=d) for d in range(20)}
        evening = [time(19, 0), time(19, 30), time(20, 0)]
        for day in result.days:
            if day.day in loaded:
                assert day.slots == ([] if day.day.weekday() == 6 else evening), day.day
        assert sum(d.day in loaded for d in result.days) == 20
    finally:
        await client.close()
