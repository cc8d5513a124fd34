"""The inbox: Pub/Sub push acceptance, history sync, the sweeper, and the Gmail watch kept alive.

Each push is recorded under its messageId, so a redelivery does nothing. The history cursor only moves forward
and only after the last page of a window was handled; each message then goes to the reply service, which handles
it exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, UpstreamError
from core.tasks import Coalescer
from db.repositories import Repositories
from domain.replies import ReplyService
from models.base import new_id
from models.enums import InboundSource
from models.messaging import InboundEvent
from services.gmail.port import GmailError, GmailPort, HistoryGone
from services.gmail.push import PushNotice

log = logging.getLogger("medcampaign.replies")


class InboxService:
    """Reads the clinic mailbox: pushes, history windows, pending retries and the watch; replies go to `replies`."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        repos: Repositories,
        gmail: GmailPort | None,
        replies: ReplyService,
        coalescer: Coalescer | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.gmail = gmail
        self.replies = replies
        self.owner = replies.owner
        self.coalescer = coalescer or Coalescer()

    @property
    def mailbox(self) -> str:
        """Our own address."""
        return self.settings.CLINIC_EMAIL.lower()

    async def sync(self) -> int:
        """Read history from the stored cursor (all pages), handle each new message; returns messages seen."""
        if self.gmail is None:
            raise Conflict("Gmail is not configured", error="gmail_not_configured")
        state = await self.repos.gmail_state.get_by_address(self.mailbox)
        if state is None or state.history_id is None:
            return 0  # no watch started yet: nothing to read from
        label = (
            self.settings.GMAIL_LABEL_IDS[0]
            if (self.settings.GMAIL_LABEL_FILTER_ACTION == "include" and len(self.settings.GMAIL_LABEL_IDS) == 1)
            else None
        )
        ids: list[str] = []
        token: str | None = None
        latest = state.history_id
        try:
            while True:
                page = await self.gmail.history_page(
                    start_history_id=state.history_id, page_token=token, label_id=label
                )
                ids.extend(i for i in page.message_ids if i not in ids)
                latest = max(latest, page.history_id)
                token = page.next_page_token
                if not token:
                    break
        except HistoryGone:
            log.warning("gmail history expired; running one bounded full sync")
            ids = await self.gmail.recent_message_ids(max_results=self.settings.GMAIL_FULL_SYNC_MAX, query=None)
            latest = await self._current_history_id(latest)
        await self._handle_all(ids)
        await self.repos.gmail_state.advance(self.mailbox, latest, now=self.clock.now())
        return len(ids)

    async def _current_history_id(self, fallback: int) -> int:
        assert self.gmail is not None
        try:
            return (
                await self.gmail.watch(
                    topic=self.settings.GMAIL_TOPIC_NAME,
                    label_ids=self.settings.GMAIL_LABEL_IDS,
                    label_filter_action=self.settings.GMAIL_LABEL_FILTER_ACTION,
                )
            ).history_id
        except Exception:
            return fallback

    async def _handle_all(self, ids: list[str]) -> None:
        """Handle messages a few at a time; each is claimed on its own, so order and overlap are safe."""
        finished = await self.repos.inbound_events.finished_ids(InboundSource.GMAIL, ids)
        ids = [i for i in ids if i not in finished]
        gate = asyncio.Semaphore(self.settings.REPLY_CONCURRENCY)
        failures = 0

        async def one(message_id: str) -> None:
            nonlocal failures
            async with gate:
                try:
                    await self.replies.handle_gmail_message(message_id)
                except Exception:
                    failures += 1
                    log.exception("incoming message failed; it stays pending for the sweeper")

        await asyncio.gather(*(one(message_id) for message_id in ids))
        if failures:
            log.warning("some incoming messages failed", extra={"failed": failures, "total": len(ids)})

    async def sweep(self, *, older_than: timedelta = timedelta(minutes=2), limit: int = 50) -> int:
        """Retry messages left pending by a crash or an outage."""
        ids = await self.repos.inbound_events.pending_ids(
            source=InboundSource.GMAIL, older_than=self.clock.now() - older_than, limit=limit
        )
        await self._handle_all(ids)
        return len(ids)

    async def start_watch(self) -> tuple[int, datetime]:
        """users.watch, storing the history id and expiration."""
        if self.gmail is None or not self.settings.GMAIL_TOPIC_NAME:
            raise Conflict(
                "Gmail is not configured (GMAIL_TOPIC_NAME, GOOGLE_TOKEN_FILE)", error="gmail_not_configured"
            )
        try:
            result = await self.gmail.watch(
                topic=self.settings.GMAIL_TOPIC_NAME,
                label_ids=self.settings.GMAIL_LABEL_IDS,
                label_filter_action=self.settings.GMAIL_LABEL_FILTER_ACTION,
            )
        except GmailError as exc:
            log.warning("gmail watch failed", extra={"status": exc.status, "retryable": exc.retryable})
            raise UpstreamError("Gmail refused or failed to start the watch", error="gmail_failed") from exc
        await self.repos.gmail_state.set_watch(
            self.mailbox, history_id=result.history_id, expiration=result.expiration, now=self.clock.now()
        )
        return result.history_id, result.expiration

    async def accept_push(self, notice: PushNotice) -> str | None:
        """Record a Pub/Sub delivery under its messageId; None for a duplicate (answered 2xx, nothing done)."""
        now = self.clock.now()
        event = InboundEvent(
            id=new_id(),
            source=InboundSource.PUBSUB,
            external_id=notice.message_id,
            payload={"history_id": notice.history_id},
            created_at=now,
            updated_at=now,
        )
        if not await self.repos.inbound_events.record(event):
            return None
        await self.repos.gmail_state.touch_push(self.mailbox, now=now)
        return event.id

    async def poll_if_quiet(self) -> bool:
        """The fallback: sync when no push arrived for GMAIL_POLL_SECONDS; True when it synced."""
        state = await self.repos.gmail_state.get_by_address(self.mailbox)
        quiet_since = self.clock.now() - timedelta(seconds=self.settings.GMAIL_POLL_SECONDS)
        if state is None or (state.last_push_at is not None and state.last_push_at > quiet_since):
            return False
        await self.sync()
        return True

    async def run_push(self, event_id: str) -> None:
        """Durable work behind one recorded push: sync, then mark the push done."""
        try:
            # Pushes arriving during a sync are folded into one more pass instead of re-reading the same window.
            await self.coalescer.run(self.sync)
        except Exception:
            log.exception("push processing failed; the sweeper will retry")
            return
        await self.repos.inbound_events.mark_done(event_id, now=self.clock.now())


WATCH_LEASE = "gmail-watch"
WATCH_RENEW_AFTER = timedelta(days=1)
WATCH_LIFETIME = timedelta(days=7)


async def maintenance_pass(service: InboxService, *, lease_ttl: timedelta) -> bool:
    """One pass on the `gmail-watch` lease holder only: renew the watch daily, poll if pushes stopped, sweep."""
    now = service.clock.now()
    if not await service.repos.leases.claim(WATCH_LEASE, owner=service.owner, ttl=lease_ttl, now=now):
        return False
    state = await service.repos.gmail_state.get_by_address(service.mailbox)
    expires = state.watch_expiration if state else None
    if expires is None or expires - now < WATCH_LIFETIME - WATCH_RENEW_AFTER:
        await service.start_watch()
        log.info("gmail watch renewed")
    await service.poll_if_quiet()
    await service.sweep()
    return True


async def gmail_maintenance(service: InboxService, stop: asyncio.Event, *, interval: float = 60.0) -> None:
    """The Gmail loop: a maintenance pass every `interval` seconds until stopped."""
    while not stop.is_set():
        try:
            await maintenance_pass(service, lease_ttl=timedelta(seconds=interval * 3))
        except Exception:
            log.exception("gmail maintenance pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
