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
        IndexModel([("updated_at", DESCENDING)], name="updated_at"),
        IndexModel([("status", ASCENDING), ("follow_up_details.next_follow_up_at", ASCENDING)], name="due"),
        IndexModel([("patient_id", ASCENDING), ("campaign_type", ASCENDING)], name="patient_type"),
        IndexModel("created_at", name="created_at"),
    ],
    "appointments": [
        IndexModel("start", name="start"),
        IndexModel("patient_id", name="patient_id"),
        IndexModel([("doctor", ASCENDING), ("start", ASCENDING)], name="doctor_start"),
        IndexModel(
            "manage_token_hash",
            name="manage_token_unique",
            unique=True,
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
        IndexModel("message_id_header", name="message_id_header"),
        IndexModel([("thread_id", ASCENDING), ("kind", ASCENDING), ("timestamp", ASCENDING)], name="thread_kind_time"),
        IndexModel(
            [("patient_id", ASCENDING), ("kind", ASCENDING), ("timestamp", ASCENDING)], name="patient_kind_time"
        ),
        IndexModel(
            "provider_message_id",
            name="provider_message_unique",
            unique=True,
            partialFilterExpression={"provider_message_id": _STRING},
        ),
    ],
    "outbound_messages": [
        IndexModel(
            [("campaign_id", ASCENDING), ("attempt", ASCENDING), ("channel", ASCENDING)],
            name="send_key_unique",
            unique=True,
        ),
        IndexModel("status", name="status"),
    ],
    "inbound_events": [
        IndexModel([("source", ASCENDING), ("external_id", ASCENDING)], name="external_unique", unique=True),
        IndexModel(
            [("source", ASCENDING), ("status", ASCENDING), ("updated_at", ASCENDING)], name="source_status_updated"
        ),
    ],
    # One staff answer per handoff ("<campaign id>:<handoff time>"): the claim a double submit cannot pass.
    "staff_replies": [IndexModel("key", name="key_unique", unique=True)],
    "reply_slots": [
        IndexModel("key", name="key_unique", unique=True),
        IndexModel("until", name="until_ttl", expireAfterSeconds=0),
    ],
    "gmail_state": [IndexModel("email_address", name="email_address_unique", unique=True)],
    "leases": [IndexModel("name", name="name_unique", unique=True)],
    "users": [IndexModel("email", name="email_unique", unique=True)],
    "login_attempts": [
        IndexModel("key", name="key_unique", unique=True),
        IndexModel("expires_at", name="expires_ttl", expireAfterSeconds=0),
    ],
    "rate_limits": [
        IndexModel([("key", ASCENDING), ("window_start", ASCENDING)], name="key_window_unique", unique=True),
        IndexModel("expires_at", name="expires_ttl", expireAfterSeconds=0),
    ],
    "audit_log": [
        IndexModel([("at", DESCENDING)], name="at"),
        IndexModel([("patient_id", ASCENDING), ("at", DESCENDING)], name="patient_at"),
        IndexModel([("actor", ASCENDING), ("at", DESCENDING)], name="actor_at"),
        IndexModel([("action", ASCENDING), ("at", DESCENDING)], name="action_at"),
    ],
    "kb_articles": [IndexModel("tags", name="tags")],
    "outbox": [IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created_at")],
    "console_sessions": [
        IndexModel("token_hash", name="token_hash_unique", unique=True),
        IndexModel("user_id", name="user_id"),  # a password reset or deactivation ends the user's sessions
        IndexModel("expires_at", name="expires_ttl", expireAfterSeconds=0),
    ],
    "patient_imports": [IndexModel("expires_at", name="expires_ttl", expireAfterSeconds=0)],
}


# Admin API: each admin query passes one of these (or one above) as its hint, so the plan is an index scan on
# every server (some planners do not consider an index for a regex or a range plus a sort on their own).
ADMIN_INDEXES: dict[str, list[IndexModel]] = {
    "patients": [IndexModel([("email", ASCENDING), ("name", ASCENDING)], name="email_name")],
    "campaigns": [
        IndexModel([("status", ASCENDING), ("updated_at", DESCENDING)], name="status_updated"),
        IndexModel(
            [("campaign_type", ASCENDING), ("status", ASCENDING), ("updated_at", DESCENDING)],
            name="type_status_updated",
        ),
        IndexModel([("status", ASCENDING), ("handoff.at", ASCENDING)], name="status_handoff_at"),
        # The dashboard reads only these four fields: the scan is covered by the index.
        IndexModel(
            [
                ("campaign_type", ASCENDING),
                ("status", ASCENDING),
                ("created_at", ASCENDING),
                ("converted_at", ASCENDING),
            ],
            name="dashboard",
        ),
        # "patient_id:campaign_type" while the campaign is active: at most one active campaign per patient and type.
        IndexModel(
            "active_key", name="active_key_unique", unique=True, partialFilterExpression={"active_key": _STRING}
        ),
    ],
    "appointments": [IndexModel([("start", ASCENDING), ("status", ASCENDING)], name="start_status")],
    "interactions": [
        IndexModel(
            [("campaign_id", ASCENDING), ("direction", ASCENDING), ("timestamp", ASCENDING)],
            name="campaign_direction_timestamp",
        ),
    ],
}
for _collection, _models in ADMIN_INDEXES.items():
    INDEXES.setdefault(_collection, []).extend(_models)


# Indexes earlier versions created that a compound index above now serves by its prefix: every write paid for them.
RETIRED_INDEXES: dict[str, list[str]] = {
    "campaigns": ["status", "campaign_type", "converted_at"],
    "interactions": ["patient_id", "thread_id"],
}


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Create all indexes (a no-op when they already exist) and drop retired ones still present."""
    for collection, models in INDEXES.items():
        await db[collection].create_indexes(models)
    for collection, names in RETIRED_INDEXES.items():
        present = await db[collection].index_information()
        for name in names:
            if name in present:
                await db[collection].drop_index(name)
