"""Availability costs one database command, whatever the month holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.clock import SystemClock
from core.config import Settings
from core.container import Container, Repositories
from db.client import make_client
from db.monitoring import CommandCounter
from domain.booking import BookingService
from models.appointment import Appointment
from models.base import new_id
from services.email.fake import FakeEmail


async def test_month_availability_is_one_find(container: Container, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    now = container.clock.now()
    start = datetime.now(ZoneInfo("Europe/Berlin")).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(
        days=3
    )
    appointments = [
        Appointment(
            id=new_id(),
            patient_id=new_id(),
            doctor="Dr. Smith",
            service="Check-up",
            start=start + timedelta(days=i // 20, minutes=30 * (i % 20)),
            duration_minutes=30,
            created_at=now,
            updated_at=now,
        )
        for i in range(400)
    ]
    await container.repos.appointments.upsert_many(appointments)
    counter = CommandCounter()
    client = make_client(settings, event_listeners=[counter])
    try:
        service = BookingService(
            settings=settings,
            clock=SystemClock(),
            repos=Repositories.over(client[settings.MONGO_DB_NAME]),
            email=FakeEmail(),
            sms=None,
        )
        await client.admin.command("ping")
        counter.names.clear()
        result = await service.availability(
            year=start.year, month=start.month, day=None, duration_minutes=30, doctor=None
        )
        assert counter.names == ["find"]
        day = next(d for d in result.days if d.day == start.date())
        assert day.slots == [] or day.slots[0] >= (start + timedelta(minutes=600)).time()
    finally:
        await client.close()
