"""The patients repository."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from db.repositories.base import Repository, oid, required, upsert_and_read
from models.base import new_id, plain
from models.enums import Channel, ConsentStatus
from models.patient import Patient

SEARCH_LIMIT = 1000


class PatientRepository(Repository[Patient]):
    """patients."""

    collection_name = "patients"
    model = Patient

    async def get_by_email(self, email: str) -> Patient | None:
        """Find a patient by (lower-cased) email."""
        return self._load(await self.collection.find_one({"email": email.lower()}))

    async def find_or_create(
        self, *, name: str, email: str | None, phone: str | None, now: datetime, timezone: str | None = None
    ) -> tuple[Patient, bool]:
        """The patient with this email (or, without one, this phone), created atomically if new; (patient, created)."""
        new = Patient(
            id=new_id(),
            name=name,
            email=email.lower() if email else None,
            phone=phone,
            timezone=timezone,
            created_at=now,
            updated_at=now,
        )
        on_insert = new.to_mongo()
        on_insert.pop("email")
        if email:
            query: dict[str, Any] = {"email": email.lower()}
        else:
            query = {"email": None, "phone": phone}
            on_insert.pop("phone")
        doc = await upsert_and_read(self.collection, query, {"$setOnInsert": on_insert})
        return Patient.from_mongo(doc), doc["_id"] == on_insert["_id"]

    async def opt_out(self, patient_id: str, channel: Channel, *, source: str, now: datetime) -> bool:
        """Record an opt-out: the channel is never used again; True when it changed something."""
        result = await self._update_one(
            {"_id": oid(patient_id)},
            {
                "$addToSet": {"opted_out_channels": channel.value},
                "$set": {
                    f"consent.{channel.value}": {"status": ConsentStatus.REVOKED.value, "source": source, "at": now},
                    "updated_at": now,
                },
            },
        )
        return result.modified_count == 1

    async def update_fields(self, patient_id: str, fields: dict[str, Any], *, now: datetime) -> Patient:
        """Set fields and return the updated patient."""
        doc = await self.collection.find_one_and_update(
            {"_id": oid(patient_id)},
            {"$set": {**plain(fields), "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return Patient.from_mongo(required(doc))

    async def ids_by_phone(self, phone: str) -> list[str]:
        """Patients with this phone number."""
        return [str(doc["_id"]) async for doc in self.collection.find({"phone": phone}, {"_id": 1})]

    async def search_ids(self, text: str, *, limit: int = SEARCH_LIMIT) -> list[str]:
        """Ids of patients whose name or email contains the text, case-insensitive (two index scans, in parallel)."""
        pattern = {"$regex": re.escape(text), "$options": "i"}

        async def ids(field: str, hint: str) -> list[str]:
            cursor = self.collection.find({field: pattern}, {"_id": 1}, hint=hint, limit=limit, batch_size=limit)
            return [str(doc["_id"]) async for doc in cursor]

        by_name, by_email = await asyncio.gather(ids("name", "name"), ids("email", "email_name"))
        return list(dict.fromkeys([*by_name, *by_email]))[:limit]

    async def get_many(self, ids: list[str]) -> dict[str, Patient]:
        """Patients by id."""
        keys = [k for k in (oid(i) for i in ids) if k is not None]
        return {str(doc["_id"]): Patient.from_mongo(doc) async for doc in self.collection.find({"_id": {"$in": keys}})}
