"""Dashboard aggregation pipelines (built here, run by the campaigns and appointments repositories)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from db.repositories.base import Mongo
from models.enums import ACTIVE_STATUSES, ATTEMPTING_STATUSES, AppointmentStatus, CampaignStatus, CampaignType


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
        "active_recovery": _sum_if(_eq(t, CampaignType.RECOVERY.value), _in(s, ACTIVE_STATUSES)),
        "active_recall": _sum_if(_eq(t, CampaignType.RECALL.value), _in(s, ACTIVE_STATUSES)),
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
