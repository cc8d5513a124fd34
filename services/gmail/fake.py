"""In-memory GmailPort for unit tests of domain code: a mailbox with history, recorded replies, scripted failures."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid, parseaddr

from services.email.message import wire_bytes
from services.gmail.mime import build_reply, parse_message
from services.gmail.port import GmailError, GmailMessage, GmailPort, HistoryGone, HistoryPage, WatchResult

DEFAULT_MAILBOX = "clinic@example.com"
GMAIL_AUTHSERV_ID = "mx.google.com"
WATCH_DAYS = 7
FIRST_HISTORY_ID = 1000
_FIRST_MESSAGE_NUMBER = 0x18C0_0000_0000_0000


def authentication_results(
    domain: str,
    *,
    dmarc: str = "pass",
    spf: str = "pass",
    dkim: str = "pass",
    authserv_id: str = GMAIL_AUTHSERV_ID,
    signing_domain: str | None = None,
    mailfrom_domain: str | None = None,
) -> str:
    """An Authentication-Results value shaped like Gmail's, for a message whose From domain is `domain`."""
    signer = signing_domain or domain
    envelope = mailfrom_domain or domain
    return (
        f"{authserv_id}; dkim={dkim} header.i=@{signer} header.s=s1 header.b=AbCdEf12;"
        f" spf={spf} (google.com: domain of bounce@{envelope} designates 192.0.2.1 as permitted sender)"
        f" smtp.mailfrom=bounce@{envelope}; dmarc={dmarc} (p=REJECT sp=REJECT dis=NONE) header.from={domain}"
    )


def compose_incoming(
    from_: str,
    subject: str,
    text: str | None,
    *,
    to: str = DEFAULT_MAILBOX,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    message_id_header: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    date: datetime | None = None,
    auth_results: Sequence[str] | None = None,
) -> EmailMessage:
    """An incoming email: text/plain, text/html, or both as multipart/alternative; `headers` are added as given.

    `auth_results` are the Authentication-Results headers, topmost first, as the receiving mailbox adds them;
    None gives one passing header from Gmail for the From domain, () none at all.
    """
    mime = EmailMessage()
    if auth_results is None:
        auth_results = (authentication_results(parseaddr(from_)[1].rpartition("@")[2] or "invalid"),)
    for value in auth_results:
        mime["Authentication-Results"] = value
    mime["From"] = from_
    mime["To"] = to
    mime["Subject"] = subject
    mime["Date"] = format_datetime(date or datetime.now(UTC))
    mime["Message-ID"] = message_id_header or make_msgid(domain="mail.example.org")
    if in_reply_to:
        mime["In-Reply-To"] = in_reply_to
    if references:
        mime["References"] = references
    for name, value in (headers or {}).items():
        if name in mime:
            del mime[name]
        mime[name] = value
    if text is not None:
        mime.set_content(text)
        if html is not None:
            mime.add_alternative(html, subtype="html")
    elif html is not None:
        mime.set_content(html, subtype="html")
    else:
        mime.set_content("")
    return mime


def compose_bounce(
    *,
    to: str = DEFAULT_MAILBOX,
    failed_recipient: str = "someone@example.org",
    subject: str = "Delivery Status Notification (Failure)",
) -> EmailMessage:
    """A multipart/report delivery-status bounce as a mail server sends it."""
    raw = (
        f"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {make_msgid(domain='mx.example.org')}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"\r\n\r\n'
        "--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Your message to {failed_recipient} could not be delivered.\r\n"
        "--BOUNDARY\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; {failed_recipient}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n--BOUNDARY--\r\n"
    )
    message = message_from_bytes(raw.encode(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@dataclass
class StoredMessage:
    """A message in the fake mailbox."""

    id: str
    thread_id: str
    label_ids: tuple[str, ...]
    raw: bytes
    internal_date: datetime
    history_id: int


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
        self.history_id = FIRST_HISTORY_ID
        self.history_floor = 0
        self.messages: dict[str, StoredMessage] = {}
        self.sent: list[SentReply] = []
        self.watches: list[WatchCall] = []
        self.calls: list[str] = []
        self._history: list[tuple[int, str]] = []  # (history id, message id), ascending
        self._numbers = itertools.count(_FIRST_MESSAGE_NUMBER)
        self._send_failures: list[GmailError] = []
        self._get_failures: list[GmailError] = []
        self._history_gone_once = False

    # --- scripting -------------------------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{next(self._numbers):x}"

    def add_raw(
        self,
        mime: Message | bytes,
        *,
        thread_id: str | None = None,
        labels: Iterable[str] = ("INBOX",),
        internal_date: datetime | None = None,
    ) -> GmailMessage:
        """Deliver a ready RFC 2822 message into the mailbox; returns it parsed."""
        message_id = self._next_id()
        self.history_id += 1
        raw = mime if isinstance(mime, bytes) else wire_bytes(mime)
        stored = StoredMessage(
            id=message_id,
            thread_id=thread_id or message_id,
            label_ids=tuple(labels),
            raw=raw,
            internal_date=internal_date or datetime.now(UTC),
            history_id=self.history_id,
        )
        self.messages[message_id] = stored
        self._history.append((self.history_id, message_id))
        return self._parse(stored)

    def add_incoming(
        self,
        from_: str,
        subject: str,
        text: str | None,
        *,
        thread_id: str | None = None,
        headers: dict[str, str] | None = None,
        html: str | None = None,
        labels: Iterable[str] = ("INBOX",),
        message_id_header: str | None = None,
        in_reply_to: str | None = None,
        references: str | None = None,
        internal_date: datetime | None = None,
        auth_results: Sequence[str] | None = None,
    ) -> GmailMessage:
        """Deliver an email from `from_` ("Name <addr>" or addr); returns it as get_message would."""
        mime = compose_incoming(
            from_,
            subject,
            text,
            to=self.email_address,
            html=html,
            headers=headers,
            message_id_header=message_id_header,
            in_reply_to=in_reply_to,
            references=references,
            date=internal_date,
            auth_results=auth_results,
        )
        return self.add_raw(mime, thread_id=thread_id, labels=labels, internal_date=internal_date)

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
        self.history_floor = history_id

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
            internal_date_ms=int(stored.internal_date.timestamp() * 1000),
        )

    async def watch(self, *, topic: str, label_ids: list[str], label_filter_action: str) -> WatchResult:
        """Record the watch; returns the current history id and an expiry 7 days ahead."""
        await self._enter("watch")
        if not topic:
            raise GmailError("topicName is required", status=400)
        self.watches.append(WatchCall(topic, list(label_ids), label_filter_action))
        return WatchResult(history_id=self.history_id, expiration=datetime.now(UTC) + timedelta(days=WATCH_DAYS))

    async def history_page(self, *, start_history_id: int, page_token: str | None, label_id: str | None) -> HistoryPage:
        """messageAdded records after `start_history_id`, `page_size` records per page."""
        await self._enter("history")
        if self._history_gone_once or start_history_id < self.history_floor:
            self._history_gone_once = False
            raise HistoryGone()
        records = [
            message_id
            for history_id, message_id in self._history
            if history_id > start_history_id and (label_id is None or label_id in self.messages[message_id].label_ids)
        ]
        offset = int(page_token) if page_token else 0
        page = records[offset : offset + self.page_size]
        next_offset = offset + self.page_size
        return HistoryPage(
            message_ids=list(dict.fromkeys(page)),
            next_page_token=str(next_offset) if next_offset < len(records) else None,
            history_id=self.history_id,
        )

    async def recent_message_ids(self, *, max_results: int, query: str | None) -> list[str]:
        """Newest first; `query` is recorded but not interpreted."""
        await self._enter("list")
        newest_first = sorted(self.messages.values(), key=lambda m: (m.internal_date, m.history_id), reverse=True)
        return [message.id for message in newest_first[:max_results]]

    async def get_message(self, message_id: str) -> GmailMessage:
        """The stored message parsed; a 404 GmailError when unknown."""
        await self._enter("get")
        if self._get_failures:
            raise self._get_failures.pop(0)
        stored = self.messages.get(message_id)
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
        stored = self.add_raw(mime, thread_id=thread_id, labels=("SENT",))
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
