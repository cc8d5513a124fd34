"""The audit_log repository: append-only from the app's point of view."""

from __future__ import annotations

from datetime import datetime

from db.repositories.base import Mongo, Repository
from models.base import new_id
from models.enums import AuditOutcome
from models.system import AuditRecord


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
