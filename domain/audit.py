"""Audit trail of staff access to patient data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from core.clock import Clock
from core.errors import AppError
from db.repositories.audit import AuditRepository
from models.enums import AuditOutcome


@dataclass(frozen=True)
class Actor:
    """Who is acting (a staff email) and from where."""

    email: str
    ip: str | None


class AuditTrail:
    """Appends audit records."""

    def __init__(self, *, repo: AuditRepository, clock: Clock):
        self.repo = repo
        self.clock = clock

    async def record(
        self,
        actor: Actor,
        action: str,
        resource: str,
        *,
        patient_id: str | None = None,
        outcome: AuditOutcome = AuditOutcome.SUCCESS,
    ) -> None:
        """One entry: actor, action, resource, patient, time, address, outcome."""
        await self.repo.record(
            actor=actor.email,
            action=action,
            resource=resource,
            patient_id=patient_id,
            at=self.clock.now(),
            ip=actor.ip,
            outcome=outcome,
        )

    @asynccontextmanager
    async def audited(
        self, actor: Actor, action: str, resource: str, patient_id: str | None = None
    ) -> AsyncIterator[dict[str, str | None]]:
        """Record the action with its outcome: success, or failure when an expected error ends it.

        The yielded dict's "patient_id" may be filled in once the block knows whose data it touched.
        """
        subject: dict[str, str | None] = {"patient_id": patient_id}
        try:
            yield subject
        except AppError:
            await self.record(actor, action, resource, patient_id=subject["patient_id"], outcome=AuditOutcome.FAILURE)
            raise
        await self.record(actor, action, resource, patient_id=subject["patient_id"])
