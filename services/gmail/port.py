"""The Gmail port in domain terms: watch the mailbox, read history and messages, send threaded replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class GmailMessage:
    """One mailbox message, parsed: addresses, threading headers, a plain-text body and loop-prevention facts."""

    id: str
    thread_id: str
    label_ids: tuple[str, ...]
    from_address: str  # bare lower-cased email from the From header ("" when unparseable)
    from_name: str
    to: str
    subject: str
    text: str  # text/plain body; for HTML-only mail a tag-stripped version without hidden elements
    message_id_header: str | None
    references: str | None
    in_reply_to: str | None
    headers: dict[str, str] = field(hash=False)  # top-level headers, lower-cased names, first occurrence wins
    is_bounce: bool  # multipart/report or delivery-status content
    internal_date: datetime  # aware UTC


@dataclass(frozen=True)
class HistoryPage:
    """One page of history.list (messageAdded only)."""

    message_ids: list[str]  # ids of messagesAdded in this page, deduplicated, in order
    next_page_token: str | None
    history_id: int  # the response's historyId: the mailbox's current history id


@dataclass(frozen=True)
class WatchResult:
    """What users.watch answered."""

    history_id: int
    expiration: datetime  # aware UTC


class GmailError(Exception):
    """A Gmail call failed; `retryable` says whether trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class HistoryGone(GmailError):
    """history.list answered 404: the start id is too old, so the caller must do a full sync."""

    def __init__(self, message: str = "history id too old", *, status: int | None = 404) -> None:
        super().__init__(message, retryable=False, status=status)


class GmailPort(Protocol):
    """The watched clinic mailbox."""

    async def watch(self, *, topic: str, label_ids: list[str], label_filter_action: str) -> WatchResult:
        """Start or renew the push watch on the mailbox."""
        ...

    async def history_page(self, *, start_history_id: int, page_token: str | None, label_id: str | None) -> HistoryPage:
        """One page of messageAdded history after `start_history_id`; raises HistoryGone when it is too old."""
        ...

    async def recent_message_ids(self, *, max_results: int, query: str | None) -> list[str]:
        """Ids of up to `max_results` recent messages, newest first (for the bounded full sync)."""
        ...

    async def get_message(self, message_id: str) -> GmailMessage:
        """Fetch and parse one message."""
        ...

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
        """Send a plain-text reply in `thread_id`; returns the sent message's Gmail id."""
        ...

    async def profile_email(self) -> str:
        """The mailbox's own email address."""
        ...
