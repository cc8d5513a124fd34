"""The audit_log repository: append-only from the app's point of view."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from db.repositories.base import Mongo, Repository, oid
from models.base import new_id
from models.enums import AuditOutcome
from models.system import AuditRecord


@dataclass(frozen=True)
class AuditQuery:
    """Which records to read: each given field narrows the result (`at_to` is exclusive)."""

    actor: str | None = None
    action: str | None = None
    action_prefix: str | None = None
    patient_id: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None

    def filter(self) -> Mongo:
        """The MongoDB filter."""
        query: Mongo = {}
        if self.actor:
            query["actor"] = self.actor
        if self.action:
            query["action"] = self.action
        elif self.action_prefix:
            # Anchored and escaped: a prefix scan of the action index, never a pattern from the request.
            query["action"] = {"$regex": "^" + re.escape(self.action_prefix)}
        if self.patient_id:
            query["patient_id"] = oid(self.patient_id)
        at: Mongo = {}
        if self.at_from:
            at["$gte"] = self.at_from
        if self.at_to:
            at["$lt"] = self.at_to
        if at:
            query["at"] = at
        return query

    def hint(self) -> str:
        """The index that narrows this query most (each leads with its field and then `at`, newest first)."""
        if self.patient_id:
            return "patient_at"
        if self.actor:
            return "actor_at"
        if self.action or self.action_prefix:
            return "action_at"
        return "at"


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

    async def page(
        self, *, skip: int, limit: int, actor: str | None = None, query: AuditQuery | None = None
    ) -> tuple[list[AuditRecord], int]:
        """Newest first, narrowed by `query` (or just to one actor's), with the total."""
        query = query or AuditQuery()
        if actor:
            query = replace(query, actor=actor)
        found, hint = query.filter(), query.hint()
        cursor = self.collection.find(found, sort=[("at", -1)], skip=skip, limit=limit, hint=hint)
        items = [AuditRecord.from_mongo(doc) async for doc in cursor]
        if found:
            total = await self.collection.count_documents(found, hint=hint)
        else:
            total = await self.collection.estimated_document_count()
        return items, total
