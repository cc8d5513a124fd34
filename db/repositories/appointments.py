"""The appointments repository."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from db.repositories.base import BUSY_BATCH_SIZE, Mongo, Repository, oid
from db.repositories.dashboard_queries import appointment_dashboard_pipeline
from models.appointment import DEFAULT_DURATION_MINUTES, Appointment
from models.enums import AppointmentStatus


class AppointmentRepository(Repository[Appointment]):
    """appointments."""

    collection_name = "appointments"
    model = Appointment

    async def busy_between(self, *, doctor: str, start: datetime, end: datetime) -> list[tuple[str, datetime, int]]:
        """(id, start, duration) of the doctor's non-cancelled appointments starting in [start, end): ONE command."""
        # Status is filtered here, not in the query, so every server can answer from the (doctor, start) index.
        cursor = self.collection.find(
            {"doctor": doctor, "start": {"$gte": start, "$lt": end}},
            {"start": 1, "duration_minutes": 1, "status": 1},
            batch_size=BUSY_BATCH_SIZE,
        )
        return [
            (str(doc["_id"]), doc["start"], int(doc.get("duration_minutes") or DEFAULT_DURATION_MINUTES))
            async for doc in cursor
            if doc.get("status") != AppointmentStatus.CANCELLED.value
        ]

    async def set_campaign(self, appointment_id: str, campaign_id: str) -> None:
        """Link the appointment to the campaign it converted."""
        await self._update_one({"_id": oid(appointment_id)}, {"$set": {"campaign_id": oid(campaign_id)}})

    async def next_booked_for(self, patient_ids: list[str], *, after: datetime) -> dict[str, Appointment]:
        """Each patient's next booked appointment after a time (patients without one are left out): ONE query."""
        cursor = self.collection.find(
            {
                "patient_id": {"$in": [oid(i) for i in patient_ids]},
                "status": AppointmentStatus.BOOKED.value,
                "start": {"$gt": after},
            }
        ).sort("start", 1)
        first: dict[str, Appointment] = {}
        async for doc in cursor:
            first.setdefault(str(doc["patient_id"]), Appointment.from_mongo(doc))
        return first

    async def get_by_manage_hash(self, token_hash: str) -> Appointment | None:
        """The appointment a manage token belongs to."""
        return self._load(await self.collection.find_one({"manage_token_hash": token_hash}))

    async def set_status(
        self, appointment_id: str, *, expected: AppointmentStatus, status: AppointmentStatus, now: datetime
    ) -> Appointment | None:
        """Change status only from `expected` (a compare-and-set); None when it was not in that state."""
        update: dict[str, Any] = {"status": status.value, "updated_at": now}
        if status == AppointmentStatus.CANCELLED:
            update["cancelled_at"] = now
        doc = await self.collection.find_one_and_update(
            {"_id": oid(appointment_id), "status": expected.value},
            {"$set": update, "$inc": {"sequence": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return self._load(doc)

    async def move(
        self, appointment_id: str, *, old_start: datetime, new_start: datetime, now: datetime
    ) -> Appointment | None:
        """Move a booked appointment if it is still booked at `old_start` (compare-and-set)."""
        doc = await self.collection.find_one_and_update(
            {"_id": oid(appointment_id), "status": AppointmentStatus.BOOKED.value, "start": old_start},
            {"$set": {"start": new_start, "updated_at": now}, "$inc": {"sequence": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return self._load(doc)

    async def page(
        self,
        *,
        start_from: datetime | None,
        start_to: datetime | None,
        status: AppointmentStatus | None,
        patient_ids: list[str] | None,
        skip: int,
        limit: int,
        not_status: AppointmentStatus | None = None,
        doctor: str | None = None,
    ) -> tuple[list[Appointment], int]:
        """Appointments by filters (`not_status`: any status but that one), sorted by start, with the total."""
        query: dict[str, Any] = {}
        if start_from or start_to:
            query["start"] = {k: v for k, v in (("$gte", start_from), ("$lt", start_to)) if v is not None}
        if status:
            query["status"] = status.value
        elif not_status:
            query["status"] = {"$ne": not_status.value}
        if doctor is not None:
            query["doctor"] = doctor
        if patient_ids is not None:
            query["patient_id"] = {"$in": [oid(i) for i in patient_ids]}
        cursor = self.collection.find(query).sort([("start", 1), ("_id", 1)]).skip(skip).limit(limit)
        items = [Appointment.from_mongo(doc) async for doc in cursor]
        return items, await self.collection.count_documents(query)

    async def delete_ids(self, appointment_ids: list[str]) -> int:
        """Delete specific appointments (used by the demo seed to drop its stale ones)."""
        if not appointment_ids:
            return 0
        result = await self.collection.delete_many({"_id": {"$in": [oid(i) for i in appointment_ids]}})
        return result.deleted_count

    async def dashboard(self, *, timezone: str, bounds: Sequence[datetime]) -> list[Mongo]:
        """Per chart month: counts by status and not cancelled: ONE aggregate command (an index range on start)."""
        pipeline = appointment_dashboard_pipeline(timezone=timezone, bounds=bounds)
        cursor = await self.collection.aggregate(pipeline)
        return await cursor.to_list()
