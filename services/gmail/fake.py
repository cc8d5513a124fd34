"""In-memory GmailPort for unit tests of domain code: a mailbox with history, recorded replies, scripted failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Unpack

from services.gmail.mailbox import DEFAULT_MAILBOX, Incoming, Mailbox, StoredMessage, page_of
from services.gmail.mime import build_reply, parse_message
from services.gmail.port import GmailError, GmailMessage, GmailPort, HistoryGone, HistoryPage, WatchResult

FIRST_HISTORY_ID = 1000
_FIRST_MESSAGE_NUMBER = 0x18C0_0000_0000_0000


@dataclass(frozen=True)
class SentReply:
    """One recorded send_reply call."""

    id: str
    thread_id: str
    to: str
    subject: str
    text: str
    in_reply_to: str | None
    references: str | None
    extra_headers: dict[str, str]
    mime: Message = field(repr=False)


@dataclass(frozen=True)
class WatchCall:
    """One recorded watch call."""

    topic: str
    label_ids: list[str]
    label_filter_action: str


class FakeGmail(GmailPort):
    """GmailPort over an in-memory mailbox; history ids grow by one per added message."""

    def __init__(
        self,
        *,
        email_address: str = DEFAULT_MAILBOX,
        from_name: str = "Your Clinic",
        page_size: int = 100,
        latency: float = 0.0,
    ) -> None:
        self.email_address = email_address
        self.from_name = from_name
        self.page_size = page_size
        self.latency = latency
        self.mailbox = Mailbox(
            email_address=email_address, first_history_id=FIRST_HISTORY_ID, first_message_number=_FIRST_MESSAGE_NUMBER
        )
        self.sent: list[SentReply] = []
        self.watches: list[WatchCall] = []
        self.calls: list[str] = []
        self._send_failures: list[GmailError] = []
        self._get_failures: list[GmailError] = []
        self._history_gone_once = False

    # --- scripting -------------------------------------------------------------------------------------------

    @property
    def history_id(self) -> int:
        """The mailbox's current history id."""
        return self.mailbox.history_id

    @history_id.setter
    def history_id(self, value: int) -> None:
        self.mailbox.history_id = value

    @property
    def messages(self) -> dict[str, StoredMessage]:
        """Stored messages by id."""
        return self.mailbox.messages

    def add_raw(
        self,
        mime: Message | bytes,
        *,
        thread_id: str | None = None,
        labels: Iterable[str] = ("INBOX",),
        internal_date: datetime | None = None,
    ) -> GmailMessage:
        """Deliver a ready RFC 2822 message into the mailbox; returns it parsed."""
        return self._parse(self.mailbox.add(mime, thread_id=thread_id, labels=labels, internal_date=internal_date))

    def add_incoming(self, from_: str, subject: str, text: str | None, **options: Unpack[Incoming]) -> GmailMessage:
        """Deliver an email from `from_` ("Name <addr>" or addr); returns it as get_message would."""
        return self._parse(self.mailbox.deliver(from_, subject, text, **options))

    def fail_next_send(self, count: int = 1, error: GmailError | None = None) -> None:
        """Make the next `count` send_reply calls raise `error` (a retryable 500 by default) without sending."""
        failure = error or GmailError("fake Gmail send failure", retryable=True, status=500)
        self._send_failures.extend([failure] * count)

    def fail_next_get(self, count: int = 1, error: GmailError | None = None) -> None:
        """Make the next `count` get_message calls raise `error` (a retryable 500 by default)."""
        failure = error or GmailError("fake Gmail get failure", retryable=True, status=500)
        self._get_failures.extend([failure] * count)

    def make_history_gone_once(self) -> None:
        """Make the next history_page call raise HistoryGone."""
        self._history_gone_once = True

    def set_history_floor(self, history_id: int) -> None:
        """history_page raises HistoryGone for any start id below `history_id`."""
        self.mailbox.history_floor = history_id

    # --- GmailPort -------------------------------------------------------------------------------------------

    async def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        if self.latency:
            await asyncio.sleep(self.latency)

    def _parse(self, stored: StoredMessage) -> GmailMessage:
        return parse_message(
            stored.raw,
            message_id=stored.id,
            thread_id=stored.thread_id,
            label_ids=stored.label_ids,
            internal_date_ms=stored.internal_date_ms,
        )

    async def watch(self, *, topic: str, label_ids: list[str], label_filter_action: str) -> WatchResult:
        """Record the watch; returns the current history id and an expiry 7 days ahead."""
        await self._enter("watch")
        if not topic:
            raise GmailError("topicName is required", status=400)
        self.watches.append(WatchCall(topic, list(label_ids), label_filter_action))
        return self.mailbox.watch()

    async def history_page(self, *, start_history_id: int, page_token: str | None, label_id: str | None) -> HistoryPage:
        """messageAdded records after `start_history_id`, `page_size` records per page."""
        await self._enter("history")
        if self._history_gone_once:
            self._history_gone_once = False
            raise HistoryGone()
        records = self.mailbox.added_since(start_history_id, label_id)
        page, next_page_token = page_of(records, page_token, self.page_size)
        return HistoryPage(
            message_ids=list(dict.fromkeys(stored.id for _, stored in page)),
            next_page_token=next_page_token,
            history_id=self.mailbox.history_id,
        )

    async def recent_message_ids(self, *, max_results: int, query: str | None) -> list[str]:
        """Newest first; `query` is recorded but not interpreted."""
        await self._enter("list")
        return [message.id for message in self.mailbox.newest_first()[:max_results]]

    async def get_message(self, message_id: str) -> GmailMessage:
        """The stored message parsed; a 404 GmailError when unknown."""
        await self._enter("get")
        if self._get_failures:
            raise self._get_failures.pop(0)
        stored = self.mailbox.messages.get(message_id)
        if stored is None:
            raise GmailError("Gmail messages.get answered 404", status=404)
        return self._parse(stored)

    async def send_reply(
        self,
        *,
        thread_id: str,
        to: str,
        subject: str,
        text: str,
        in_reply_to: str | None,
        references: str | None,
        extra_headers: dict[str, str],
    ) -> str:
        """Record the reply and add it to the mailbox as SENT (with a history record), as Gmail does."""
        await self._enter("send")
        if self._send_failures:
            raise self._send_failures.pop(0)
        mime = build_reply(
            from_email=self.email_address,
            from_name=self.from_name,
            to=to,
            subject=subject,
            text=text,
            in_reply_to=in_reply_to,
            references=references,
            extra_headers=extra_headers,
        )
        stored = self.mailbox.add_sent(mime, thread_id=thread_id)
        self.sent.append(
            SentReply(
                id=stored.id,
                thread_id=thread_id,
                to=to,
                subject=subject,
                text=text,
                in_reply_to=in_reply_to,
                references=references,
                extra_headers=dict(extra_headers),
                mime=mime,
            )
        )
        return stored.id

    async def profile_email(self) -> str:
        """The mailbox address."""
        await self._enter("profile")
        return self.email_address

    async def aclose(self) -> None:
        """Nothing to release."""
