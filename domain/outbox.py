"""The development outbox: staff read what the app would have sent (audited); absent unless the outbox is on."""

from __future__ import annotations

from core.clock import Clock
from core.config import Settings
from core.errors import NotFound
from db.repositories import Repositories
from domain.audit import Actor, AuditTrail
from models.enums import Channel
from models.outbox import OutboxAttachment, OutboxMessage


class OutboxService:
    """Lists and shows kept messages; every read is audited with the recipient's patient when known."""

    def __init__(self, *, settings: Settings, clock: Clock, repos: Repositories) -> None:
        self.settings = settings
        self.repos = repos
        self.audit = AuditTrail(repo=repos.audit, clock=clock)

    def _require_active(self) -> None:
        """Outside development without a provider there is no outbox: its pages do not exist."""
        if not self.settings.outbox_enabled:
            raise NotFound("There is no outbox: messages are sent by the configured providers.", error="no_outbox")

    async def page(self, actor: Actor, *, page: int, page_size: int) -> tuple[list[OutboxMessage], int]:
        """Kept messages, newest first; audited."""
        self._require_active()
        async with self.audit.audited(actor, "outbox.list", "outbox"):
            return await self.repos.outbox.page(skip=(page - 1) * page_size, limit=page_size)

    async def message(self, actor: Actor, message_id: str) -> OutboxMessage:
        """One kept message; audited (with the patient it went to, when known)."""
        self._require_active()
        async with self.audit.audited(actor, "outbox.read", f"outbox/{message_id}") as subject:
            found = await self._get(message_id)
            subject["patient_id"] = await self._patient_of(found)
            return found

    async def attachment(self, actor: Actor, message_id: str, index: int) -> OutboxAttachment:
        """One file of a kept email (e.g. the confirmation's .ics); audited."""
        self._require_active()
        async with self.audit.audited(actor, "outbox.attachment", f"outbox/{message_id}/{index}") as subject:
            found = await self._get(message_id)
            subject["patient_id"] = await self._patient_of(found)
            if not 0 <= index < len(found.attachments):
                raise NotFound("This message has no such attachment.", error="attachment_not_found")
            return found.attachments[index]

    async def _get(self, message_id: str) -> OutboxMessage:
        found = await self.repos.outbox.get(message_id)
        if found is None:
            raise NotFound("There is no such message in the outbox.", error="message_not_found")
        return found

    async def _patient_of(self, message: OutboxMessage) -> str | None:
        if message.channel == Channel.EMAIL:
            patient = await self.repos.patients.get_by_email(message.to)
            return patient.id if patient else None
        ids = await self.repos.patients.ids_by_phone(message.to)
        return ids[0] if ids else None
