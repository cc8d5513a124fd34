"""Engaged follow-through: one nudge on the reply after ENGAGED_NUDGE_DAYS, HANDOFF after ENGAGED_TIMEOUT_DAYS.

The worker, the outreach graph and the claims are the real ones (SMTP sink, twilio client against its fake), on
an injected FixedClock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.clock import FixedClock
from core.config import Settings
from core.container import Container, build_container
from core.snapshot import Snapshot
from domain.audit import Actor
from domain.outreach import ENGAGED_NO_BOOKING
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails, Handoff
from models.enums import CampaignStatus, CampaignType, Channel, ConsentStatus, Direction
from models.interaction import Interaction
from models.patient import ChannelConsent, Consent, Patient
from tests.agent.test_outreach import book_in_five_days, reload
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.support import campaign_ids_linked

ENGAGED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon (clinic timezone UTC)
DAY = timedelta(days=1)
GRANTED = ChannelConsent(status=ConsentStatus.GRANTED, source="intake_form")


class CountingSnapshot(Snapshot[Any]):
    """The dashboard snapshot, counting how often a write marked it stale."""

    def __init__(self) -> None:
        super().__init__()
        self.marked = 0

    def mark_stale(self) -> None:
        self.marked += 1
        super().mark_stale()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(ENGAGED_AT)


@pytest.fixture
async def stack(outreach_settings: Callable[..., Settings], clock: FixedClock) -> AsyncIterator[Container]:
    container = await build_container(outreach_settings(), clock=clock)
    container.dashboard_snapshot = CountingSnapshot()
    yield container
    await container.client.drop_database(container.settings.MONGO_DB_NAME)
    await container.close()


async def seed_engaged(
    container: Container,
    *,
    engaged_at: datetime | None = ENGAGED_AT,
    channel: Channel = Channel.EMAIL,
    email: str = "ann.lee@example.com",
    consent: Consent | None = None,
    opted_out: tuple[Channel, ...] = (),
    replied_at: datetime | None = None,
) -> Campaign:
    """An ENGAGED campaign as the reply graph leaves it (engaged_at set, the nudge scheduled); with
    `engaged_at=None`, one engaged before that was recorded (no engaged_at, nothing scheduled)."""
    since = engaged_at or replied_at or ENGAGED_AT
    patient = Patient(
        id=new_id(),
        name="Ann Lee",
        email=email,
        phone="+15551230000",
        consent=consent or Consent(sms=GRANTED, call=GRANTED),
        opted_out_channels=list(opted_out),
        created_at=since - 10 * DAY,
        updated_at=since,
    )
    await container.repos.patients.insert(patient)
    nudge_at = engaged_at + timedelta(days=container.settings.ENGAGED_NUDGE_DAYS) if engaged_at else None
    campaign = Campaign(
        id=new_id(),
        patient_id=patient.id,
        campaign_type=CampaignType.RECALL,
        status=CampaignStatus.ENGAGED,
        channel=channel,
        follow_up_details=FollowUpDetails(attempts_made=1, max_attempts=3, next_follow_up_at=nudge_at),
        engaged_at=engaged_at,
        created_at=since - 3 * DAY,
        updated_at=since if engaged_at else ENGAGED_AT,  # a later write (a staff note, say) is not the reply
    )
    await container.repos.campaigns.insert(campaign)
    if replied_at is not None:
        await container.repos.interactions.insert(
            Interaction(
                id=new_id(),
                campaign_id=campaign.id,
                patient_id=patient.id,
                direction=Direction.INCOMING,
                channel=Channel.EMAIL,
                timestamp=replied_at,
                body="Yes, Tuesday could work",
                summary="Patient replied",
            )
        )
    return campaign


async def make_due(container: Container, campaign: Campaign) -> None:
    """Due now whatever its schedule says, so only the worker's own checks decide."""
    now = container.clock.now()
    await container.repos.campaigns.set_fields(campaign.id, {"follow_up_details.next_follow_up_at": now}, now=now)


# ---- the nudge ------------------------------------------------------------------------------------------------


async def test_the_nudge_goes_out_on_day_3_not_before_and_only_once(
    stack: Container, clock: FixedClock, smtp: SmtpSink
) -> None:
    campaign = await seed_engaged(stack)
    clock.set(ENGAGED_AT + 3 * DAY - timedelta(minutes=1))
    assert await stack.outreach().run_due(limit=10) == []  # not due: the reply graph scheduled it for day 3
    await make_due(stack, campaign)
    [early] = await stack.outreach().run_due(limit=10)
    assert (early.action, early.next_follow_up_at) == ("waiting", ENGAGED_AT + 3 * DAY) and smtp.messages == []

    clock.set(ENGAGED_AT + 3 * DAY)
    [nudged] = await stack.outreach().run_due(limit=10)
    assert (nudged.action, nudged.channel, nudged.status) == ("sent", Channel.EMAIL, CampaignStatus.ENGAGED)
    [message] = smtp.messages
    text = message.get_content()
    assert message["To"] == "ann.lee@example.com" and "following up on your reply" in text
    assert campaign_ids_linked(text, stack.settings, now=clock.now()) == [campaign.id, campaign.id]
    updated = await reload(stack, campaign)
    assert updated.status == CampaignStatus.ENGAGED and updated.lease is None
    assert updated.follow_up_details.nudged_at == clock.now() and updated.follow_up_details.attempts_made == 2
    assert updated.follow_up_details.next_follow_up_at == ENGAGED_AT + 7 * DAY  # the hand-off check
    [logged] = await stack.repos.interactions.for_campaign(campaign.id)
    assert logged.direction == Direction.OUTGOING and logged.summary == "Follow-up on the patient's reply by email"

    clock.set(ENGAGED_AT + 5 * DAY)
    await make_due(stack, campaign)
    [again] = await stack.outreach().run_due(limit=10)
    assert again.action == "waiting" and len(smtp.messages) == 1


async def test_two_workers_nudge_each_engaged_campaign_exactly_once(
    outreach_settings: Callable[..., Settings], smtp: SmtpSink
) -> None:
    settings = outreach_settings()
    workers = [await build_container(settings, clock=FixedClock(ENGAGED_AT + 3 * DAY)) for _ in range(2)]
    try:
        for i in range(30):
            await seed_engaged(workers[0], email=f"p{i}@example.com")
        services = [w.outreach(owner=f"worker-{i}") for i, w in enumerate(workers)]
        runs = await asyncio.gather(*(s.run_due(limit=1000, concurrency=4) for s in services))
        assert sorted(m["To"] for m in smtp.messages) == sorted(f"p{i}@example.com" for i in range(30))
        assert sum(1 for run in runs for r in run if r.action == "sent") == 30
        assert await workers[0].repos.outbound_messages.count_by_status() == {"sent": 30}
        again = await asyncio.gather(*(s.run_due(limit=1000) for s in services))
        assert sum(len(r) for r in again) == 0 and len(smtp.messages) == 30
    finally:
        await workers[0].client.drop_database(settings.MONGO_DB_NAME)
        for w in workers:
            await w.close()


async def test_the_nudge_claim_is_taken_once(stack: Container, clock: FixedClock) -> None:
    campaign = await seed_engaged(stack)
    clock.set(ENGAGED_AT + 3 * DAY)
    now = clock.now()
    [leased] = await stack.repos.campaigns.claim_due(owner="w1", now=now, ttl=timedelta(minutes=2), limit=5)
    assert leased.id == campaign.id
    # Each at its own time, so every one of them would change the document if the guard let it.
    claims = await asyncio.gather(
        *(
            stack.repos.campaigns.claim_nudge(
                campaign.id, owner="w1", now=now + timedelta(milliseconds=i), engaged_at=ENGAGED_AT
            )
            for i in range(5)
        )
    )
    assert sorted(claims) == [False, False, False, False, True]
    assert not await stack.repos.campaigns.claim_nudge(campaign.id, owner="w2", now=now, engaged_at=ENGAGED_AT)


@pytest.mark.parametrize(
    ("channel", "consent", "opted_out"),
    [
        (Channel.EMAIL, None, (Channel.EMAIL,)),  # unsubscribed from email (texts would be allowed)
        (Channel.SMS, Consent(), ()),  # never agreed to texts
        (Channel.SMS, Consent(sms=ChannelConsent(status=ConsentStatus.REVOKED, source="sms_stop")), ()),
    ],
)
async def test_no_nudge_without_consent_on_the_campaigns_channel(
    stack: Container,
    clock: FixedClock,
    smtp: SmtpSink,
    twilio: FakeTwilio,
    channel: Channel,
    consent: Consent | None,
    opted_out: tuple[Channel, ...],
) -> None:
    campaign = await seed_engaged(stack, channel=channel, consent=consent, opted_out=opted_out)
    clock.set(ENGAGED_AT + 3 * DAY)
    [result] = await stack.outreach().run_due(limit=10)
    assert result.action == "skipped" and smtp.messages == [] and twilio.messages == [] and twilio.calls == []
    updated = await reload(stack, campaign)
    assert updated.status == CampaignStatus.ENGAGED and updated.follow_up_details.nudged_at is None
    assert updated.follow_up_details.next_follow_up_at == ENGAGED_AT + 7 * DAY
    assert await stack.repos.interactions.for_campaign(campaign.id) == []


async def test_quiet_hours_defer_the_nudge_to_the_morning(
    outreach_settings: Callable[..., Settings], smtp: SmtpSink
) -> None:
    evening = ENGAGED_AT.replace(hour=21)
    clock = FixedClock(evening + 3 * DAY)
    container = await build_container(
        outreach_settings(TZ="UTC", QUIET_HOURS_START="08:00", QUIET_HOURS_END="20:00"), clock=clock
    )
    try:
        campaign = await seed_engaged(container, engaged_at=evening)
        [deferred] = await container.outreach().run_due(limit=10)
        morning = (evening + 4 * DAY).replace(hour=8)
        assert (deferred.action, deferred.next_follow_up_at) == ("deferred", morning) and smtp.messages == []
        assert (await reload(container, campaign)).follow_up_details.nudged_at is None
        assert await container.outreach().run_due(limit=10) == []
        clock.set(morning)
        [sent] = await container.outreach().run_due(limit=10)
        assert sent.action == "sent" and len(smtp.messages) == 1
    finally:
        await container.client.drop_database(container.settings.MONGO_DB_NAME)
        await container.close()


# ---- the hand-off ---------------------------------------------------------------------------------------------


async def test_no_booking_by_day_7_hands_the_campaign_to_staff(
    stack: Container, clock: FixedClock, smtp: SmtpSink
) -> None:
    campaign = await seed_engaged(stack)
    clock.set(ENGAGED_AT + 3 * DAY)
    [nudged] = await stack.outreach().run_due(limit=10)
    assert nudged.action == "sent"
    clock.set(ENGAGED_AT + 7 * DAY - timedelta(minutes=1))
    await make_due(stack, campaign)
    [early] = await stack.outreach().run_due(limit=10)
    assert early.action == "waiting" and (await reload(stack, campaign)).status == CampaignStatus.ENGAGED
    snapshot = stack.dashboard_snapshot
    assert isinstance(snapshot, CountingSnapshot) and snapshot.marked == 0

    clock.set(ENGAGED_AT + 7 * DAY)
    [handed] = await stack.outreach().run_due(limit=10)
    assert (handed.action, handed.status) == ("handed_off", CampaignStatus.HANDOFF)
    updated = await reload(stack, campaign)
    assert updated.status == CampaignStatus.HANDOFF and updated.lease is None
    assert updated.handoff == Handoff(reason=ENGAGED_NO_BOOKING, at=clock.now())
    assert updated.follow_up_details.next_follow_up_at is None and snapshot.marked == 1
    items, total = await stack.repos.campaigns.handoffs(skip=0, limit=10)
    assert total == 1 and items[0].summary.campaign.id == campaign.id
    assert len(smtp.messages) == 1
    clock.set(ENGAGED_AT + 30 * DAY)
    assert await stack.outreach().run_due(limit=10) == []  # staff have it now


async def test_the_hand_off_does_not_overwrite_a_change_made_meanwhile(stack: Container, clock: FixedClock) -> None:
    campaign = await seed_engaged(stack)
    clock.set(ENGAGED_AT + 7 * DAY)
    service = stack.outreach()
    [leased] = await stack.repos.campaigns.claim_due(
        owner=service.owner, now=clock.now(), ttl=service.lease_ttl, limit=1
    )
    # The patient declines while the worker holds the campaign (the reply graph writes without the lease).
    await stack.repos.campaigns.set_fields(campaign.id, {"status": CampaignStatus.DECLINED.value}, now=clock.now())
    facts = await service.facts([leased])
    result = await service.process(leased, facts[leased.id])
    assert result.action == "skipped" and (await reload(stack, campaign)).status == CampaignStatus.DECLINED


# ---- bookings, and campaigns engaged before engaged_at existed ------------------------------------------------


async def test_a_booking_before_day_3_means_no_nudge_and_no_hand_off(
    stack: Container, clock: FixedClock, smtp: SmtpSink
) -> None:
    booked_by_link = await seed_engaged(stack)
    booked_by_phone = await seed_engaged(stack, email="bob.ray@example.com")
    clock.set(ENGAGED_AT + 1 * DAY)
    # The booking page converts the campaign at once; a booking staff enter is found by the worker.
    assert await stack.repos.campaigns.mark_converted(
        patient_id=booked_by_link.patient_id, campaign_id=booked_by_link.id, now=clock.now()
    ) == [booked_by_link.id]
    await book_in_five_days(stack, booked_by_phone, booked_at=clock.now())
    clock.set(ENGAGED_AT + 3 * DAY)
    [converted] = await stack.outreach().run_due(limit=10)
    assert (converted.campaign_id, converted.action) == (booked_by_phone.id, "converted")
    for day in (4, 7, 8):
        clock.set(ENGAGED_AT + day * DAY)
        assert await stack.outreach().run_due(limit=10) == []
    assert smtp.messages == []
    for campaign in (booked_by_link, booked_by_phone):
        assert (await reload(stack, campaign)).status == CampaignStatus.BOOKING_COMPLETED


async def test_campaigns_engaged_before_engaged_at_existed_count_from_the_patients_reply(
    stack: Container, clock: FixedClock, smtp: SmtpSink
) -> None:
    recent = await seed_engaged(stack, engaged_at=None, replied_at=ENGAGED_AT - 4 * DAY)
    stale = await seed_engaged(stack, engaged_at=None, replied_at=ENGAGED_AT - 8 * DAY, email="bob.ray@example.com")
    results = {r.campaign_id: r.action for r in await stack.outreach().run_due(limit=10)}
    assert results == {recent.id: "sent", stale.id: "handed_off"}
    assert [m["To"] for m in smtp.messages] == ["ann.lee@example.com"]
    nudged = await reload(stack, recent)
    assert nudged.engaged_at == ENGAGED_AT - 4 * DAY
    assert nudged.follow_up_details.next_follow_up_at == ENGAGED_AT + 3 * DAY  # 7 days after the reply
    handed = await reload(stack, stale)
    assert handed.engaged_at == ENGAGED_AT - 8 * DAY and handed.handoff is not None
    assert handed.handoff.reason == ENGAGED_NO_BOOKING


async def test_resolving_a_handoff_back_to_engaged_starts_the_engaged_clock(
    stack: Container, clock: FixedClock
) -> None:
    campaign = await seed_engaged(stack)
    handoff = Handoff(reason=ENGAGED_NO_BOOKING, at=clock.now()).model_dump()
    await stack.repos.campaigns.set_fields(
        campaign.id, {"status": CampaignStatus.HANDOFF.value, "handoff": handoff}, now=clock.now()
    )
    clock.set(ENGAGED_AT + 8 * DAY)
    await stack.campaign_admin().resolve_handoff(
        Actor("staff@clinic.test", None), campaign.id, note="Called her", outcome="engaged"
    )
    updated = await reload(stack, campaign)
    assert updated.status == CampaignStatus.ENGAGED and updated.engaged_at == clock.now()
    assert updated.follow_up_details.nudged_at is None
    assert updated.follow_up_details.next_follow_up_at == clock.now() + 3 * DAY
