"""Admin queries: dashboard aggregations, the campaign list and detail, the handoff queue, staff lifecycle writes.

The list, search, queue and audit reads name their index as a hint, so the plan is an index scan on every server
(some planners skip an index for a regex, or for a range combined with a sort). The dashboard aggregations leave
the choice to the planner (on the embedded server a hinted scan costs several times more per document).
`tests/api/test_admin_indexes.py` checks the plans with explain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from db.repositories.base import Mongo, Repository, oid
from db.repositories.collections import PatientRepository, active_key
from models.appointment import Appointment
from models.campaign import Campaign
from models.enums import (
    ACTIVE_STATUSES,
    ATTEMPTING_STATUSES,
    AppointmentStatus,
    CampaignStatus,
    CampaignType,
    Direction,
)
from models.interaction import Interaction
from models.patient import Patient
from models.system import AuditRecord

ACTIVE = [s.value for s in ACTIVE_STATUSES]
# The conversation of one campaign is read in one batch (one command), whatever its length.
CONVERSATION_BATCH = 10_000
SEARCH_LIMIT = 1000
UPSERT_ATTEMPTS = 3
_PATIENT_SUMMARY = [{"$project": {"name": 1, "email": 1}}]


class ActiveKeyTaken(Exception):
    """Another active campaign of the same patient and type holds the marker."""


# ---- aggregation expressions ------------------------------------------------------------------------------------


def local_month(date: str | dict[str, Any], timezone: str) -> dict[str, Any]:
    """YYYY-MM of a field's date (or a date expression) in the timezone (null when it is null or missing)."""
    value = f"${date}" if isinstance(date, str) else date
    return {"$dateToString": {"format": "%Y-%m", "date": value, "timezone": timezone}}


# When a campaign was created: its created_at, or (written elsewhere without one) its id's timestamp, as
# Campaign.from_mongo reads it.
CREATED_AT: dict[str, Any] = {"$ifNull": ["$created_at", {"$toDate": "$_id"}]}


def _all(*conditions: Any) -> Any:
    return conditions[0] if len(conditions) == 1 else {"$and": list(conditions)}


def _sum_if(*conditions: Any) -> dict[str, Any]:
    """Sum of the grouped rows' counts `n` where all conditions hold."""
    return {"$sum": {"$cond": [_all(*conditions), "$n", 0]}}


def _eq(field: str, value: Any) -> dict[str, Any]:
    return {"$eq": [f"${field}", value]}


def _in(field: str, values: Sequence[Any]) -> dict[str, Any]:
    return {"$in": [f"${field}", [v.value if hasattr(v, "value") else v for v in values]]}


def _ratio(numerator: str, denominator: str) -> dict[str, Any]:
    """numerator / denominator, null when the denominator is 0."""
    return {"$cond": [{"$gt": [f"${denominator}", 0]}, {"$divide": [f"${numerator}", f"${denominator}"]}, None]}


RATE_TYPES = {"recovery": CampaignType.RECOVERY, "recall": CampaignType.RECALL}


def campaign_dashboard_pipeline(*, timezone: str, months: Sequence[str], since: datetime, now: datetime) -> list[Mongo]:
    """ONE aggregation over campaigns: KPIs, rates, breakdown and per-month started/converted counts.

    A single pass reduces every campaign to a count per (type, status, local month created, local month
    converted, created in [since, now]); the figures are then computed over those few hundred rows. `months` are
    the chart's YYYY-MM labels, the last one the current month.
    """
    current = months[-1]
    t, s, m, v, r = "t", "s", "m", "v", "r"
    booked = _eq(s, CampaignStatus.BOOKING_COMPLETED.value)
    totals: dict[str, Any] = {
        "_id": None,
        "active_recovery": _sum_if(_eq(t, CampaignType.RECOVERY.value), _in(s, ACTIVE)),
        "active_recall": _sum_if(_eq(t, CampaignType.RECALL.value), _in(s, ACTIVE)),
        "engaged_leads": _sum_if(_eq(s, CampaignStatus.ENGAGED.value)),
        "handoffs": _sum_if(_eq(s, CampaignStatus.HANDOFF.value)),
        "recoveries_this_month": _sum_if(_eq(t, CampaignType.RECOVERY.value), _eq(v, current)),
        "breakdown_active": _sum_if(_in(s, [*ATTEMPTING_STATUSES, CampaignStatus.ENGAGED])),
        "breakdown_recovered": _sum_if(booked),
        "breakdown_failed": _sum_if(_eq(s, CampaignStatus.FAILED.value)),
        "breakdown_declined": _sum_if(_eq(s, CampaignStatus.DECLINED.value)),
        "breakdown_handoffs": _sum_if(_eq(s, CampaignStatus.HANDOFF.value)),
    }
    windows: dict[str, list[Any]] = {"month": [_eq(m, current)], "lifetime": [], "trailing_90d": [_eq(r, True)]}
    rates: dict[str, Any] = {}
    for key, campaign_type in RATE_TYPES.items():
        for window, conditions in windows.items():
            of_type = _eq(t, campaign_type.value)
            totals[f"{key}_{window}_created"] = _sum_if(of_type, *conditions)
            totals[f"{key}_{window}_converted"] = _sum_if(of_type, *conditions, booked)
            rates[f"rate_{key}_{window}"] = _ratio(f"{key}_{window}_converted", f"{key}_{window}_created")
    created_in_window = {"$and": [{"$gte": [CREATED_AT, since]}, {"$lte": [CREATED_AT, now]}]}
    return [
        # Every campaign has one of the two types: the match lets the planner serve the pass from an index.
        {"$match": {"campaign_type": {"$in": [c.value for c in CampaignType]}}},
        {
            "$group": {
                "_id": {
                    t: "$campaign_type",
                    s: "$status",
                    m: local_month(CREATED_AT, timezone),
                    v: local_month("converted_at", timezone),
                    r: created_in_window,
                },
                "n": {"$sum": 1},
            }
        },
        {"$project": {"_id": 0, t: "$_id.t", s: "$_id.s", m: "$_id.m", v: "$_id.v", r: "$_id.r", "n": 1}},
        {
            "$facet": {
                "totals": [{"$group": totals}, {"$addFields": rates}],
                "started": [
                    {"$match": {m: {"$in": list(months)}}},
                    {"$group": {"_id": {t: "$t", "m": "$m"}, "n": {"$sum": "$n"}}},
                ],
                "converted": [
                    {"$match": {v: {"$in": list(months)}}},
                    {"$group": {"_id": {t: "$t", "m": "$v"}, "n": {"$sum": "$n"}}},
                ],
            }
        },
    ]


def appointment_dashboard_pipeline(*, timezone: str, bounds: Sequence[datetime]) -> list[Mongo]:
    """ONE aggregation over the chart's appointments: per local month, counts by status and not cancelled."""
    return [
        {"$match": {"start": {"$gte": bounds[0], "$lt": bounds[-1]}}},
        {"$group": {"_id": {"m": local_month("start", timezone), "s": "$status"}, "n": {"$sum": 1}}},
        {"$project": {"_id": 0, "m": "$_id.m", "s": "$_id.s", "n": 1}},
        {
            "$group": {
                "_id": "$m",
                **{status.value: _sum_if(_eq("s", status.value)) for status in AppointmentStatus},
                "not_cancelled": _sum_if({"$ne": ["$s", AppointmentStatus.CANCELLED.value]}),
            }
        },
    ]


# ---- rows ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRow:
    """A campaign with its patient's name and email."""

    campaign: Campaign
    patient_name: str | None
    patient_email: str | None


@dataclass(frozen=True)
class CampaignWithConversation:
    """A campaign, its patient and every interaction, oldest first."""

    campaign: Campaign
    patient: Patient | None
    conversation: list[Interaction]


@dataclass(frozen=True)
class HandoffRow:
    """A campaign waiting for staff, with the patient's last incoming message."""

    row: CampaignRow
    last_incoming: Interaction | None


@dataclass(frozen=True)
class CampaignQuery:
    """Filters and sort of the staff campaign list (datetimes in UTC)."""

    campaign_type: CampaignType | None = None
    status: CampaignStatus | None = None
    patient_ids: list[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    sort: str = "-updated_at"

    def filter(self) -> Mongo:
        """The MongoDB filter."""
        query: Mongo = {}
        if self.campaign_type:
            query["campaign_type"] = self.campaign_type.value
        if self.status:
            query["status"] = self.status.value
        if self.patient_ids is not None:
            query["patient_id"] = {"$in": [oid(i) for i in self.patient_ids]}
        if self.created_from or self.created_to:
            query["created_at"] = {
                op: v for op, v in (("$gte", self.created_from), ("$lt", self.created_to)) if v is not None
            }
        return query

    def hint(self) -> str:
        """The index serving this combination of filters (the most selective one first)."""
        if self.patient_ids is not None:
            return "patient_type"
        if self.created_from or self.created_to:
            return "created_at"
        if self.campaign_type:
            return "type_status_updated"
        if self.status:
            return "status_updated"
        return self.sort.lstrip("-")

    def sort_spec(self) -> dict[str, int]:
        """Sort by the field, newest first for '-field', ties by id."""
        direction = -1 if self.sort.startswith("-") else 1
        return {self.sort.lstrip("-"): direction, "_id": direction}


def _row(doc: Mongo) -> CampaignRow:
    patient = (doc.pop("patient", None) or [None])[0] or {}
    return CampaignRow(Campaign.from_mongo(doc), patient.get("name"), patient.get("email"))


# ---- repositories -------------------------------------------------------------------------------------------


class AdminCampaignRepository(Repository[Campaign]):
    """campaigns: dashboard aggregation, staff list/detail/queue, lifecycle compare-and-set writes."""

    collection_name = "campaigns"
    model = Campaign

    async def dashboard(self, *, timezone: str, months: Sequence[str], since: datetime, now: datetime) -> Mongo:
        """The dashboard's campaign figures: ONE aggregate command returning one document."""
        pipeline = campaign_dashboard_pipeline(timezone=timezone, months=months, since=since, now=now)
        cursor = await self.collection.aggregate(pipeline)
        docs = await cursor.to_list()
        return docs[0] if docs else {"totals": [], "started": [], "converted": []}

    async def page(self, query: CampaignQuery, *, skip: int, limit: int) -> tuple[list[CampaignRow], int]:
        """A page of campaigns with patient name/email (one aggregate) and the total (one count)."""
        match = query.filter()
        pipeline: list[Mongo] = [
            {"$match": match},
            {"$sort": query.sort_spec()},
            {"$skip": skip},
            {"$limit": limit},
            {
                "$lookup": {
                    "from": "patients",
                    "localField": "patient_id",
                    "foreignField": "_id",
                    "pipeline": _PATIENT_SUMMARY,
                    "as": "patient",
                }
            },
        ]
        cursor = await self.collection.aggregate(pipeline, hint=query.hint(), batchSize=limit)
        items = [_row(doc) async for doc in cursor]
        if match:
            total = await self.collection.count_documents(match, hint=query.hint())
        else:
            total = await self.collection.estimated_document_count()
        return items, total

    async def detail(self, campaign_id: str) -> CampaignWithConversation | None:
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
        return CampaignWithConversation(Campaign.from_mongo(doc), patient, conversation)

    async def handoffs(self, *, skip: int, limit: int) -> tuple[list[HandoffRow], int]:
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
            {
                "$lookup": {
                    "from": "patients",
                    "localField": "patient_id",
                    "foreignField": "_id",
                    "pipeline": _PATIENT_SUMMARY,
                    "as": "patient",
                }
            },
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
            items.append(HandoffRow(_row(doc), Interaction.from_mongo(last[0]) if last else None))
        total = await self.collection.count_documents(match, hint="status_handoff_at")
        return items, total

    async def has_active(self, patient_id: str, campaign_type: CampaignType) -> bool:
        """True when the patient has an active campaign of this type."""
        doc = await self.collection.find_one(
            {"patient_id": oid(patient_id), "campaign_type": campaign_type.value, "status": {"$in": ACTIVE}},
            {"_id": 1},
            hint="patient_type",
        )
        return doc is not None

    async def insert_active(self, campaign: Campaign) -> bool:
        """Insert an active campaign unless the patient already has one of its type (race-safe); False if so."""
        key = active_key(campaign.patient_id, campaign.campaign_type)
        if await self.has_active(campaign.patient_id, campaign.campaign_type):
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
        active: bool | None = None,
    ) -> Campaign | None:
        """Compare-and-set: apply `changes` only if the campaign is in `from_statuses` and no worker holds its lease.

        `active` True sets the active marker (ActiveKeyTaken when another active campaign of the type exists),
        False removes it, None leaves it. None is returned when the campaign was not in a source state or was leased.
        """
        current = await self.get(campaign_id)
        if current is None:
            return None
        update: dict[str, Any] = {"$set": {**changes, "updated_at": now}}
        if active is True:
            update["$set"]["active_key"] = active_key(current.patient_id, current.campaign_type)
        elif active is False:
            update["$unset"] = {"active_key": ""}
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
                key = active_key(current.patient_id, current.campaign_type)
                if attempt or not await self._release_stale_key(key):
                    raise ActiveKeyTaken(key) from exc
        raise AssertionError("unreachable")


class AdminAppointmentRepository(Repository[Appointment]):
    """appointments: the dashboard's per-month trend."""

    collection_name = "appointments"
    model = Appointment

    async def dashboard(self, *, timezone: str, bounds: Sequence[datetime]) -> list[Mongo]:
        """Per chart month: counts by status and not cancelled: ONE aggregate command (an index range on start)."""
        pipeline = appointment_dashboard_pipeline(timezone=timezone, bounds=bounds)
        cursor = await self.collection.aggregate(pipeline)
        return await cursor.to_list()


class AdminAuditRepository(Repository[AuditRecord]):
    """audit_log: paging for admins (the trail is written through AuditRepository)."""

    collection_name = "audit_log"
    model = AuditRecord

    async def page(self, *, skip: int, limit: int, actor: str | None = None) -> tuple[list[AuditRecord], int]:
        """Newest first, optionally one actor's, with the total."""
        query: Mongo = {"actor": actor} if actor else {}
        hint = "actor_at" if actor else "at"
        cursor = self.collection.find(query, sort=[("at", -1)], skip=skip, limit=limit, hint=hint)
        items = [AuditRecord.from_mongo(doc) async for doc in cursor]
        if actor:
            total = await self.collection.count_documents(query, hint=hint)
        else:
            total = await self.collection.estimated_document_count()
        return items, total


@dataclass
class AdminRepositories:
    """The admin repositories over one database."""

    campaigns: AdminCampaignRepository
    appointments: AdminAppointmentRepository
    patients: PatientRepository
    audit: AdminAuditRepository

    @classmethod
    def over(cls, db: AsyncDatabase[Mongo]) -> AdminRepositories:
        """Build them on a database."""
        return cls(
            AdminCampaignRepository(db),
            AdminAppointmentRepository(db),
            PatientRepository(db),
            AdminAuditRepository(db),
        )
