"""Audit trail of staff access to patient data."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
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
