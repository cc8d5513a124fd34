"""The outgoing-email port in domain terms: one message in, the Message-ID it went out with back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email; `content_type` may carry parameters, e.g. "text/calendar; method=PUBLISH"."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class OutgoingEmail:
    """An email to send: plain text, optional HTML alternative, extra headers (e.g. List-Unsubscribe), files."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None
    attachments: tuple[Attachment, ...] = ()


class EmailError(Exception):
    """Sending failed; `retryable` says whether trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool = False, code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class EmailPort(Protocol):
    """Sends email to patients."""

    async def send(self, message: OutgoingEmail) -> str:
        """Send `message`; returns the Message-ID header it was sent with."""
        ...


class ReplySender(Protocol):
    """Sends a reply in the patient's thread (Gmail when configured, else SMTP with threading headers)."""

    async def send_reply(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        thread_id: str,
        in_reply_to: str | None,
        references: str | None,
        automatic: bool = True,
    ) -> str:
        """Send (marked Auto-Submitted unless a person wrote it); returns the provider's id (Gmail id or Message-ID)."""
        ...
