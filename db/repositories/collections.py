"""One repository per collection."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from db.group_commit import DUPLICATE_KEY, grouped_lookup
from db.repositories.base import Mongo, Repository, oid, required
from models.appointment import DEFAULT_DURATION_MINUTES, Appointment, SlotClaim
from models.base import new_id, plain
from models.campaign import Campaign, Conversion, Lease
from models.enums import (
    ACTIVE_STATUSES,
    ATTEMPTING_STATUSES,
    AppointmentStatus,
    AuditOutcome,
    CampaignStatus,
    CampaignType,
    Channel,
    ConsentStatus,
    InboundSource,
    InboundStatus,
    OutboundStatus,
    Role,
)
from models.interaction import Interaction
from models.messaging import GmailState, InboundEvent, OutboundMessage, ReplySlot
from models.patient import Patient
from models.system import AuditRecord, KbArticle, NamedLease, User

SEARCH_LIMIT = 1000
UPSERT_ATTEMPTS = 3
# A month of one doctor's appointments fits in one batch, so availability is one database command.
BUSY_BATCH_SIZE = 10_000
# A worker claims a random `limit` out of this many times as many due campaigns (see claim_due).
CLAIM_WINDOW_FACTOR = 4
CLAIM_ROUNDS = 3
# What a public booking converts (HANDOFF is left to staff).
CONVERTIBLE_STATUSES = (*ATTEMPTING_STATUSES, CampaignStatus.ENGAGED)


def active_key(patient_id: str, campaign_type: CampaignType) -> str:
    """The unique marker an active campaign carries: one active campaign per patient and type."""
    return f"{patient_id}:{campaign_type.value}"


# Stands in for "no lock" when comparing lock ends in an update pipeline.
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


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
        for _ in range(UPSERT_ATTEMPTS):
            try:
                doc = await self.collection.find_one_and_update(
                    query, {"$setOnInsert": on_insert}, upsert=True, return_document=ReturnDocument.AFTER
                )
            except DuplicateKeyError:
                doc = None  # two upserts raced on the unique email index: read the winner's document
            if doc is None:
                # A server may answer a racing upsert with no document at all: read it back.
                doc = await self.collection.find_one(query)
            if doc is not None:
                return Patient.from_mongo(doc), doc["_id"] == on_insert["_id"]
        raise RuntimeError("patient upsert returned no document")

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


class CampaignRepository(Repository[Campaign]):
    """campaigns."""

    collection_name = "campaigns"
    model = Campaign

    async def list_for_patient(self, patient_id: str) -> list[Campaign]:
        """All campaigns of a patient, newest first."""
        cursor = self.collection.find({"patient_id": oid(patient_id)}).sort("created_at", DESCENDING)
        return [Campaign.from_mongo(doc) async for doc in cursor]

    async def claim_due(self, *, owner: str, now: datetime, ttl: timedelta, limit: int) -> list[Campaign]:
        """Atomically lease up to `limit` due attempting campaigns (most overdue first, as a batch).

        Candidates come from one index range per status (no `$or`); ONE conditional update_many leases those still
        due, and a read by id returns the ones this call won. Claiming moves `next_follow_up_at` to the lease's end,
        so a held campaign is not due for anyone else and one whose worker vanished is due again when it runs out.
        Each worker samples from a wider window of candidates so concurrent workers rarely reach for the same ones.
        """
        statuses = [s.value for s in ATTEMPTING_STATUSES]
        due = {"$lte": now}
        for _ in range(CLAIM_ROUNDS):
            candidates: list[ObjectId] = []
            for status in statuses:
                cursor = (
                    self.collection.find({"status": status, "follow_up_details.next_follow_up_at": due}, {"_id": 1})
                    .sort("follow_up_details.next_follow_up_at", 1)
                    .limit(limit * CLAIM_WINDOW_FACTOR)
                )
                candidates += [doc["_id"] async for doc in cursor]
            if not candidates:
                return []
            picked = random.sample(candidates, min(limit, len(candidates)))
            token = new_id()
            until = now + ttl
            await self.collection.update_many(
                {"_id": {"$in": picked}, "status": {"$in": statuses}, "follow_up_details.next_follow_up_at": due},
                {
                    "$set": {
                        "lease": Lease(owner=owner, until=until, claim=token).model_dump(),
                        "follow_up_details.next_follow_up_at": until,
                    }
                },
            )
            won = [
                Campaign.from_mongo(doc)
                async for doc in self.collection.find({"lease.claim": token, "_id": {"$in": picked}})
            ]
            if won:
                return won
            # Another worker took every one we picked: look again (there may be more due).
        return []

    async def claim(self, campaign_id: str, *, owner: str, now: datetime, ttl: timedelta) -> Campaign | None:
        """Lease one campaign (for a manual run) if nobody else holds it."""
        key = oid(campaign_id)
        token = new_id()
        until = now + ttl
        result = await self._update_one(
            {"_id": key, "$or": [{"lease": None}, {"lease.until": {"$lte": now}}, {"lease.owner": owner}]},
            {
                "$set": {
                    "lease": Lease(owner=owner, until=until, claim=token).model_dump(),
                    "follow_up_details.next_follow_up_at": until,
                }
            },
        )
        if result.modified_count != 1:
            return None
        return self._load(await self.collection.find_one({"_id": key, "lease.claim": token}))

    @staticmethod
    def _update(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
        """$set the fields; a campaign leaving the active set also frees its one-active-per-type key."""
        update: dict[str, Any] = {"$set": {**fields, "updated_at": now}}
        if "status" in fields and fields["status"] not in {s.value for s in ACTIVE_STATUSES}:
            update["$unset"] = {"active_key": ""}
        return update

    async def commit(self, campaign_id: str, *, owner: str, now: datetime, fields: dict[str, Any]) -> bool:
        """Write a run's outcome and drop the lease, only if the lease is still ours and unexpired."""
        result = await self._update_one(
            {"_id": oid(campaign_id), "lease.owner": owner, "lease.until": {"$gt": now}},
            self._update({**fields, "lease": None}, now),
        )
        return result.modified_count == 1

    async def set_fields(self, campaign_id: str, fields: dict[str, Any], *, now: datetime) -> None:
        """Plain field update (staff actions, new campaigns' schedule)."""
        await self._update_one({"_id": oid(campaign_id)}, self._update(fields, now))

    async def latest_active_for_patient(self, patient_id: str) -> Campaign | None:
        """The patient's most recently updated active campaign."""
        doc = await self.collection.find_one(
            {"patient_id": oid(patient_id), "status": {"$in": [s.value for s in ACTIVE_STATUSES]}},
            sort=[("updated_at", -1)],
        )
        return self._load(doc)

    async def mark_converted(
        self, *, patient_id: str, campaign_id: str | None, now: datetime, appointment_id: str | None = None
    ) -> list[str]:
        """The patient's contacting or engaged campaigns (or the given one of theirs, also when paused) become
        BOOKING_COMPLETED and stop following up; each remembers its prior state for `restore_conversion`.

        HANDOFF campaigns are never converted: staff are dealing with that patient.
        """
        statuses = [*CONVERTIBLE_STATUSES, CampaignStatus.PAUSED] if campaign_id else CONVERTIBLE_STATUSES
        query: dict[str, Any] = {"patient_id": oid(patient_id), "status": {"$in": [s.value for s in statuses]}}
        if campaign_id:
            query["_id"] = oid(campaign_id)
        converted: list[str] = []
        async for doc in self.collection.find(query, {"status": 1, "follow_up_details.next_follow_up_at": 1}):
            prior = Conversion(
                appointment_id=appointment_id or "",
                previous_status=doc["status"],
                previous_next_follow_up_at=(doc.get("follow_up_details") or {}).get("next_follow_up_at"),
            )
            result = await self._update_one(
                {"_id": doc["_id"], "status": doc["status"]},  # unchanged since read, so `prior` is its state
                {
                    "$set": {
                        "status": CampaignStatus.BOOKING_COMPLETED.value,
                        "converted_at": now,
                        "conversion": plain(prior.model_dump()),
                        "updated_at": now,
                        "follow_up_details.next_follow_up_at": None,
                    },
                    # no longer active: free the one-active-campaign-per-type marker (db/repositories/admin.py)
                    "$unset": {"active_key": ""},
                },
            )
            if result.modified_count == 1:
                converted.append(str(doc["_id"]))
        return converted

    async def restore_conversion(self, appointment_id: str, *, patient_id: str, now: datetime) -> list[str]:
        """Campaigns still BOOKING_COMPLETED through this (now cancelled) appointment go back to their prior state.

        A contacting campaign's next touch is never in the past (it is due from now); one whose type another
        active campaign of the patient took meanwhile comes back PAUSED, for staff. Returns the restored ids.
        """
        restored: list[str] = []
        query = {
            "patient_id": oid(patient_id),  # served by the (patient_id, campaign_type) index
            "conversion.appointment_id": appointment_id,
            "status": CampaignStatus.BOOKING_COMPLETED.value,
        }
        async for doc in self.collection.find(query):
            campaign = Campaign.from_mongo(doc)
            if campaign.conversion is None:
                continue
            status = campaign.conversion.previous_status
            next_at = campaign.conversion.previous_next_follow_up_at
            if status in ATTEMPTING_STATUSES:
                next_at = max(next_at or now, now)
            fields: dict[str, Any] = {
                "status": status.value,
                "converted_at": None,
                "conversion": None,
                "updated_at": now,
                "follow_up_details.next_follow_up_at": next_at,
            }
            if status in ACTIVE_STATUSES:
                fields["active_key"] = active_key(campaign.patient_id, campaign.campaign_type)
            cas = {"_id": doc["_id"], **query}
            try:
                result = await self.collection.update_one(cas, {"$set": fields})
            except DuplicateKeyError:
                # Another active campaign of this type exists now: bring this one back paused instead.
                fields.pop("active_key")
                fields.update({"status": CampaignStatus.PAUSED.value, "follow_up_details.next_follow_up_at": None})
                result = await self.collection.update_one(cas, {"$set": fields})
            if result.modified_count == 1:
                restored.append(campaign.id)
        return restored


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
            {"$set": update},
            return_document=ReturnDocument.AFTER,
        )
        return self._load(doc)

    async def move(
        self, appointment_id: str, *, old_start: datetime, new_start: datetime, now: datetime
    ) -> Appointment | None:
        """Move a booked appointment if it is still booked at `old_start` (compare-and-set)."""
        doc = await self.collection.find_one_and_update(
            {"_id": oid(appointment_id), "status": AppointmentStatus.BOOKED.value, "start": old_start},
            {"$set": {"start": new_start, "updated_at": now}},
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
    ) -> tuple[list[Appointment], int]:
        """Appointments by filters, sorted by start, with the total."""
        query: dict[str, Any] = {}
        if start_from or start_to:
            query["start"] = {k: v for k, v in (("$gte", start_from), ("$lt", start_to)) if v is not None}
        if status:
            query["status"] = status.value
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


class RateLimitRepository:
    """rate_limits: fixed-window counters."""

    collection_name = "rate_limits"

    def __init__(self, db: Any):
        self.collection = db[self.collection_name]

    async def hit(self, key: str, *, window_start: datetime, expires_at: datetime) -> int:
        """Count one hit in the window; returns the count including this one."""
        for attempt in range(2):
            try:
                doc = await self.collection.find_one_and_update(
                    {"key": key, "window_start": window_start},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                ) or await self.collection.find_one({"key": key, "window_start": window_start})
                return int(doc["count"])
            except DuplicateKeyError:
                if attempt:
                    raise
        raise AssertionError("unreachable")


class InteractionRepository(Repository[Interaction]):
    """interactions."""

    collection_name = "interactions"
    model = Interaction

    def __init__(self, db: Any):
        super().__init__(db)
        self._recent = grouped_lookup(self._recent_of)
        self._by_message_ids = grouped_lookup(self._latest_by_message_ids)
        self._by_thread = grouped_lookup(self._latest_in_threads)

    async def for_campaign(self, campaign_id: str) -> list[Interaction]:
        """A campaign's conversation, oldest first."""
        return (await self.for_campaigns([campaign_id])).get(campaign_id, [])

    async def for_campaigns(self, campaign_ids: list[str]) -> dict[str, list[Interaction]]:
        """Several campaigns' conversations, oldest first each (campaigns without any are left out): ONE query."""
        cursor = self.collection.find({"campaign_id": {"$in": [oid(i) for i in campaign_ids]}}).sort("timestamp", 1)
        by_campaign: dict[str, list[Interaction]] = {}
        async for doc in cursor:
            by_campaign.setdefault(str(doc["campaign_id"]), []).append(Interaction.from_mongo(doc))
        return by_campaign

    async def recent_for_campaign(self, campaign_id: str, *, limit: int) -> list[Interaction]:
        """The last `limit` interactions of a campaign, oldest first (concurrent calls share one find)."""
        key = oid(campaign_id)
        if key is None:
            return []
        docs = await self._recent.submit((key, limit))
        return [Interaction.from_mongo(doc) for doc in reversed(docs)]

    async def by_message_ids(self, message_ids: list[str]) -> Interaction | None:
        """The most recent interaction carrying one of these Message-ID headers (threading by reference)."""
        if not message_ids:
            return None
        return self._load(await self._by_message_ids.submit(frozenset(message_ids)))

    async def by_thread(self, thread_id: str) -> Interaction | None:
        """The most recent interaction in a mail thread (concurrent calls share one find)."""
        return self._load(await self._by_thread.submit(thread_id))

    # Each lookup below answers several waiting callers with one index-range find, split per caller; the ones
    # that read newest first stop as soon as every caller has its answer.

    async def _scan_newest(
        self, query: dict[str, Any], enough: Callable[[Mongo], bool], projection: dict[str, Any] | None = None
    ) -> None:
        """Feed matching documents, newest first, to `enough` until it says every waiting caller has its answer."""
        cursor = self.collection.find(query, projection).sort("timestamp", DESCENDING)
        try:
            async for doc in cursor:
                if enough(doc):
                    break
        finally:
            await cursor.close()

    async def _newest_match_each(
        self, query: dict[str, Any], asks: list[Any], fits: Callable[[Mongo, Any], bool]
    ) -> list[Any]:
        answers: list[Mongo | None] = [None] * len(asks)

        def take(doc: Mongo) -> bool:
            for n, ask in enumerate(asks):
                if answers[n] is None and fits(doc, ask):
                    answers[n] = doc
            return all(a is not None for a in answers)

        await self._scan_newest(query, take)
        return answers

    async def _recent_of(self, asks: list[tuple[ObjectId, int]]) -> list[list[Mongo]]:
        wanted: dict[ObjectId, int] = {}
        for key, limit in asks:
            wanted[key] = max(limit, wanted.get(key, 0))
        found: dict[ObjectId, list[Mongo]] = {key: [] for key in wanted}
        short = {key for key, limit in wanted.items() if limit > 0}

        def take(doc: Mongo) -> bool:
            key = doc["campaign_id"]
            if key in short:
                found[key].append(doc)
                if len(found[key]) == wanted[key]:
                    short.discard(key)
            return not short

        if short:
            await self._scan_newest({"campaign_id": {"$in": list(short)}}, take)
        return [found[key][:limit] for key, limit in asks]

    async def _latest_by_message_ids(self, asks: list[frozenset[str]]) -> list[Mongo | None]:
        query = {"message_id_header": {"$in": sorted(set().union(*asks))}}
        return await self._newest_match_each(query, asks, lambda doc, ids: doc.get("message_id_header") in ids)

    async def _latest_in_threads(self, asks: list[str]) -> list[Mongo | None]:
        query = {"thread_id": {"$in": list(set(asks))}}
        return await self._newest_match_each(query, asks, lambda doc, thread_id: doc.get("thread_id") == thread_id)


class OutboundMessageRepository(Repository[OutboundMessage]):
    """outbound_messages: one row per (campaign, attempt, channel), so each step is sent at most once."""

    collection_name = "outbound_messages"
    model = OutboundMessage

    async def claim(
        self, *, campaign_id: str, attempt: int, channel: Channel, owner: str, now: datetime, ttl: timedelta
    ) -> tuple[bool, OutboundMessage]:
        """(True, row) when this caller may send; (False, existing row) when the step is taken.

        A row that definitely failed before reaching the provider may be claimed again.
        """
        row = OutboundMessage(
            id=new_id(),
            campaign_id=campaign_id,
            attempt=attempt,
            channel=channel,
            lease=Lease(owner=owner, until=now + ttl),
            created_at=now,
            updated_at=now,
        )
        try:
            await self.insert(row)
            return True, row
        except DuplicateKeyError:
            pass
        key = {"campaign_id": oid(campaign_id), "attempt": attempt, "channel": channel.value}
        retaken = await self.collection.find_one_and_update(
            {**key, "status": OutboundStatus.FAILED.value},
            {
                "$set": {
                    "status": OutboundStatus.CLAIMED.value,
                    "lease": Lease(owner=owner, until=now + ttl).model_dump(),
                    "updated_at": now,
                    "error": None,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if retaken is not None:
            return True, OutboundMessage.from_mongo(retaken)
        existing = await self.collection.find_one(key)
        if existing is None:  # deleted between our two reads: treat as taken; the next run will see it
            return False, row
        return False, OutboundMessage.from_mongo(existing)

    async def finish(
        self,
        row_id: str,
        *,
        owner: str,
        status: OutboundStatus,
        now: datetime,
        provider_message_id: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the result of our own send (a `sent` result always wins: it is what happened)."""
        query: dict[str, Any] = {"_id": oid(row_id), "lease.owner": owner}
        if status != OutboundStatus.SENT:
            query["status"] = OutboundStatus.CLAIMED.value
        result = await self._update_one(
            query,
            {
                "$set": {
                    "status": status.value,
                    "provider_message_id": provider_message_id,
                    "error": error,
                    "updated_at": now,
                }
            },
        )
        return result.modified_count == 1

    async def mark_unknown_if_stale(self, row_id: str, *, now: datetime) -> bool:
        """A claim whose sender vanished mid-send: the outcome is unknown and it is never sent again."""
        result = await self._update_one(
            {"_id": oid(row_id), "status": OutboundStatus.CLAIMED.value, "lease.until": {"$lte": now}},
            {"$set": {"status": OutboundStatus.UNKNOWN.value, "updated_at": now}},
        )
        return result.modified_count == 1

    async def count_by_status(self) -> dict[str, int]:
        """Rows per status."""
        cursor = await self.collection.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        return {doc["_id"]: doc["n"] async for doc in cursor}


class InboundEventRepository(Repository[InboundEvent]):
    """inbound_events."""

    collection_name = "inbound_events"
    model = InboundEvent

    async def record(self, event: InboundEvent) -> bool:
        """Record an event under its unique (source, external id); False when it was already there."""
        try:
            await self.insert(event)
        except DuplicateKeyError:
            return False
        return True

    async def finished_ids(self, source: InboundSource, external_ids: list[str]) -> set[str]:
        """Which of these external ids are already done or skipped (one query for a whole history window)."""
        if not external_ids:
            return set()
        cursor = self.collection.find(
            {"source": source.value, "external_id": {"$in": external_ids}}, {"external_id": 1, "status": 1}
        )
        return {doc["external_id"] async for doc in cursor if doc["status"] != InboundStatus.PENDING.value}

    async def find_one(self, source: InboundSource, external_id: str) -> InboundEvent | None:
        """An event by its external id."""
        return self._load(await self.collection.find_one({"source": source.value, "external_id": external_id}))

    async def mark_done(self, event_id: str, *, now: datetime) -> None:
        """Close an event that needs no lease (e.g. a push whose sync finished)."""
        await self._update_one(
            {"_id": oid(event_id)}, {"$set": {"status": InboundStatus.DONE.value, "updated_at": now}}
        )

    async def claim(
        self, *, source: InboundSource, external_id: str, owner: str, now: datetime, ttl: timedelta
    ) -> InboundEvent | None:
        """Lease a pending event for processing (a fresh one, or one whose last worker vanished)."""
        # update_one + a read by key, not findAndModify: some servers (SecantusDB) answer that with a scan.
        key = {"source": source.value, "external_id": external_id}
        token = new_id()
        result = await self._update_one(
            {**key, "status": InboundStatus.PENDING.value, "lease_until": {"$lte": now}},
            {
                "$set": {
                    "lease": Lease(owner=owner, until=now + ttl, claim=token).model_dump(),
                    "lease_until": now + ttl,
                    "updated_at": now,
                },
                "$inc": {"attempts": 1},
            },
        )
        if result.modified_count != 1:
            return None
        return self._load(await self.collection.find_one({**key, "lease.claim": token}))

    async def finish(
        self,
        event_id: str,
        *,
        owner: str,
        status: InboundStatus,
        now: datetime,
        reason: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Close an event we hold."""
        fields: dict[str, Any] = {
            "status": status.value,
            "lease": None,
            "lease_until": now,
            "reason": reason,
            "updated_at": now,
        }
        if payload is not None:
            fields["payload"] = payload
        result = await self._update_one({"_id": oid(event_id), "lease.owner": owner}, {"$set": fields})
        return result.modified_count == 1

    async def release(self, event_id: str, *, owner: str, error: str, now: datetime) -> None:
        """Give a failed event back for a later retry."""
        await self._update_one(
            {"_id": oid(event_id), "lease.owner": owner},
            {"$set": {"lease": None, "lease_until": now, "error": error[:300], "updated_at": now}},
        )

    async def pending_ids(self, *, source: InboundSource, older_than: datetime, limit: int) -> list[str]:
        """External ids of pending events untouched since a time (for the sweeper)."""
        cursor = (
            self.collection.find(
                {
                    "source": source.value,
                    "status": InboundStatus.PENDING.value,
                    "updated_at": {"$lte": older_than},
                    "lease_until": {"$lte": older_than},
                },
                {"external_id": 1},
            )
            .sort("updated_at", 1)
            .limit(limit)
        )
        return [doc["external_id"] async for doc in cursor]

    async def claim_reply(self, event_id: str, *, owner: str, now: datetime, ttl: timedelta) -> bool:
        """The right to send the one auto-reply to this message."""
        result = await self._update_one(
            {"_id": oid(event_id), "reply_status": {"$in": [None, OutboundStatus.FAILED.value]}},
            {
                "$set": {
                    "reply_status": OutboundStatus.CLAIMED.value,
                    "reply_lease": {"owner": owner, "until": now + ttl},
                }
            },
        )
        if result.modified_count == 1:
            return True
        # A sender that vanished mid-send leaves the outcome unknown: never send again.
        await self._update_one(
            {"_id": oid(event_id), "reply_status": OutboundStatus.CLAIMED.value, "reply_lease.until": {"$lte": now}},
            {"$set": {"reply_status": OutboundStatus.UNKNOWN.value}},
        )
        return False

    async def finish_reply(
        self, event_id: str, *, owner: str, status: OutboundStatus, message_id: str | None = None
    ) -> None:
        """Record the outcome of our reply send."""
        await self._update_one(
            {"_id": oid(event_id), "reply_lease.owner": owner},
            {"$set": {"reply_status": status.value, "reply_message_id": message_id}},
        )


class ReplySlotRepository(Repository[ReplySlot]):
    """reply_slots: the unique key makes taking one of the limited auto-replies a single atomic write."""

    collection_name = "reply_slots"
    model = ReplySlot

    async def claim(self, key: str, *, event_id: str, now: datetime, ttl: timedelta) -> bool:
        """Take the slot (free, expired or already this message's) until now + ttl; False when another holds it."""
        until = now + ttl
        try:
            # The common case is one plain insert (sent with concurrent ones); the unique key refuses a taken slot.
            await self.insert(ReplySlot(id=new_id(), key=key, event_id=event_id, until=until))
            return True
        except DuplicateKeyError:
            pass
        # Taken: still ours (a retried run), or free again once expired (the TTL monitor deletes it only later).
        # Each is one conditional update on the key index, so two messages cannot both take an expired slot.
        for held in ({"key": key, "event_id": event_id}, {"key": key, "until": {"$lte": now}}):
            result = await self._update_one(held, {"$set": {"event_id": event_id, "until": until}})
            if result.matched_count == 1:
                return True
        return False

    async def release(self, key: str, *, event_id: str) -> None:
        """Give back a slot this message took."""
        await self.collection.delete_one({"key": key, "event_id": event_id})


class GmailStateRepository(Repository[GmailState]):
    """gmail_state: the history cursor only ever moves forward."""

    collection_name = "gmail_state"
    model = GmailState

    async def get_by_address(self, email_address: str) -> GmailState | None:
        """The state of a mailbox."""
        return self._load(await self.collection.find_one({"email_address": email_address.lower()}))

    async def _upsert(self, email_address: str, update: dict[str, Any], now: datetime) -> GmailState:
        for attempt in range(2):
            try:
                doc = await self.collection.find_one_and_update(
                    {"email_address": email_address.lower()},
                    {
                        **update,
                        "$set": {**update.get("$set", {}), "updated_at": now},
                        "$setOnInsert": {"_id": ObjectId()},
                    },
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                ) or await self.collection.find_one({"email_address": email_address.lower()})
                return GmailState.from_mongo(required(doc))
            except DuplicateKeyError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def advance(self, email_address: str, history_id: int, *, now: datetime) -> GmailState:
        """Move the cursor to `history_id` unless it is already further."""
        return await self._upsert(email_address, {"$max": {"history_id": history_id}}, now)

    async def set_watch(
        self, email_address: str, *, history_id: int, expiration: datetime, now: datetime
    ) -> GmailState:
        """Record a (re)started watch; the cursor starts there if there was none."""
        return await self._upsert(
            email_address, {"$set": {"watch_expiration": expiration}, "$max": {"history_id": history_id}}, now
        )

    async def touch_push(self, email_address: str, *, now: datetime) -> None:
        """Remember when the last push arrived (the poll fallback looks at it)."""
        await self._upsert(email_address, {"$set": {"last_push_at": now}}, now)


class LeaseRepository(Repository[NamedLease]):
    """leases: named, expiring claims on shared work."""

    collection_name = "leases"
    model = NamedLease

    async def claim(self, name: str, *, owner: str, ttl: timedelta, now: datetime) -> bool:
        """Take or renew the lease when it is free, expired or already ours."""
        try:
            doc = await self.collection.find_one_and_update(
                {"name": name, "$or": [{"until": {"$lte": now}}, {"owner": owner}]},
                {"$set": {"owner": owner, "until": now + ttl}, "$setOnInsert": {"_id": ObjectId()}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # someone else holds it (the upsert collided with their document)
        return doc is not None and doc["owner"] == owner

    async def release(self, name: str, *, owner: str) -> None:
        """Give the lease up if we hold it."""
        await self.collection.delete_one({"name": name, "owner": owner})


class UserRepository(Repository[User]):
    """users."""

    collection_name = "users"
    model = User

    async def get_by_email(self, email: str) -> User | None:
        """Find a user by (lower-cased) email."""
        return self._load(await self.collection.find_one({"email": email.lower()}))

    async def create_or_reset(self, *, email: str, password_hash: str, role: Role, now: datetime) -> User:
        """Create the account, or reset its password and role."""
        doc = await self.collection.find_one_and_update(
            {"email": email.lower()},
            {
                "$set": {"password_hash": password_hash, "role": role.value, "is_active": True, "updated_at": now},
                "$setOnInsert": {"_id": ObjectId(new_id()), "created_at": now},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return User.from_mongo(required(doc))


class LoginAttemptRepository:
    """login_attempts: password checks per account key (known or not, so lockout reveals nothing)."""

    collection_name = "login_attempts"

    def __init__(self, db: Any):
        self.collection = db[self.collection_name]

    async def begin(self, key: str, *, now: datetime, window: timedelta, max_attempts: int, lockout: timedelta) -> bool:
        """Count one attempt before its password is checked (one atomic update); False when over the limit."""
        # The count restarts when the window is over (and no lock holds) or when a lock has run out.
        locked = {"$gt": [{"$ifNull": ["$locked_until", now]}, now]}
        lock_over = {"$lte": [{"$ifNull": ["$locked_until", _NEVER]}, now]}
        stale = {"$lte": [{"$ifNull": ["$window_start", now - window]}, now - window]}
        restart = {"$or": [lock_over, {"$and": [stale, {"$not": [locked]}]}]}
        update = [
            {
                "$set": {
                    "attempts": {"$cond": [restart, 1, {"$add": [{"$ifNull": ["$attempts", 0]}, 1]}]},
                    "window_start": {"$cond": [restart, now, "$window_start"]},
                    "locked_until": {"$cond": [restart, None, "$locked_until"]},
                    "expires_at": now + window + lockout,
                }
            }
        ]
        for attempt in range(2):
            try:
                doc = await self.collection.find_one_and_update(
                    {"key": key}, update, upsert=True, return_document=ReturnDocument.AFTER
                ) or await self.collection.find_one({"key": key})
                break
            except DuplicateKeyError:  # two first attempts upserted at once; the second now finds the document
                if attempt:
                    raise
        until = doc.get("locked_until")
        return int(doc["attempts"]) <= max_attempts and not (until and until > now)

    async def record_failure(self, key: str, *, now: datetime, max_attempts: int, lockout: timedelta) -> None:
        """After a failed check: lock the key once its window holds `max_attempts` attempts."""
        until = now + lockout
        await self.collection.update_one(
            {"key": key, "attempts": {"$gte": max_attempts}},
            {"$set": {"locked_until": until}, "$max": {"expires_at": until}},
        )

    async def reset(self, key: str) -> None:
        """Forget attempts after a successful login."""
        await self.collection.delete_one({"key": key})


class AuditRepository(Repository[AuditRecord]):
    """audit_log: append-only."""

    collection_name = "audit_log"
    model = AuditRecord

    async def record(
        self,
        *,
        actor: str,
        action: str,
        resource: str,
        at: datetime,
        ip: str | None = None,
        patient_id: str | None = None,
        outcome: AuditOutcome = AuditOutcome.SUCCESS,
    ) -> AuditRecord:
        """Append one audit record."""
        return await self.insert(
            AuditRecord(
                id=new_id(),
                actor=actor,
                action=action,
                resource=resource,
                patient_id=patient_id,
                at=at,
                ip=ip,
                outcome=outcome,
            )
        )

    async def page(self, *, skip: int, limit: int, actor: str | None = None) -> tuple[list[AuditRecord], int]:
        """Newest first, with the total."""
        query: dict[str, Any] = {"actor": actor} if actor else {}
        cursor = self.collection.find(query).sort("at", DESCENDING).skip(skip).limit(limit)
        items = [AuditRecord.from_mongo(doc) async for doc in cursor]
        return items, await self.collection.count_documents(query)


class KbArticleRepository(Repository[KbArticle]):
    """kb_articles."""

    collection_name = "kb_articles"
    model = KbArticle

    async def all(self) -> list[KbArticle]:
        """Every article (the knowledge base is small)."""
        return [KbArticle.from_mongo(doc) async for doc in self.collection.find({})]
