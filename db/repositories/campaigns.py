"""campaigns: follow-up claims, conversion, the staff list/detail/queue and the one-active-per-type marker.

The list, search and queue reads name their index as a hint, so the plan is an index scan on every server
(some planners skip an index for a regex, or for a range combined with a sort). The dashboard aggregation leaves
the choice to the planner (on the embedded server a hinted scan costs several times more per document).
`tests/api/test_admin_indexes.py` checks the plans with explain.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from db.repositories.base import Mongo, Repository, oid
from db.repositories.dashboard_queries import campaign_dashboard_pipeline
from models.base import new_id, plain
from models.campaign import Campaign, CampaignDetail, CampaignSummary, Conversion, HandoffItem, Lease
from models.enums import ACTIVE_STATUSES, ATTEMPTING_STATUSES, CampaignStatus, CampaignType, Direction
from models.interaction import Interaction
from models.patient import Patient

# A worker claims a random `limit` out of this many times as many due campaigns (see claim_due).
CLAIM_WINDOW_FACTOR = 4
CLAIM_ROUNDS = 3
# What a public booking converts (HANDOFF is left to staff).
CONVERTIBLE_STATUSES = (*ATTEMPTING_STATUSES, CampaignStatus.ENGAGED)
# What the follow-up worker claims: contacting campaigns, and engaged ones for their nudge and hand-off.
WORKED_STATUSES = (*ATTEMPTING_STATUSES, CampaignStatus.ENGAGED)
ACTIVE = [s.value for s in ACTIVE_STATUSES]
# The conversation of one campaign is read in one batch (one command), whatever its length.
CONVERSATION_BATCH = 10_000
# Each campaign's patient, name and email only, as `patient` (a list of at most one).
_PATIENT_SUMMARY: Mongo = {
    "$lookup": {
        "from": "patients",
        "localField": "patient_id",
        "foreignField": "_id",
        "pipeline": [{"$project": {"name": 1, "email": 1}}],
        "as": "patient",
    }
}


def active_key(patient_id: str, campaign_type: CampaignType) -> str:
    """The unique marker an active campaign carries: one active campaign per patient and type."""
    return f"{patient_id}:{campaign_type.value}"


def _marked(update: Mongo, status: str, key: str | None = None) -> Mongo:
    """The update with the active marker kept in step with the status it writes: freed when the campaign leaves
    the active set, set (when its key is given) when it enters it."""
    if status not in ACTIVE:
        update["$unset"] = {**update.get("$unset", {}), "active_key": ""}
    elif key is not None:
        update["$set"] = {**update.get("$set", {}), "active_key": key}
    return update


class ActiveKeyTaken(Exception):
    """Another active campaign of the same patient and type holds the marker."""


@dataclass(frozen=True)
class CampaignQuery:
    """Filters and sort of the staff campaign list (datetimes in UTC)."""

    campaign_type: CampaignType | None = None
    statuses: tuple[CampaignStatus, ...] = ()  # any of these (none: every status)
    patient_ids: list[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    converted_from: datetime | None = None
    converted_to: datetime | None = None
    sort: str = "-updated_at"

    def filter(self) -> Mongo:
        """The MongoDB filter."""
        query: Mongo = {}
        if self.campaign_type:
            query["campaign_type"] = self.campaign_type.value
        if len(self.statuses) == 1:
            query["status"] = self.statuses[0].value
        elif self.statuses:
            query["status"] = {"$in": [s.value for s in self.statuses]}
        if self.patient_ids is not None:
            query["patient_id"] = {"$in": [oid(i) for i in self.patient_ids]}
        for field, start, end in (
            ("created_at", self.created_from, self.created_to),
            ("converted_at", self.converted_from, self.converted_to),
        ):
            if start or end:
                query[field] = {op: v for op, v in (("$gte", start), ("$lt", end)) if v is not None}
        return query

    def hint(self) -> str:
        """The index serving this combination of filters (the most selective one first)."""
        if self.patient_ids is not None:
            return "patient_type"
        if self.converted_from or self.converted_to:
            return "dashboard"  # (type, status, created_at, converted_at): bounds on every field given
        if self.created_from or self.created_to:
            return "created_at"
        if self.campaign_type:
            return "type_status_updated"
        if self.statuses:
            return "status_updated"
        return self.sort.lstrip("-")

    def sort_spec(self) -> dict[str, int]:
        """Sort by the field, newest first for '-field', ties by id."""
        direction = -1 if self.sort.startswith("-") else 1
        return {self.sort.lstrip("-"): direction, "_id": direction}


def _row(doc: Mongo) -> CampaignSummary:
    patient = (doc.pop("patient", None) or [None])[0] or {}
    return CampaignSummary(Campaign.from_mongo(doc), patient.get("name"), patient.get("email"))


class CampaignRepository(Repository[Campaign]):
    """campaigns: follow-up claims, conversion, the staff list/detail/queue and lifecycle compare-and-set writes."""

    collection_name = "campaigns"
    model = Campaign

    async def list_for_patient(self, patient_id: str) -> list[Campaign]:
        """All campaigns of a patient, newest first."""
        cursor = self.collection.find({"patient_id": oid(patient_id)}).sort("created_at", DESCENDING)
        return [Campaign.from_mongo(doc) async for doc in cursor]

    async def claim_due(self, *, owner: str, now: datetime, ttl: timedelta, limit: int) -> list[Campaign]:
        """Atomically lease up to `limit` due attempting or engaged campaigns (most overdue first, as a batch).

        Candidates come from one index range per status (no `$or`); ONE conditional update_many leases those still
        due, and a read by id returns the ones this call won. Claiming moves `next_follow_up_at` to the lease's end,
        so a held campaign is not due for anyone else and one whose worker vanished is due again when it runs out.
        Each worker samples from a wider window of candidates so concurrent workers rarely reach for the same ones.
        """
        statuses = [s.value for s in WORKED_STATUSES]
        still_due: list[Mongo] = [{"status": s, "follow_up_details.next_follow_up_at": {"$lte": now}} for s in statuses]
        # Engaged before the engaged schedule existed, so nothing is scheduled: due at once, to be given one.
        still_due.append({"status": CampaignStatus.ENGAGED.value, "follow_up_details.next_follow_up_at": None})
        for _ in range(CLAIM_ROUNDS):
            candidates: list[ObjectId] = []
            for query in still_due:
                cursor = (
                    self.collection.find(query, {"_id": 1})
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
                {"_id": {"$in": picked}, "$or": still_due},
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
        return _marked(update, fields["status"]) if "status" in fields else update

    async def commit(
        self,
        campaign_id: str,
        *,
        owner: str,
        now: datetime,
        fields: dict[str, Any],
        status: CampaignStatus | None = None,
    ) -> bool:
        """Write a run's outcome and drop the lease, only if the lease is still ours and unexpired (and, with
        `status`, the campaign is still in it)."""
        query: Mongo = {"_id": oid(campaign_id), "lease.owner": owner, "lease.until": {"$gt": now}}
        if status is not None:
            query["status"] = status.value
        result = await self._update_one(query, self._update({**fields, "lease": None}, now))
        return result.modified_count == 1

    async def claim_nudge(self, campaign_id: str, *, owner: str, now: datetime, engaged_at: datetime) -> bool:
        """Compare-and-set: record the engaged campaign's one nudge as taken, only by the lease holder and only if
        no nudge was taken since it became engaged. True when this call took it."""
        result = await self._update_one(
            {
                "_id": oid(campaign_id),
                "status": CampaignStatus.ENGAGED.value,
                "lease.owner": owner,
                "lease.until": {"$gt": now},
                "follow_up_details.nudged_at": None,
            },
            {"$set": {"follow_up_details.nudged_at": now, "engaged_at": engaged_at, "updated_at": now}},
        )
        return result.modified_count == 1

    async def set_fields(self, campaign_id: str, fields: dict[str, Any], *, now: datetime) -> None:
        """Plain field update (staff actions, new campaigns' schedule)."""
        await self._update_one({"_id": oid(campaign_id)}, self._update(fields, now))

    async def latest_active_for_patient(self, patient_id: str) -> Campaign | None:
        """The patient's most recently updated active campaign."""
        doc = await self.collection.find_one(
            {"patient_id": oid(patient_id), "status": {"$in": ACTIVE}},
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
                _marked(
                    {
                        "$set": {
                            "status": CampaignStatus.BOOKING_COMPLETED.value,
                            "converted_at": now,
                            "conversion": plain(prior.model_dump()),
                            "updated_at": now,
                            "follow_up_details.next_follow_up_at": None,
                        }
                    },
                    CampaignStatus.BOOKING_COMPLETED.value,
                ),
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
            key = active_key(campaign.patient_id, campaign.campaign_type)
            cas = {"_id": doc["_id"], **query}
            try:
                result = await self.collection.update_one(cas, _marked({"$set": fields}, status.value, key))
            except DuplicateKeyError:
                # Another active campaign of this type exists now: bring this one back paused instead.
                fields.update({"status": CampaignStatus.PAUSED.value, "follow_up_details.next_follow_up_at": None})
                result = await self.collection.update_one(cas, _marked({"$set": fields}, CampaignStatus.PAUSED.value))
            if result.modified_count == 1:
                restored.append(campaign.id)
        return restored

    async def dashboard(self, *, timezone: str, months: Sequence[str], since: datetime, now: datetime) -> Mongo:
        """The dashboard's campaign figures: ONE aggregate command returning one document."""
        pipeline = campaign_dashboard_pipeline(timezone=timezone, months=months, since=since, now=now)
        cursor = await self.collection.aggregate(pipeline)
        docs = await cursor.to_list()
        return docs[0] if docs else {"totals": [], "started": [], "converted": []}

    async def page(self, query: CampaignQuery, *, skip: int, limit: int) -> tuple[list[CampaignSummary], int]:
        """A page of campaigns with patient name/email (one aggregate) and the total (one count)."""
        match = query.filter()
        pipeline: list[Mongo] = [
            {"$match": match},
            {"$sort": query.sort_spec()},
            {"$skip": skip},
            {"$limit": limit},
            _PATIENT_SUMMARY,
        ]
        cursor = await self.collection.aggregate(pipeline, hint=query.hint(), batchSize=limit)
        items = [_row(doc) async for doc in cursor]
        if match:
            total = await self.collection.count_documents(match, hint=query.hint())
        else:
            total = await self.collection.estimated_document_count()
        return items, total

    async def detail(self, campaign_id: str) -> CampaignDetail | None:
        """Campaign, patient and conversation oldest first: ONE aggregate command."""
        key = oid(campaign_id)
        if key is None:
            return None
        pipeline: list[Mongo] = [
            {"$match": {"_id": key}},
            {"$lookup": {"from": "patients", "localField": "patient_id", "foreignField": "_id", "as": "patient"}},
            {
                "$lookup": {
                    "from": "interactions",
                    "localField": "_id",
                    "foreignField": "campaign_id",
                    "pipeline": [{"$sort": {"timestamp": 1, "_id": 1}}],
                    "as": "conversation",
                }
            },
        ]
        cursor = await self.collection.aggregate(pipeline, batchSize=CONVERSATION_BATCH)
        docs = await cursor.to_list()
        if not docs:
            return None
        doc = docs[0]
        patients = doc.pop("patient", [])
        conversation = [Interaction.from_mongo(i) for i in doc.pop("conversation", [])]
        patient = Patient.from_mongo(patients[0]) if patients else None
        return CampaignDetail(Campaign.from_mongo(doc), patient, conversation)

    async def handoffs(self, *, skip: int, limit: int) -> tuple[list[HandoffItem], int]:
        """HANDOFF campaigns, longest waiting first, with the last incoming message: one aggregate and one count."""
        match = {"status": CampaignStatus.HANDOFF.value}
        last_incoming = [
            {"$match": {"direction": Direction.INCOMING.value}},
            {"$sort": {"timestamp": -1, "_id": -1}},
            {"$limit": 1},
        ]
        pipeline: list[Mongo] = [
            {"$match": match},
            {"$sort": {"handoff.at": 1, "_id": 1}},
            {"$skip": skip},
            {"$limit": limit},
            _PATIENT_SUMMARY,
            {
                "$lookup": {
                    "from": "interactions",
                    "localField": "_id",
                    "foreignField": "campaign_id",
                    "pipeline": last_incoming,
                    "as": "last_incoming",
                }
            },
        ]
        cursor = await self.collection.aggregate(pipeline, hint="status_handoff_at", batchSize=limit)
        items = []
        async for doc in cursor:
            last = doc.pop("last_incoming", [])
            items.append(HandoffItem(_row(doc), Interaction.from_mongo(last[0]) if last else None))
        total = await self.collection.count_documents(match, hint="status_handoff_at")
        return items, total

    async def active_of_type(self, patient_id: str, campaign_type: CampaignType) -> Campaign | None:
        """The patient's active campaign of this type, if any."""
        doc = await self.collection.find_one(
            {"patient_id": oid(patient_id), "campaign_type": campaign_type.value, "status": {"$in": ACTIVE}},
            hint="patient_type",
        )
        return self._load(doc)

    async def insert_active(self, campaign: Campaign) -> bool:
        """Insert an active campaign unless the patient already has one of its type (race-safe); False if so."""
        key = active_key(campaign.patient_id, campaign.campaign_type)
        if await self.active_of_type(campaign.patient_id, campaign.campaign_type) is not None:
            return False
        doc = {**campaign.to_mongo(), "active_key": key}
        for attempt in range(2):
            try:
                await self.collection.insert_one(doc)
                return True
            except DuplicateKeyError:
                if attempt or not await self._release_stale_key(key):
                    return False
        return False

    async def _release_stale_key(self, key: str) -> bool:
        """Drop the marker from a campaign that left the active set without clearing it; True when one was dropped."""
        result = await self.collection.update_one(
            {"active_key": key, "status": {"$nin": ACTIVE}}, {"$unset": {"active_key": ""}}
        )
        return result.modified_count == 1

    async def transition(
        self,
        campaign_id: str,
        *,
        from_statuses: Sequence[CampaignStatus],
        now: datetime,
        changes: Mapping[str, Any],
    ) -> Campaign | None:
        """Compare-and-set: apply `changes` (a new status among them) only if the campaign is in `from_statuses`
        and no worker holds its lease.

        An active new status takes the active marker (ActiveKeyTaken when another active campaign of the type
        holds it); any other frees it. None is returned when the campaign was not in a source state or was leased.
        """
        current = await self.get(campaign_id)
        if current is None:
            return None
        key = active_key(current.patient_id, current.campaign_type)
        update = _marked({"$set": {**changes, "updated_at": now}}, changes["status"], key)
        query = {
            "_id": oid(campaign_id),
            "status": {"$in": [s.value for s in from_statuses]},
            "$or": [{"lease": None}, {"lease.until": {"$lte": now}}],
        }
        for attempt in range(2):
            try:
                doc = await self.collection.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
                return self._load(doc)
            except DuplicateKeyError as exc:
                if attempt or not await self._release_stale_key(key):
                    raise ActiveKeyTaken(key) from exc
        raise AssertionError("unreachable")
