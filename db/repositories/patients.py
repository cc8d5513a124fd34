"""The patients repository."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from db.repositories.base import Repository, oid, required, upsert_and_read
from models.base import new_id, plain
from models.enums import Channel, ConsentStatus
from models.patient import ChannelConsent, Patient

SEARCH_LIMIT = 1000
MIN_PHONE_DIGITS = 3


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
        """Ids of patients whose name or email contains the text, case-insensitive, or whose phone contains its
        digits (when it has at least three): one index scan per field, in parallel."""
        pattern = {"$regex": re.escape(text), "$options": "i"}
        digits = re.sub(r"\D", "", text)

        async def ids(field: str, hint: str, match: dict[str, str]) -> list[str]:
            cursor = self.collection.find({field: match}, {"_id": 1}, hint=hint, limit=limit, batch_size=limit)
            return [str(doc["_id"]) async for doc in cursor]

        scans = [ids("name", "name", pattern), ids("email", "email_name", pattern)]
        if len(digits) >= MIN_PHONE_DIGITS:
            scans.append(ids("phone", "phone", {"$regex": digits}))
        found = await asyncio.gather(*scans)
        return list(dict.fromkeys(i for scan in found for i in scan))[:limit]

    async def page(self, ids: list[str] | None, *, skip: int, limit: int) -> tuple[list[Patient], int]:
        """Patients by name (all of them, or those with these ids) and how many there are."""
        if ids is None:
            query: dict[str, Any] = {}
            total = await self.collection.count_documents({})
        else:
            query = {"_id": {"$in": [k for k in (oid(i) for i in ids) if k is not None]}}
            total = len(ids)
        cursor = self.collection.find(query, hint="name").sort("name", ASCENDING).skip(skip).limit(limit)
        return [Patient.from_mongo(doc) async for doc in cursor], total

    async def by_contact(self, *, email: str | None, phone: str | None) -> Patient | None:
        """The patient `find_or_create` would find: by email, else (without one) by phone among those without email."""
        if email:
            return await self.get_by_email(email)
        return self._load(await self.collection.find_one({"email": None, "phone": phone}))

    async def other_with(self, *, email: str | None, phone: str | None, not_id: str | None) -> Patient | None:
        """Another patient (not `not_id`) who has this email or this phone, if any."""
        clauses = [{k: v} for k, v in (("email", email), ("phone", phone)) if v]
        if not clauses:
            return None
        query: dict[str, Any] = {"$or": clauses}
        if not_id:
            query["_id"] = {"$ne": oid(not_id)}
        return self._load(await self.collection.find_one(query))

    async def set_consent(
        self, patient_id: str, channel: Channel, consent: ChannelConsent, *, over_opt_out: bool, now: datetime
    ) -> Patient | None:
        """Record one channel's consent; a revocation is also an opt-out, a grant or reset after an opt-out
        lifts it only with `over_opt_out` (else None: nothing is written, a concurrent opt-out wins)."""
        query: dict[str, Any] = {"_id": oid(patient_id)}
        update: dict[str, Any] = {"$set": {f"consent.{channel.value}": plain(consent.model_dump()), "updated_at": now}}
        if consent.status == ConsentStatus.REVOKED:
            update["$addToSet"] = {"opted_out_channels": channel.value}
        elif over_opt_out:
            update["$pull"] = {"opted_out_channels": channel.value}
        else:
            query["opted_out_channels"] = {"$ne": channel.value}
        doc = await self.collection.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
        return self._load(doc)

    async def get_many(self, ids: list[str]) -> dict[str, Patient]:
        """Patients by id."""
        keys = [k for k in (oid(i) for i in ids) if k is not None]
        return {str(doc["_id"]): Patient.from_mongo(doc) async for doc in self.collection.find({"_id": {"$in": keys}})}
