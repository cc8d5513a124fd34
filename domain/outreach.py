"""Outreach use cases: claim due campaigns under a lease, check they should still run, run one attempt each.

Engaged campaigns go through the same claims: one nudge (a follow-up on the patient's reply) ENGAGED_NUDGE_DAYS
after they became engaged without a booking, and a hand-off to staff after ENGAGED_TIMEOUT_DAYS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound
from core.phone import phone_field
from db.repositories import Repositories
from domain.audit import Actor, AuditTrail
from domain.campaign_start import ActiveCampaignExists, NewCampaign, start_campaign
from domain.campaigns import NewPatient, SendWindow, engaged_since
from models.appointment import Appointment
from models.campaign import Campaign, Handoff
from models.enums import ATTEMPTING_STATUSES, AuditOutcome, CampaignStatus, Channel, ConsentStatus
from models.interaction import Interaction
from models.patient import ChannelConsent, Patient

log = logging.getLogger("medcampaign.outreach")

# Each claim round takes up to this many campaigns per lane (amortises the claim's database commands).
CLAIM_BATCH_PER_LANE = 4

Action = Literal[
    "sent", "deferred", "skipped", "closed", "converted", "retry_later", "failed", "declined", "waiting", "handed_off"
]
ENGAGED_NO_BOOKING = "engaged_no_booking"  # the hand-off reason of an engaged campaign that never booked

SendStatus = Literal[
    "sent",  # the provider accepted it now
    "already_sent",  # an earlier run sent this step; it is only logged and planned
    "unknown",  # an earlier run vanished mid-send: never resent, left for staff
    "in_progress",  # another worker is sending this step right now
    "retry_later",  # the provider is down; the step is rescheduled
    "opted_out",  # the provider says the patient opted out of this channel
    "undeliverable",  # the address or number is permanently refused
]
# Send outcomes that count as an attempt made (the patient may have received it).
COUNTED: tuple[SendStatus, ...] = ("sent", "already_sent", "unknown")


@dataclass(frozen=True)
class OutreachAttempt:
    """What one outreach attempt did: the campaign fields it committed and how the send went."""

    campaign_fields: dict[str, Any]
    channel: Channel | None
    send_status: SendStatus | None = None
    interaction_id: str | None = None
    next_follow_up_at: datetime | None = None
    channel_problem: str = ""


@dataclass(frozen=True)
class Nudge:
    """The attempt is an engaged campaign's one follow-up on the patient's reply; it is looked at again `then`."""

    then: datetime


class OutreachRunner(Protocol):
    """Runs one outreach attempt for a leased campaign (the outreach graph implements it)."""

    async def run(
        self, campaign: Campaign, patient: Patient, history: list[Interaction], attempt: int, *, nudge: Nudge | None
    ) -> OutreachAttempt:
        """Write, send, log and plan attempt number `attempt` (a nudge when given), committing the new fields."""
        ...


@dataclass(frozen=True)
class RunResult:
    """What one run did to one campaign."""

    campaign_id: str
    action: Action
    status: CampaignStatus
    channel: Channel | None = None
    interaction_id: str | None = None
    next_follow_up_at: datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class TriggerPatient(NewPatient):
    """A patient given to /agent/trigger, with the consent staff recorded for texts and calls."""

    sms_consent: bool = False
    call_consent: bool = False


@dataclass(frozen=True)
class Facts:
    """What a run checks and writes from, read for a whole claimed batch at once."""

    patient: Patient | None
    upcoming: Appointment | None
    history: list[Interaction]


def worker_id() -> str:
    """A unique name for this worker (lease owner)."""
    return f"worker-{uuid.uuid4().hex[:12]}"


class OutreachService:
    """Runs an outreach attempt for each due campaign, under an exclusive lease."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        repos: Repositories,
        runner: OutreachRunner,
        owner: str,
        on_change: Callable[[], None] | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.runner = runner
        self.owner = owner  # the runner's writes are guarded by the same lease owner
        self._on_change = on_change or (lambda: None)  # a status change marks the dashboard stale
        self.lease_ttl = timedelta(seconds=settings.OUTREACH_LEASE_SECONDS)
        self.audit = AuditTrail(repo=repos.audit, clock=clock)
        self.window = SendWindow(
            start=settings.QUIET_HOURS_START,
            end=settings.QUIET_HOURS_END,
            clinic_zone=settings.zone,
            holidays=frozenset(date.fromisoformat(d) for d in settings.CLINIC_HOLIDAYS),
        )

    # ---- the worker -----------------------------------------------------------------------------------------

    async def run_due(self, *, limit: int, concurrency: int = 1) -> list[RunResult]:
        """Claim and run due campaigns until none is due or `limit` were handled.

        Campaigns are claimed in batches (one round of database commands per batch) into a buffer that
        `concurrency` lanes drain; a lane refills it when it is empty.
        """
        results: list[RunResult] = []
        buffer: list[tuple[Campaign, Facts]] = []
        claimed = 0
        exhausted = False
        refill = asyncio.Lock()

        async def next_campaign() -> tuple[Campaign, Facts] | None:
            nonlocal claimed, exhausted
            async with refill:
                if not buffer and not exhausted and claimed < limit:
                    batch = await self.repos.campaigns.claim_due(
                        owner=self.owner,
                        now=self.clock.now(),
                        ttl=self.lease_ttl,
                        limit=min(limit - claimed, concurrency * CLAIM_BATCH_PER_LANE),
                    )
                    exhausted = not batch
                    claimed += len(batch)
                    facts = await self.facts(batch)
                    buffer.extend((campaign, facts[campaign.id]) for campaign in batch)
                return buffer.pop(0) if buffer else None

        async def lane() -> None:
            while (claimed_campaign := await next_campaign()) is not None:
                campaign, facts = claimed_campaign
                try:
                    results.append(await self.process(campaign, facts))
                except Exception:
                    # The lease expires and another run picks the campaign up again: nothing is lost.
                    log.exception("outreach run failed", extra={"campaign_id": campaign.id})

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return results

    async def run_forever(self, stop: asyncio.Event, *, concurrency: int = 4) -> None:
        """The follow-up loop: run what is due, then sleep until the next poll."""
        log.info("outreach worker started", extra={"owner": self.owner})
        while not stop.is_set():
            try:
                handled = await self.run_due(limit=self.settings.WORKER_BATCH_SIZE, concurrency=concurrency)
            except Exception:
                log.exception("outreach worker pass failed")
                handled = []
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.WORKER_POLL_SECONDS)
        log.info("outreach worker stopped", extra={"owner": self.owner})

    # ---- one campaign ---------------------------------------------------------------------------------------

    async def _close(
        self,
        campaign: Campaign,
        action: Action,
        fields: dict[str, Any],
        detail: str,
        *,
        only_if: CampaignStatus | None = None,
    ) -> RunResult:
        now = self.clock.now()
        committed = await self.repos.campaigns.commit(
            campaign.id, owner=self.owner, now=now, fields=fields, status=only_if
        )
        if not committed:
            log.warning("outreach outcome refused: lease lost or status changed", extra={"campaign_id": campaign.id})
            return RunResult(campaign.id, "skipped", campaign.status, detail="changed meanwhile")
        if "status" in fields:
            self._on_change()
        status = CampaignStatus(fields.get("status", campaign.status))
        log.info("outreach skipped send", extra={"campaign_id": campaign.id, "action": action})
        return RunResult(
            campaign.id,
            action,
            status,
            next_follow_up_at=fields.get("follow_up_details.next_follow_up_at"),
            detail=detail,
        )

    async def facts(self, campaigns: list[Campaign]) -> dict[str, Facts]:
        """Patients, upcoming appointments and conversations of a batch of campaigns: three queries in all."""
        patient_ids = list({c.patient_id for c in campaigns})
        patients, upcoming, histories = await asyncio.gather(
            self.repos.patients.get_many(patient_ids),
            self.repos.appointments.next_booked_for(patient_ids, after=self.clock.now()),
            self.repos.interactions.for_campaigns([c.id for c in campaigns]),
        )
        return {
            c.id: Facts(patients.get(c.patient_id), upcoming.get(c.patient_id), histories.get(c.id, []))
            for c in campaigns
        }

    async def process(self, campaign: Campaign, facts: Facts, *, respect_quiet_hours: bool = True) -> RunResult:
        """Re-check a leased campaign, then run its next attempt."""
        now = self.clock.now()
        engaged = campaign.status == CampaignStatus.ENGAGED
        if campaign.status not in ATTEMPTING_STATUSES and not engaged:
            return await self._close(campaign, "skipped", {}, f"campaign is {campaign.status.value}")
        patient, upcoming = facts.patient, facts.upcoming
        if patient is None:
            return await self._close(
                campaign,
                "failed",
                {"status": CampaignStatus.FAILED.value, "failure_reason": "patient record missing"},
                "no patient",
            )
        if upcoming is not None:
            if upcoming.created_at >= campaign.created_at:
                return await self._close(
                    campaign,
                    "converted",
                    {
                        "status": CampaignStatus.BOOKING_COMPLETED.value,
                        "converted_at": upcoming.created_at,
                        "follow_up_details.next_follow_up_at": None,
                    },
                    "patient booked",
                )
            return await self._close(
                campaign,
                "closed",
                {
                    "status": CampaignStatus.FAILED.value,
                    "failure_reason": "already_booked",
                    "follow_up_details.next_follow_up_at": None,
                },
                "patient already had an upcoming appointment",
            )
        if engaged:
            return await self._follow_through(campaign, patient, facts.history, respect_quiet_hours)
        details = campaign.follow_up_details
        if details.attempts_made >= details.max_attempts:
            return await self._close(
                campaign,
                "failed",
                {
                    "status": CampaignStatus.FAILED.value,
                    "failure_reason": f"no reply after {details.attempts_made} attempts",
                    "follow_up_details.next_follow_up_at": None,
                },
                "max attempts reached",
            )
        if respect_quiet_hours:
            opening = self.window.next_opening(now, patient)
            if opening != now:
                return await self._close(
                    campaign, "deferred", {"follow_up_details.next_follow_up_at": opening}, "outside the send window"
                )
        return await self._attempt(campaign, patient, facts.history)

    async def _follow_through(
        self, campaign: Campaign, patient: Patient, history: list[Interaction], respect_quiet_hours: bool
    ) -> RunResult:
        """An engaged campaign without a booking: its one nudge when due, its hand-off to staff when overdue."""
        now = self.clock.now()
        since = engaged_since(campaign, history)
        nudge_at = since + timedelta(days=self.settings.ENGAGED_NUDGE_DAYS)
        handoff_at = since + timedelta(days=self.settings.ENGAGED_TIMEOUT_DAYS)
        known = {"engaged_at": since}
        if now >= handoff_at:
            fields = {
                **known,
                "status": CampaignStatus.HANDOFF.value,
                "handoff": Handoff(reason=ENGAGED_NO_BOOKING, at=now).model_dump(),
                "follow_up_details.next_follow_up_at": None,
            }
            return await self._close(
                campaign, "handed_off", fields, "engaged without a booking", only_if=CampaignStatus.ENGAGED
            )
        nudged = campaign.follow_up_details.nudged_at is not None
        if nudged or now < nudge_at:
            return await self._close(
                campaign,
                "waiting",
                {**known, "follow_up_details.next_follow_up_at": handoff_at if nudged else nudge_at},
                "nudged already" if nudged else "nudge not due yet",
            )
        if respect_quiet_hours:
            opening = self.window.next_opening(now, patient)
            if opening != now:
                return await self._close(
                    campaign,
                    "deferred",
                    {**known, "follow_up_details.next_follow_up_at": opening},
                    "outside the send window",
                )
        if not await self.repos.campaigns.claim_nudge(campaign.id, owner=self.owner, now=now, engaged_at=since):
            return await self._close(
                campaign, "waiting", {"follow_up_details.next_follow_up_at": handoff_at}, "nudged already"
            )
        return await self._attempt(campaign, patient, history, nudge=Nudge(then=handoff_at))

    async def _attempt(
        self, campaign: Campaign, patient: Patient, history: list[Interaction], *, nudge: Nudge | None = None
    ) -> RunResult:
        attempt = await self.runner.run(
            campaign, patient, history, campaign.follow_up_details.attempts_made + 1, nudge=nudge
        )
        status = CampaignStatus(attempt.campaign_fields.get("status", campaign.status))
        send_status = attempt.send_status
        if attempt.channel is None:
            action: Action = "declined" if status == CampaignStatus.DECLINED else "failed"
            if nudge is not None:
                action = "skipped"  # no usable channel for the nudge: the hand-off follows
        elif send_status is None or send_status in COUNTED:
            action = "sent"
        elif send_status == "undeliverable":
            action = "failed"
        else:
            action = "retry_later"
        return RunResult(
            campaign_id=campaign.id,
            action=action,
            status=status,
            channel=attempt.channel,
            interaction_id=attempt.interaction_id,
            next_follow_up_at=attempt.next_follow_up_at,
            detail=attempt.channel_problem or (send_status or ""),
        )

    # ---- manual runs (/agent/trigger) -----------------------------------------------------------------------

    async def trigger(self, campaign_id: str, *, actor: Actor, ignore_quiet_hours: bool = False) -> RunResult:
        """Run one campaign now for a staff user (opt-outs always respected; quiet hours unless overridden); audited."""
        existing = await self.repos.campaigns.get(campaign_id)
        if existing is None:
            await self.audit.record(actor, "agent.trigger", f"campaigns/{campaign_id}", outcome=AuditOutcome.FAILURE)
            raise NotFound("Campaign not found", error="campaign_not_found")
        await self.audit.record(actor, "agent.trigger", f"campaigns/{campaign_id}", patient_id=existing.patient_id)
        if existing.status not in ATTEMPTING_STATUSES:
            raise Conflict(
                f"Campaign is {existing.status.value}; only contacting campaigns can be run",
                error="campaign_not_attempting",
            )
        campaign = await self.repos.campaigns.claim(
            campaign_id, owner=self.owner, now=self.clock.now(), ttl=self.lease_ttl
        )
        if campaign is None:
            raise Conflict("A worker is processing this campaign right now; try again shortly", error="campaign_busy")
        facts = await self.facts([campaign])
        return await self.process(campaign, facts[campaign.id], respect_quiet_hours=not ignore_quiet_hours)

    async def trigger_new(
        self, patient: TriggerPatient, campaign: NewCampaign, *, actor: Actor, ignore_quiet_hours: bool = False
    ) -> RunResult:
        """Create (or find) the patient and start their campaign of that type (or take the active one), then run it."""
        now = self.clock.now()
        record = await self._find_or_create_patient(patient, now, recorded_by=actor.email)
        try:
            target = await start_campaign(self.repos, campaign, settings=self.settings, patient_id=record.id, now=now)
        except ActiveCampaignExists:
            # The patient's active campaign of that type is the one to run (a contacting one runs, others are 409).
            existing = await self.repos.campaigns.active_of_type(record.id, campaign.campaign_type)
            if existing is None:
                raise  # it closed a moment ago; the caller may retry
            target = existing
        return await self.trigger(target.id, actor=actor, ignore_quiet_hours=ignore_quiet_hours)

    async def _find_or_create_patient(self, patient: TriggerPatient, now: datetime, *, recorded_by: str) -> Patient:
        record: Patient | None = None
        phone = phone_field(patient.phone, region=self.settings.PHONE_DEFAULT_REGION, field="patient.phone")
        if phone and not patient.email:
            # Without an email, any patient already on that number is the same person.
            same_phone = await self.repos.patients.ids_by_phone(phone)
            record = await self.repos.patients.get(same_phone[0]) if same_phone else None
        if record is None:
            record, _ = await self.repos.patients.find_or_create(
                name=patient.name, email=patient.email, phone=phone, now=now
            )
        updates: dict[str, Any] = {}
        for channel, wanted in ((Channel.SMS, patient.sms_consent), (Channel.CALL, patient.call_consent)):
            # Staff may record consent the patient gave; a revocation is never overridden from here.
            if wanted and getattr(record.consent, channel.value).status == ConsentStatus.UNKNOWN:
                updates[f"consent.{channel.value}"] = ChannelConsent(
                    status=ConsentStatus.GRANTED, source="staff", by=recorded_by, at=now
                ).model_dump()
        if phone and not record.phone:
            updates["phone"] = phone
        if patient.timezone and not record.timezone:
            updates["timezone"] = patient.timezone
        if updates:
            record = await self.repos.patients.update_fields(record.id, updates, now=now)
        return record
