"""EmailPort and SmsPort for development without SMTP or Twilio: every message is kept in the outbox, none leaves.

The outbox is a MongoDB collection, so the web app and a separate worker share it and it survives restarts.
Emails get a Message-ID as real ones do, so replies thread on it.
"""

from __future__ import annotations

import uuid
from email.utils import formataddr, make_msgid

from core.clock import Clock
from models.base import new_id
from models.enums import Channel
from models.outbox import OutboxAttachment, OutboxMessage
from services.email.message import single_line
from services.email.port import EmailPort, OutgoingEmail
from services.outbox.port import OutboxStore
from services.sms.port import INVALID_NUMBER_CODE, SmsError, SmsPort, is_e164


def email_kind(message: OutgoingEmail) -> str:
    """What an email is, from what it carries: a confirmation has a calendar file, a reply threads, outreach can be
    unsubscribed from."""
    headers = {name.lower() for name in message.headers}
    if any(a.content_type.lower().startswith("text/calendar") for a in message.attachments):
        return "confirmation"
    if "in-reply-to" in headers:
        return "automatic reply" if "auto-submitted" in headers else "staff reply"
    if "list-unsubscribe" in headers:
        return "outreach"
    return "email"


class OutboxEmail(EmailPort):
    """Keeps each email in the outbox; returns its Message-ID (a given Message-ID header is kept)."""

    def __init__(self, *, store: OutboxStore, clock: Clock, from_email: str, from_name: str) -> None:
        self.store = store
        self.clock = clock
        self.sender = formataddr((from_name, from_email))
        self.domain = from_email.rpartition("@")[2] or "localhost"

    async def send(self, message: OutgoingEmail) -> str:
        """Keep `message` as it would have gone out; header values with line breaks are refused, as by SMTP."""
        headers = {name: single_line(value) for name, value in message.headers.items()}
        given = next((v for k, v in headers.items() if k.lower() == "message-id"), None)
        message_id = given or make_msgid(domain=self.domain)
        if message.reply_to:
            headers["Reply-To"] = single_line(message.reply_to)
        await self.store.add(
            OutboxMessage(
                id=new_id(),
                channel=Channel.EMAIL,
                kind=email_kind(message),
                to=single_line(message.to),
                sender=self.sender,
                subject=single_line(message.subject),
                text=message.text,
                html=message.html,
                message_id=message_id,
                headers={k: v for k, v in headers.items() if k.lower() != "message-id"},
                attachments=[
                    OutboxAttachment(filename=a.filename, content_type=a.content_type, data=a.data)
                    for a in message.attachments
                ],
                created_at=self.clock.now(),
            )
        )
        return message_id

    async def aclose(self) -> None:
        """Nothing to release."""


class OutboxSms(SmsPort):
    """Keeps each text message and call script in the outbox; refuses numbers Twilio would refuse."""

    def __init__(self, *, store: OutboxStore, clock: Clock, from_number: str = "") -> None:
        self.store = store
        self.clock = clock
        self.from_number = from_number

    async def _keep(self, channel: Channel, prefix: str, *, to: str, text: str) -> str:
        if not is_e164(to):
            raise SmsError(f"the 'To' number {to} is not a valid phone number", code=INVALID_NUMBER_CODE, status=400)
        sid = prefix + uuid.uuid4().hex
        await self.store.add(
            OutboxMessage(
                id=new_id(),
                channel=channel,
                kind=channel.value,
                to=to,
                sender=self.from_number,
                text=text,
                message_id=sid,
                created_at=self.clock.now(),
            )
        )
        return sid

    async def send_sms(self, *, to: str, body: str) -> str:
        """Keep a text message; returns an SM… id like Twilio's."""
        return await self._keep(Channel.SMS, "SM", to=to, text=body)

    async def place_call(self, *, to: str, message: str) -> str:
        """Keep what the call would have said; returns a CA… id like Twilio's."""
        return await self._keep(Channel.CALL, "CA", to=to, text=message)

    async def aclose(self) -> None:
        """Nothing to release."""
