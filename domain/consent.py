"""Opt-outs: email unsubscribe links (signed and verified here) and SMS STOP replies."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.clock import Clock
from core.config import Settings
from core.errors import NotFound
from core.security import sign_token, verify_token
from db.repositories import Repositories
from models.base import new_id
from models.enums import ACTIVE_STATUSES, Channel, Direction, InboundSource, InboundStatus
from models.interaction import Interaction
from models.messaging import InboundEvent

log = logging.getLogger("medcampaign.consent")

UNSUBSCRIBE_PURPOSE = "unsubscribe"
UNSUBSCRIBE_TTL = timedelta(days=365)
# Twilio's and the CTIA's standard opt-out keywords, matched on the whole message.
STOP_KEYWORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out", "stop all"}
)
_FREE_TEXT_STOP = re.compile(
    r"\b(stop|quit|cease)\s+(texting|messaging|sending|contacting|calling)\b"
    r"|\b(do\s*n[o']?t|never)\s+(text|message|contact|call|sms)\b"
    r"|\bno\s+more\s+(texts|messages|sms)\b"
    r"|\bremove\s+me\b|\bunsubscribe\s+me\b|\btake\s+me\s+off\b|\bopt\s*me\s+out\b",
    re.IGNORECASE,
)


def is_opt_out(text: str) -> bool:
    """True for a STOP-family keyword or a clear request to stop texting."""
    normalised = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
    return normalised in STOP_KEYWORDS or bool(_FREE_TEXT_STOP.search(text))


def unsubscribe_url(settings: Settings, patient_id: str, *, now: datetime) -> str:
    """A signed one-click unsubscribe link for the patient (ConsentService.check_unsubscribe verifies it)."""
    token = sign_token(
        purpose=UNSUBSCRIBE_PURPOSE, subject=patient_id, expires=now + UNSUBSCRIBE_TTL, key=settings.key("unsubscribe")
    )
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/unsubscribe/{token}"


@dataclass(frozen=True)
class SmsReply:
    """An inbound SMS as Twilio posts it."""

    message_sid: str
    from_number: str
    body: str


class ConsentService:
    """Records opt-outs so an opted-out channel is never used again."""

    def __init__(self, *, settings: Settings, clock: Clock, repos: Repositories):
        self.settings = settings
        self.clock = clock
        self.repos = repos

    async def check_unsubscribe(self, token: str) -> str:
        """The patient id of a valid unsubscribe token, else 404."""
        patient_id = verify_token(
            token, purpose=UNSUBSCRIBE_PURPOSE, key=self.settings.key("unsubscribe"), now=self.clock.now()
        )
        if patient_id is None or await self.repos.patients.get(patient_id) is None:
            raise NotFound("This unsubscribe link is invalid or has expired", error="invalid_unsubscribe_link")
        return patient_id

    async def unsubscribe_email(self, token: str) -> None:
        """Opt the patient out of email (idempotent)."""
        patient_id = await self.check_unsubscribe(token)
        await self.repos.patients.opt_out(patient_id, Channel.EMAIL, source="unsubscribe_link", now=self.clock.now())
        log.info("email opt-out recorded", extra={"patient_id": patient_id})

    async def sms_received(self, reply: SmsReply) -> bool:
        """Record an inbound SMS once; opt the sender out of SMS when asked. True when it was an opt-out."""
        now = self.clock.now()
        event = InboundEvent(
            id=new_id(),
            source=InboundSource.TWILIO,
            external_id=reply.message_sid,
            status=InboundStatus.DONE,
            created_at=now,
            updated_at=now,
        )
        if not await self.repos.inbound_events.record(event):
            return False  # a redelivery: already handled
        opt_out = is_opt_out(reply.body)
        for patient_id in await self.repos.patients.ids_by_phone(reply.from_number):
            if opt_out:
                await self.repos.patients.opt_out(patient_id, Channel.SMS, source="sms_stop", now=now)
            campaigns = [
                c for c in await self.repos.campaigns.list_for_patient(patient_id) if c.status in ACTIVE_STATUSES
            ]
            await self.repos.interactions.insert(
                Interaction(
                    id=new_id(),
                    campaign_id=campaigns[0].id if campaigns else None,
                    patient_id=patient_id,
                    direction=Direction.INCOMING,
                    channel=Channel.SMS,
                    timestamp=now,
                    body=reply.body[:2000],
                    summary="Patient opted out of SMS" if opt_out else "SMS reply",
                    provider_message_id=reply.message_sid,
                )
            )
        log.info("sms received", extra={"opt_out": opt_out})
        return opt_out
