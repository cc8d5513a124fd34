"""Staff users, leases, the audit trail and the knowledge base."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, Field

from models.base import Document
from models.enums import AuditOutcome, Role


class User(Document):
    """A staff account."""

    email: str
    password_hash: str
    role: Role = Role.STAFF
    is_active: bool = True
    # Raised when the password is reset or the account deactivated: tokens and sessions of an older one stop working.
    token_version: int = 0
    created_at: datetime
    updated_at: datetime


class NamedLease(Document):
    """A named, time-limited claim on shared work (e.g. `gmail-watch`)."""

    name: str
    owner: str
    until: datetime


class AuditRecord(Document):
    """Who did what to which resource, when, from where, with what outcome."""

    object_id_fields = ("patient_id",)
    id_time_fields = ("at",)

    actor: str
    action: str
    resource: str
    patient_id: str | None = None
    at: datetime
    ip: str | None = None
    outcome: AuditOutcome = AuditOutcome.SUCCESS


class KbArticle(Document):
    """A knowledge-base question and its approved answer."""

    id_time_fields = ("updated_at",)

    # The product guide's articles are question/answer pairs: the question is the title.
    title: str = Field(validation_alias=AliasChoices("title", "question"))
    answer: str
    tags: list[str] = Field(default_factory=list)
    updated_at: datetime
    updated_by: str | None = None  # the staff email of the last edit; None for seeded or imported articles
    # Bumped by every edit: an editor saving over a version it did not see is refused (lost-update guard).
    version: int = 0


class ConsoleSession(Document):
    """A signed-in staff console session; only the sha256 of its cookie value is stored."""

    object_id_fields = ("user_id",)

    token_hash: str
    user_id: str
    role: Role
    token_version: int = 0  # the user's when the session was opened
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
