"""The simulated Gmail mailbox both fakes share (FakeGmail in memory, FakeGmailServer over HTTP).

Messages with threads and labels, a history id that grows by one per added message, messageAdded history after a
start id (HistoryGone below the floor), newest-first listing with Gmail's search terms, the watch answer, and
incoming mail composed as a sender's server would. Not thread-safe: a caller serving threads holds its own lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TypedDict, TypeVar, Unpack

from services.email.message import wire_bytes
from services.gmail.port import HistoryGone, WatchResult

DEFAULT_MAILBOX = "clinic@example.com"
GMAIL_AUTHSERV_ID = "mx.google.com"
WATCH_DAYS = 7

T = TypeVar("T")


class Incoming(TypedDict, total=False):
    """The optional parts of an incoming email: compose_incoming's headers and body, Mailbox.add's placement."""

    thread_id: str | None
    headers: dict[str, str] | None
    html: str | None
    labels: Iterable[str]
    message_id_header: str | None
    in_reply_to: str | None
    references: str | None
    internal_date: datetime | None
    auth_results: Sequence[str] | None


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
    """A message in the mailbox."""

    id: str
    thread_id: str
    label_ids: tuple[str, ...]
    raw: bytes
    internal_date: datetime
    history_id: int

    @property
    def internal_date_ms(self) -> int:
        """internalDate as Gmail gives it: milliseconds since the epoch."""
        return int(self.internal_date.timestamp() * 1000)


def page_of(items: Sequence[T], page_token: str | None, size: int) -> tuple[list[T], str | None]:
    """One page of `items` at the offset `page_token` names ("" or None: the start), and the next page's token."""
    offset = int(page_token) if page_token and page_token.isdigit() else 0
    following = offset + size
    return list(items[offset:following]), str(following) if following < len(items) else None


class Mailbox:
    """One Gmail mailbox: stored messages, their history records and the history floor."""

    def __init__(self, *, email_address: str, first_history_id: int, first_message_number: int) -> None:
        self.email_address = email_address
        self.history_id = first_history_id
        self.history_floor = 0  # history listing from a start id below this raises HistoryGone
        self.messages: dict[str, StoredMessage] = {}
        self._history: list[tuple[int, str]] = []  # (history id, message id), ascending
        self._numbers = itertools.count(first_message_number)

    def add(
        self,
        mime: Message | bytes,
        *,
        thread_id: str | None = None,
        labels: Iterable[str] = ("INBOX",),
        internal_date: datetime | None = None,
    ) -> StoredMessage:
        """Store a ready RFC 2822 message (a new thread unless `thread_id`), with a history record."""
        message_id = f"{next(self._numbers):x}"
        self.history_id += 1
        stored = StoredMessage(
            id=message_id,
            thread_id=thread_id or message_id,
            label_ids=tuple(labels),
            raw=mime if isinstance(mime, bytes) else wire_bytes(mime),
            internal_date=internal_date or datetime.now(UTC),
            history_id=self.history_id,
        )
        self.messages[message_id] = stored
        self._history.append((self.history_id, message_id))
        return stored

    def deliver(self, from_: str, subject: str, text: str | None, **options: Unpack[Incoming]) -> StoredMessage:
        """Deliver an email from `from_` to this mailbox (see compose_incoming)."""
        internal_date = options.get("internal_date")
        mime = compose_incoming(
            from_,
            subject,
            text,
            to=self.email_address,
            html=options.get("html"),
            headers=options.get("headers"),
            message_id_header=options.get("message_id_header"),
            in_reply_to=options.get("in_reply_to"),
            references=options.get("references"),
            date=internal_date,
            auth_results=options.get("auth_results"),
        )
        labels = options.get("labels", ("INBOX",))
        return self.add(mime, thread_id=options.get("thread_id"), labels=labels, internal_date=internal_date)

    def add_sent(self, mime: Message | bytes, *, thread_id: str | None) -> StoredMessage:
        """Store a message the mailbox sent, labelled SENT, as Gmail does."""
        return self.add(mime, thread_id=thread_id, labels=("SENT",))

    def added_since(self, start_history_id: int, label_id: str | None) -> list[tuple[int, StoredMessage]]:
        """(history id, message) of every messageAdded after the start id, oldest first, optionally of one label."""
        if start_history_id < self.history_floor:
            raise HistoryGone()
        return [
            (history_id, self.messages[message_id])
            for history_id, message_id in self._history
            if history_id > start_history_id and (label_id is None or label_id in self.messages[message_id].label_ids)
        ]

    def newest_first(self, query: str | None = None) -> list[StoredMessage]:
        """Messages newest first, only those matching the search terms of `query` when given."""
        ordered = sorted(self.messages.values(), key=lambda m: (m.internal_date, m.history_id), reverse=True)
        terms = (query or "").split()
        return [m for m in ordered if _matches(m, terms)] if terms else ordered

    def watch(self) -> WatchResult:
        """What users.watch answers: the current history id and an expiry WATCH_DAYS ahead."""
        return WatchResult(history_id=self.history_id, expiration=datetime.now(UTC) + timedelta(days=WATCH_DAYS))


def _matches(stored: StoredMessage, terms: list[str]) -> bool:
    """Whether the message matches every understood search term (in:, label:, from:, newer_than:, negated with -)."""
    message = message_from_bytes(stored.raw, policy=policy.default)
    for term in terms:
        negate = term.startswith("-")
        key, _, value = term.lstrip("-").partition(":")
        key, value = key.lower(), value.lower()
        if key in ("in", "label"):
            hit = value.upper() in stored.label_ids
        elif key == "from":
            hit = value in str(message.get("From", "")).lower() or (value == "me" and "SENT" in stored.label_ids)
        elif key == "newer_than" and value[:-1].isdigit() and value[-1:] in ("d", "h"):
            span = timedelta(days=int(value[:-1])) if value.endswith("d") else timedelta(hours=int(value[:-1]))
            hit = stored.internal_date >= datetime.now(UTC) - span
        else:
            continue  # terms the fake does not understand are ignored
        if hit == negate:
            return False
    return True
