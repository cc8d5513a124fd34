"""Every index of ARCHITECTURE §3, created idempotently at startup."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

_STRING = {"$type": "string"}

INDEXES: dict[str, list[IndexModel]] = {
    "patients": [
        IndexModel("email", name="email_unique", unique=True, partialFilterExpression={"email": _STRING}),
        IndexModel("phone", name="phone"),
        IndexModel("name", name="name"),
    ],
    "campaigns": [
        IndexModel("status", name="status"),
        IndexModel([("updated_at", DESCENDING)], name="updated_at"),
        IndexModel("campaign_type", name="campaign_type"),
        IndexModel([("status", ASCENDING), ("follow_up_details.next_follow_up_at", ASCENDING)], name="due"),
        IndexModel([("patient_id", ASCENDING), ("campaign_type", ASCENDING)], name="patient_type"),
        IndexModel("created_at", name="created_at"),
        IndexModel("converted_at", name="converted_at"),
    ],
    "appointments": [
        IndexModel("start", name="start"),
        IndexModel("patient_id", name="patient_id"),
        IndexModel([("doctor", ASCENDING), ("start", ASCENDING)], name="doctor_start"),
        IndexModel(
            "manage_token_hash", name="manage_token_unique", unique=True,
            partialFilterExpression={"manage_token_hash": _STRING},
        ),
    ],
    "slot_claims": [
        IndexModel([("doctor", ASCENDING), ("bucket_start", ASCENDING)], name="doctor_bucket_unique", unique=True),
        IndexModel("appointment_id", name="appointment_id"),
    ],
    "interactions": [
        IndexModel([("campaign_id", ASCENDING), ("timestamp", ASCENDING)], name="campaign_timestamp"),
        IndexModel("timestamp", name="timestamp"),
        IndexModel("patient_id", name="patient_id"),
        IndexModel("thread_id", name="thread_id"),
        IndexModel(
            "provider_message_id", name="provider_message_unique", unique=True,
            partialFilterExpression={"provider_message_id": _STRING},
        ),
    ],
    "outbound_messages": [
        IndexModel(
            [("campaign_id", ASCENDING), ("attempt", ASCENDING), ("channel", ASCENDING)],
            name="send_key_unique", unique=True,
        ),
        IndexModel("status", name="status"),
    ],
    "inbound_events": [
        IndexModel([("source", ASCENDING), ("external_id", ASCENDING)], name="external_unique", unique=True),
        IndexModel([("status", ASCENDING), ("updated_at", ASCENDING)], name="status_updated"),
    ],
    "gmail_state": [IndexModel("email_address", name="email_address_unique", unique=True)],
    "leases": [IndexModel("name", name="name_unique", unique=True)],
    "users": [IndexModel("email", name="email_unique", unique=True)],
    "login_attempts": [IndexModel("key", name="key_unique", unique=True)],
    "rate_limits": [
        IndexModel([("key", ASCENDING), ("window_start", ASCENDING)], name="key_window_unique", unique=True),
        IndexModel("expires_at", name="expires_ttl", expireAfterSeconds=0),
    ],
    "audit_log": [
        IndexModel([("at", DESCENDING)], name="at"),
        IndexModel([("patient_id", ASCENDING), ("at", DESCENDING)], name="patient_at"),
        IndexModel([("actor", ASCENDING), ("at", DESCENDING)], name="actor_at"),
    ],
    "kb_articles": [IndexModel("tags", name="tags")],
}


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Create all indexes (a no-op when they already exist)."""
    for collection, models in INDEXES.items():
        await db[collection].create_indexes(models)
