"""The slot_claims repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from db.group_commit import DUPLICATE_KEY
from db.repositories.base import BUSY_BATCH_SIZE, Repository, oid
from models.appointment import SlotClaim
from models.base import new_id


class SlotClaimRepository(Repository[SlotClaim]):
    """slot_claims: the unique (doctor, bucket_start) index is the guard against double booking."""

    collection_name = "slot_claims"
    model = SlotClaim

    async def claim(self, *, doctor: str, bucket_starts: list[datetime], appointment_id: str, now: datetime) -> bool:
        """Claim every bucket for the appointment, or none: False (and nothing held) when any is taken."""
        claims = [
            SlotClaim(id=new_id(), doctor=doctor, bucket_start=b, appointment_id=appointment_id, created_at=now)
            for b in bucket_starts
        ]
        try:
            await self.collection.insert_many([c.to_mongo() for c in claims], ordered=True)
        except (DuplicateKeyError, BulkWriteError) as exc:
            if isinstance(exc, BulkWriteError) and any(
                e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])
            ):
                await self.release_ids([c.id for c in claims])
                raise
            await self.release_ids([c.id for c in claims])
            return False
        return True

    async def holders(self, *, doctor: str, bucket_starts: list[datetime]) -> list[SlotClaim]:
        """Claims currently held on these buckets."""
        cursor = self.collection.find({"doctor": doctor, "bucket_start": {"$in": bucket_starts}})
        return [SlotClaim.from_mongo(doc) async for doc in cursor]

    async def release_ids(self, claim_ids: list[str]) -> None:
        """Delete specific claims."""
        await self.collection.delete_many({"_id": {"$in": [oid(i) for i in claim_ids]}})

    async def release(self, appointment_id: str, *, bucket_starts: list[datetime] | None = None) -> int:
        """Free an appointment's claims (all, or only the given buckets)."""
        query: dict[str, Any] = {"appointment_id": oid(appointment_id)}
        if bucket_starts is not None:
            query["bucket_start"] = {"$in": bucket_starts}
        return (await self.collection.delete_many(query)).deleted_count

    async def release_orphan(self, claim: SlotClaim) -> bool:
        """Delete one stale claim whose appointment is gone or cancelled (left by a crash mid-booking)."""
        result = await self.collection.delete_one({"_id": oid(claim.id), "appointment_id": oid(claim.appointment_id)})
        return result.deleted_count == 1

    async def release_for_appointments(self, appointment_ids: list[str]) -> int:
        """Free every claim held by any of these appointments."""
        if not appointment_ids:
            return 0
        result = await self.collection.delete_many({"appointment_id": {"$in": [oid(i) for i in appointment_ids]}})
        return result.deleted_count

    async def claimed_between(self, *, start: datetime, end: datetime) -> set[tuple[str, datetime]]:
        """(doctor, bucket_start) of every claim with bucket_start in [start, end)."""
        cursor = self.collection.find(
            {"bucket_start": {"$gte": start, "$lt": end}}, {"doctor": 1, "bucket_start": 1}, batch_size=BUSY_BATCH_SIZE
        )
        return {(doc["doctor"], doc["bucket_start"]) async for doc in cursor}
