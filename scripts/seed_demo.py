"""Load a realistic, deterministic demo clinic dataset: `python -m scripts.seed_demo [--patients 300]`.

Every document id is derived from a stable key (the first 12 bytes of sha256("demo:<kind>:<key>")) and written
with upserts, so running the seed again refreshes the data instead of duplicating it. Randomness comes from
one random.Random per record, seeded from 42 and the record's key, so patient i and everything about them is
the same whatever --patients is. Dates are relative to the container clock's now, in the clinic timezone.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from bson import ObjectId
from tqdm import tqdm

from core.config import WEEKDAYS, Settings
from core.container import Container
from db.repositories.base import Repository
from domain.slots import ClinicSchedule, buckets, day_starts
from models.appointment import Appointment, SlotClaim
from models.campaign import Campaign, FollowUpDetails, Handoff
from models.enums import (
    AppointmentStatus,
    CampaignStatus,
    CampaignType,
    Channel,
    ConsentStatus,
    Direction,
    Intent,
)
from models.interaction import Interaction
from models.patient import ChannelConsent, Consent, Patient
from models.system import KbArticle
from scripts.common import open_container
from scripts.create_admin import create_or_reset_admin
from scripts.demo_data import (
    BOOKING_REPLIES,
    CHANNEL_WEIGHTS,
    CONFIRMATION,
    CONSENT_SOURCES,
    DECLINE_ACK,
    DECLINE_REPLIES,
    ENGAGED_REPLIES,
    FIRST_NAMES,
    HANDOFF_REPLIES,
    HOLDING_MESSAGE,
    KB_ARTICLES,
    LAST_NAMES,
    OUTREACH,
    PAUSE_REASONS,
    STATUS_WEIGHTS,
)

DEMO_ADMIN_EMAIL = "admin@demo.clinic"
DEMO_ADMIN_PASSWORD_ENV = "DEMO_ADMIN_PASSWORD"  # noqa: S105 - the name of the variable, not a secret
DEFAULT_DEMO_ADMIN_PASSWORD = "demo-admin-password"  # noqa: S105 - documented demo-only credential
SECOND_DOCTOR = "Dr. Patel"  # used unless CLINIC_DOCTORS names another bookable doctor
SEED = 42
HISTORY_DAYS = 425  # about 14 months of campaigns and visits
WRITE_CHUNK = 500

app = typer.Typer(add_completion=False, help=__doc__)


# Status of the latest campaign of patient i for i < 8, so every status is always present; then STATUS_WEIGHTS.
FORCED_STATUSES = tuple(CampaignStatus)
TERMINAL = (CampaignStatus.BOOKING_COMPLETED, CampaignStatus.DECLINED, CampaignStatus.FAILED)
ATTEMPTING_FOR = {
    CampaignType.RECOVERY: CampaignStatus.ATTEMPTING_RECOVERY,
    CampaignType.RECALL: CampaignStatus.ATTEMPTING_RECALL,
}


def record_rng(kind: str, key: object) -> random.Random:
    """A random stream of one record, seeded from SEED: record i looks the same whatever --patients is."""
    return random.Random(f"{SEED}:{kind}:{key}")


def demo_id(kind: str, key: object) -> str:
    """A stable ObjectId string: the first 12 bytes of sha256("demo:<kind>:<key>")."""
    return str(ObjectId(hashlib.sha256(f"demo:{kind}:{key}".encode()).digest()[:12]))


def demo_admin_password() -> str:
    """The demo admin password: DEMO_ADMIN_PASSWORD when set, else the documented default."""
    return os.environ.get(DEMO_ADMIN_PASSWORD_ENV) or DEFAULT_DEMO_ADMIN_PASSWORD


def demo_admin_allowed(settings: Settings, *, embedded_uri: str | None) -> bool:
    """The demo admin (a published password) only on the embedded database `make run` started; never in production."""
    return not settings.is_production and embedded_uri is not None and settings.MONGO_URI == embedded_uri


async def ensure_demo_admin(container: Container) -> None:
    """Create the demo admin, or reset it to the demo password."""
    await create_or_reset_admin(container, DEMO_ADMIN_EMAIL, demo_admin_password())


async def is_empty(container: Container) -> bool:
    """True when the database holds no patients yet."""
    return await container.repos.patients.count() == 0


def _days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


def _minutes(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(minutes=rng.randint(low, high))


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


# Patients


def _consent(rng: random.Random, i: int, has_phone: bool, since: datetime) -> tuple[Consent, list[Channel]]:
    def granted() -> ChannelConsent:
        return ChannelConsent(status=ConsentStatus.GRANTED, source=rng.choice(CONSENT_SOURCES), at=since)

    roll = rng.random()
    consent = Consent()
    opted_out: list[Channel] = []
    if i < 10 or roll < 0.9 or not has_phone:
        consent.email = granted()
    elif roll < 0.95:
        consent.email = ChannelConsent(status=ConsentStatus.REVOKED, source="unsubscribe_link", at=since)
        opted_out.append(Channel.EMAIL)
    if has_phone:
        # Patients who may not be emailed gave their number for texts, so everyone has a channel.
        if consent.email.status is not ConsentStatus.GRANTED or rng.random() < 0.45:
            consent.sms = granted()
        elif rng.random() < 0.05:
            consent.sms = ChannelConsent(status=ConsentStatus.REVOKED, source="sms_stop", at=since)
            opted_out.append(Channel.SMS)
        if rng.random() < 0.25:
            consent.call = granted()
    return consent, opted_out


def _phone(rng: random.Random, used: set[str]) -> str:
    """A fresh E.164 number in the +1 555 fictional range."""
    while True:
        phone = f"+1555{rng.randrange(1_000_000, 10_000_000)}"
        if phone not in used:
            used.add(phone)
            return phone


def build_patients(count: int, *, now: datetime) -> list[Patient]:
    """Patients with varied names, @example.com emails, +1555 phones (some none) and per-channel consent."""
    patients: list[Patient] = []
    phones: set[str] = set()
    for i in range(count):
        rng = record_rng("patient", i)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        phone = _phone(rng, phones) if rng.random() < 0.85 else None
        created = now - _days(rng, HISTORY_DAYS + 40, 1800)
        consent, opted_out = _consent(rng, i, phone is not None, created)
        patients.append(
            Patient(
                id=demo_id("patient", i),
                name=f"{first} {last}",
                email=f"{_slug(first)}.{_slug(last)}{i}@example.com",
                phone=phone,
                consent=consent,
                opted_out_channels=opted_out,
                created_at=created,
                updated_at=created,
            )
        )
    return patients


# Campaigns and their conversations


@dataclass
class _Plan:
    """A campaign's timeline as offsets from its creation, before it is placed in time."""

    status: CampaignStatus
    attempts: list[timedelta]
    reply: tuple[timedelta, Intent, str, str] | None = None  # at, intent, body, summary
    answer: tuple[timedelta, str] | None = None
    handoff: tuple[timedelta, str] | None = None
    converted: timedelta | None = None
    end: timedelta = timedelta(0)  # the last thing that happened (failure, pause, ...)
    summary: str = ""
    failure_reason: str | None = None


def _attempt_offsets(rng: random.Random, count: int, cadence: Sequence[int]) -> list[timedelta]:
    offsets = [_minutes(rng, 2, 90)] if count else []
    for gap in cadence[: max(count - 1, 0)]:
        offsets.append(offsets[-1] + timedelta(days=gap) + _minutes(rng, -90, 90))
    return offsets


def _plan(rng: random.Random, status: CampaignStatus, cadence: Sequence[int]) -> _Plan:
    """The shape of a campaign's history for a status (attempting campaigns are handled separately)."""
    if status is CampaignStatus.FAILED:
        if rng.random() < 0.15:
            attempts = _attempt_offsets(rng, 1, cadence)
            return _Plan(
                status,
                attempts,
                end=attempts[-1] + _minutes(rng, 1, 30),
                failure_reason="Undeliverable: the provider rejected the address or number.",
                summary="Outreach could not be delivered.",
            )
        attempts = _attempt_offsets(rng, len(cadence), cadence)
        return _Plan(
            status,
            attempts,
            end=attempts[-1] + timedelta(days=cadence[-1]),
            failure_reason=f"No reply after {len(cadence)} attempts.",
            summary="No response to any outreach attempt.",
        )
    if status is CampaignStatus.PAUSED:
        attempts = _attempt_offsets(rng, rng.randint(1, 2), cadence)
        end = attempts[-1] + _days(rng, 0.05, 2)
        return _Plan(status, attempts, end=end, summary=rng.choice(PAUSE_REASONS))
    attempts = _attempt_offsets(rng, rng.choices((1, 2, 3), weights=(5, 3, 2))[0], cadence)
    reply_at = attempts[-1] + _minutes(rng, 20, 30 * 60)
    if status is CampaignStatus.BOOKING_COMPLETED:
        body, summary = rng.choice(BOOKING_REPLIES)
        converted = reply_at + _minutes(rng, 5, 240)
        return _Plan(
            status,
            attempts,
            reply=(reply_at, Intent.BOOKING_REQUEST, body, summary),
            converted=converted,
            answer=(converted + _minutes(rng, 1, 3), CONFIRMATION),
            end=converted + timedelta(minutes=3),
            summary=f"{summary} Booked an appointment.",
        )
    if status is CampaignStatus.DECLINED:
        body, summary = rng.choice(DECLINE_REPLIES)
        ack = reply_at + _minutes(rng, 1, 10)
        return _Plan(
            status,
            attempts,
            reply=(reply_at, Intent.SERVICE_DENIAL, body, summary),
            answer=(ack, DECLINE_ACK),
            end=ack,
            summary=summary,
        )
    if status is CampaignStatus.ENGAGED:
        intent, body, summary, answer = rng.choice(ENGAGED_REPLIES)
        at = reply_at + _minutes(rng, 1, 5)
        return _Plan(
            status, attempts, reply=(reply_at, intent, body, summary), answer=(at, answer), end=at, summary=summary
        )
    if status is CampaignStatus.HANDOFF:
        intent, body, summary, reason = rng.choice(HANDOFF_REPLIES)
        at = reply_at + _minutes(rng, 1, 3)
        return _Plan(
            status,
            attempts,
            reply=(reply_at, intent, body, summary),
            answer=(at, HOLDING_MESSAGE),
            handoff=(at, reason),
            end=at,
            summary=summary,
        )
    raise ValueError(f"no plan for {status}")


def _slack_days(status: CampaignStatus, span: timedelta, *, old: bool) -> tuple[float, float]:
    """How long ago (beyond its own span) a campaign of this status may have finished."""
    room = max(HISTORY_DAYS - span.total_seconds() / 86400, 1.0)
    if old:
        return min(200.0, room - 1), room
    if status is CampaignStatus.ENGAGED:
        return 0.05, 25.0
    if status is CampaignStatus.HANDOFF:
        return 0.02, 6.0
    if status is CampaignStatus.PAUSED:
        return 0.5, min(90.0, room)
    return 0.1, room


def _choose_status(
    rng: random.Random, campaign_type: CampaignType, *, forced: CampaignStatus | None, old: bool
) -> CampaignStatus:
    if forced is not None:
        return forced
    if old:
        return rng.choice(TERMINAL)
    pick = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    return ATTEMPTING_FOR[campaign_type] if pick == "attempting" else CampaignStatus(pick)


def _channel(rng: random.Random, patient: Patient) -> Channel:
    allowed = [
        channel
        for channel in Channel
        if getattr(patient.consent, channel.value).status is ConsentStatus.GRANTED
        and channel not in patient.opted_out_channels
    ]
    if not allowed:
        return Channel.EMAIL
    return rng.choices(allowed, weights=[CHANNEL_WEIGHTS[c] for c in allowed])[0]


@dataclass
class _Context:
    settings: Settings
    now: datetime
    cadence: list[int]

    def fill(self, template: str, patient: Patient) -> str:
        """Render a message template for a patient."""
        s = self.settings
        return template.format(
            first=patient.name.split()[0],
            clinic=s.CLINIC_NAME,
            phone=s.CLINIC_PHONE,
            open=s.CLINIC_OPEN.strftime("%H:%M"),
            close=s.CLINIC_CLOSE.strftime("%H:%M"),
        )


def _attempting(rng: random.Random, status: CampaignStatus, ctx: _Context) -> tuple[datetime, _Plan, datetime]:
    """An attempting campaign: its last attempt is recent enough that the next one is still ahead."""
    weights = [2] + [max(5 - n, 1) for n in range(len(ctx.cadence))]  # attempts made: 0, 1, 2, ...
    count = rng.choices(range(len(ctx.cadence) + 1), weights=weights)[0]
    if count == 0:
        created = ctx.now - _minutes(rng, 5, 240)
        return created, _Plan(status, []), ctx.now + _minutes(rng, 15, 600)
    attempts = _attempt_offsets(rng, count, ctx.cadence)
    gap = timedelta(days=ctx.cadence[count - 1])
    last = ctx.now - gap * rng.uniform(0.05, 0.9)
    created = last - attempts[-1]
    return created, _Plan(status, attempts, end=attempts[-1]), last + gap


def _interaction(campaign: Campaign, n: int, **fields: Any) -> Interaction:
    return Interaction(
        id=demo_id("interaction", f"{campaign.id}:{n}"),
        campaign_id=campaign.id,
        patient_id=campaign.patient_id,
        channel=campaign.channel,
        thread_id=f"demo-thread-{campaign.id}" if campaign.channel is Channel.EMAIL else None,
        **fields,
    )


def _conversation(campaign: Campaign, plan: _Plan, patient: Patient, ctx: _Context) -> list[Interaction]:
    """Outreach attempts, the patient's reply and our answer, in time order."""
    created = campaign.created_at
    templates = OUTREACH[(campaign.campaign_type, campaign.channel)]
    kind = campaign.campaign_type.value.lower()
    items: list[Interaction] = []
    for n, offset in enumerate(plan.attempts):
        items.append(
            _interaction(
                campaign,
                len(items),
                direction=Direction.OUTGOING,
                timestamp=created + offset,
                body=ctx.fill(templates[min(n, len(templates) - 1)], patient),
                summary=f"Attempt {n + 1}: {kind} {campaign.channel.value} outreach.",
            )
        )
    if plan.reply is not None:
        at, intent, body, summary = plan.reply
        items.append(
            _interaction(
                campaign,
                len(items),
                direction=Direction.INCOMING,
                timestamp=created + at,
                body=body,
                summary=summary,
                intent=intent,
            )
        )
    if plan.answer is not None:
        at, text = plan.answer
        items.append(
            _interaction(
                campaign,
                len(items),
                direction=Direction.OUTGOING,
                timestamp=created + at,
                body=ctx.fill(text, patient),
                summary="Reply to the patient.",
            )
        )
    return items


def _campaign(
    rng: random.Random, patient: Patient, key: str, ctx: _Context, *, forced: CampaignStatus | None, old: bool
) -> tuple[Campaign, list[Interaction]]:
    if forced in ATTEMPTING_FOR.values():
        campaign_type = next(t for t, s in ATTEMPTING_FOR.items() if s is forced)
    else:
        campaign_type = rng.choices((CampaignType.RECOVERY, CampaignType.RECALL), weights=(55, 45))[0]
    status = _choose_status(rng, campaign_type, forced=forced, old=old)
    next_at: datetime | None = None
    if status in ATTEMPTING_FOR.values():
        created, plan, next_at = _attempting(rng, status, ctx)
    else:
        plan = _plan(rng, status, ctx.cadence)
        created = ctx.now - plan.end - _days(rng, *_slack_days(status, plan.end, old=old))
    last_attempt = created + plan.attempts[-1] if plan.attempts else None
    campaign = Campaign(
        id=demo_id("campaign", key),
        patient_id=patient.id,
        campaign_type=campaign_type,
        status=status,
        channel=_channel(rng, patient),
        follow_up_details=FollowUpDetails(
            attempts_made=len(plan.attempts),
            max_attempts=len(ctx.cadence),
            next_follow_up_at=next_at,
            last_attempt_at=last_attempt,
            cadence_days=list(ctx.cadence),
        ),
        engagement_summary=plan.summary,
        handoff=Handoff(reason=plan.handoff[1], at=created + plan.handoff[0]) if plan.handoff else None,
        failure_reason=plan.failure_reason,
        converted_at=created + plan.converted if plan.converted is not None else None,
        created_at=created,
        updated_at=created + plan.end,
    )
    return campaign, _conversation(campaign, plan, patient, ctx)


def build_campaigns(patients: Sequence[Patient], ctx: _Context) -> tuple[list[Campaign], list[Interaction]]:
    """About 1.25 campaigns per patient in every status, with coherent follow-ups and conversations."""
    campaigns: list[Campaign] = []
    interactions: list[Interaction] = []
    for i, patient in enumerate(patients):
        rng = record_rng("campaigns", i)
        if rng.random() < 0.25:  # an older, finished campaign before the current one
            campaign, conversation = _campaign(rng, patient, f"{i}:old", ctx, forced=None, old=True)
            campaigns.append(campaign)
            interactions.extend(conversation)
        forced = FORCED_STATUSES[i] if i < len(FORCED_STATUSES) else None
        campaign, conversation = _campaign(rng, patient, f"{i}:current", ctx, forced=forced, old=False)
        campaigns.append(campaign)
        interactions.extend(conversation)
    return campaigns, interactions


# Appointments and slot claims


@dataclass
class _Calendar:
    """The clinic's schedule and the doctors' claimed 15-minute buckets while appointments are placed."""

    schedule: ClinicSchedule
    busy: set[tuple[str, datetime]]

    def place(
        self,
        rng: random.Random,
        *,
        doctor: str,
        duration: int,
        window: tuple[datetime, datetime],
        now: datetime,
        claims: bool,
    ) -> datetime | None:
        """A random start with the visit inside the window, not in progress now and (when it claims) free."""
        zone = self.schedule.zone
        earliest, latest = window
        first, last = earliest.astimezone(zone).date(), latest.astimezone(zone).date()
        for _ in range(60):
            day = first + timedelta(days=rng.randint(0, max((last - first).days, 0)))
            starts = day_starts(self.schedule, day, duration)
            if not starts:
                continue
            start = rng.choice(starts)
            end = start + timedelta(minutes=duration)
            if start < earliest or end > latest or start <= now < end:
                continue
            covered = {(doctor, b) for b in buckets(start, duration)}
            if claims and covered & self.busy:
                continue  # would overlap a non-cancelled visit of this doctor
            if claims:
                self.busy |= covered
            return start
        return None


def _second_doctor(settings: Settings) -> str:
    others = [d for d in getattr(settings, "CLINIC_DOCTORS", []) if d != settings.CONSULTING_DOCTOR]
    return others[0] if others else SECOND_DOCTOR


def _past_status(rng: random.Random) -> AppointmentStatus:
    past = (AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED)
    return rng.choices(past, weights=(78, 10, 12))[0]


@dataclass
class _Wanted:
    """An appointment to place: who, in which window, with which status, booked when."""

    key: str
    patient_id: str
    campaign_id: str | None
    window: tuple[datetime, datetime]
    status: AppointmentStatus | None  # None: decided by whether it lands in the past or the future
    booked_at: datetime | None = None  # None: some days before the visit


def appointment_keys(patients: Sequence[Patient], campaigns: Sequence[Campaign]) -> list[str]:
    """Ids of every appointment the seed may write (so stale ones from an earlier run can be removed)."""
    keys = [f"{p.id}:visit" for p in patients] + [f"{p.id}:next" for p in patients]
    return [demo_id("appointment", k) for k in keys + [f"{c.id}:booking" for c in campaigns]]


def _wanted(
    patients: Sequence[Patient], campaigns: Sequence[Campaign], *, settings: Settings, now: datetime
) -> list[_Wanted]:
    """Visits booked by converted campaigns, past visits (some forced per status) and upcoming ones."""
    wanted = [
        _Wanted(
            f"{c.id}:booking",
            c.patient_id,
            c.id,
            (c.converted_at + timedelta(days=1), c.converted_at + timedelta(days=14)),
            None,
            c.converted_at,
        )
        for c in campaigns
        if c.converted_at is not None
    ]
    past = (now - timedelta(days=HISTORY_DAYS), now)
    upcoming = (
        now + timedelta(minutes=settings.BOOKING_MIN_NOTICE_MINUTES),
        now + timedelta(days=min(settings.BOOKING_MAX_DAYS_AHEAD, 60)),
    )
    forced_past = (AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED)
    for i, patient in enumerate(patients):
        rng = record_rng("visits", i)
        if i < len(forced_past) or rng.random() < 0.6:
            status = forced_past[i] if i < len(forced_past) else _past_status(rng)
            wanted.append(_Wanted(f"{patient.id}:visit", patient.id, None, past, status))
        if i < 2 or rng.random() < 0.12:
            cancelled = i >= 2 and rng.random() < 0.1
            status = AppointmentStatus.CANCELLED if cancelled else AppointmentStatus.BOOKED
            wanted.append(_Wanted(f"{patient.id}:next", patient.id, None, upcoming, status, now - _days(rng, 0, 20)))
    return wanted


def _appointment(
    rng: random.Random, want: _Wanted, cal: _Calendar, *, settings: Settings, now: datetime
) -> tuple[Appointment, list[SlotClaim]] | None:
    """Place one wanted visit; with the claims of its 15-minute buckets unless it is cancelled."""
    service = rng.choice(settings.services)  # the clinic's configured visit types (CLINIC_SERVICES)
    duration = service.duration_minutes
    doctor = settings.CONSULTING_DOCTOR if rng.random() < 0.65 else _second_doctor(settings)
    start = cal.place(
        rng,
        doctor=doctor,
        duration=duration,
        window=want.window,
        now=now,
        claims=want.status is not AppointmentStatus.CANCELLED,
    )
    if start is None:
        return None
    end = start + timedelta(minutes=duration)
    status = want.status
    if status is None:  # a campaign's booking: still booked when ahead, else what happened at the visit
        status = AppointmentStatus.BOOKED if start > now else _past_status(rng)
        if status is AppointmentStatus.CANCELLED:
            cal.busy -= {(doctor, b) for b in buckets(start, duration)}
    created = want.booked_at or start - _days(rng, 1, 30)
    cancelled_at = None
    if status is AppointmentStatus.CANCELLED:
        cancelled_at = min(created + (start - created) * rng.uniform(0.3, 0.95), now)
    updated = cancelled_at or (min(end + _minutes(rng, 5, 60), now) if end <= now else created)
    appointment = Appointment(
        id=demo_id("appointment", want.key),
        patient_id=want.patient_id,
        campaign_id=want.campaign_id,
        doctor=doctor,
        service=service.name,
        start=start,
        duration_minutes=duration,
        status=status,
        cancelled_at=cancelled_at,
        created_at=created,
        updated_at=updated,
    )
    if status is AppointmentStatus.CANCELLED:
        return appointment, []
    claims = [
        SlotClaim(
            id=demo_id("slot", f"{appointment.id}:{k}"),
            doctor=doctor,
            bucket_start=bucket,
            appointment_id=appointment.id,
            created_at=created,
        )
        for k, bucket in enumerate(buckets(start, duration))
    ]
    return appointment, claims


def build_appointments(
    patients: Sequence[Patient],
    campaigns: Sequence[Campaign],
    *,
    settings: Settings,
    now: datetime,
    taken: set[tuple[str, datetime]],
) -> tuple[list[Appointment], list[SlotClaim]]:
    """Past and upcoming visits in every status; non-cancelled ones claim their buckets without overlap."""
    cal = _Calendar(ClinicSchedule.from_settings(settings), set(taken))
    appointments: list[Appointment] = []
    claims: list[SlotClaim] = []
    for want in _wanted(patients, campaigns, settings=settings, now=now):
        placed = _appointment(record_rng("appointment", want.key), want, cal, settings=settings, now=now)
        if placed is not None:  # no free slot in the window: skip rather than double-book
            appointments.append(placed[0])
            claims.extend(placed[1])
    return appointments, claims


# Knowledge base


def _opening_days(settings: Settings) -> str:
    names = dict(
        zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
    )
    days = [d for d in WEEKDAYS if d in settings.CLINIC_WORKING_DAYS]
    indexes = [WEEKDAYS.index(d) for d in days]
    if indexes and indexes == list(range(indexes[0], indexes[-1] + 1)) and len(days) > 2:
        return f"{names[days[0]]} to {names[days[-1]]}"
    return ", ".join(names[d] for d in days)


def build_kb_articles(settings: Settings, *, now: datetime) -> list[KbArticle]:
    """The clinic's approved answers to common questions, filled with its settings."""
    s = settings
    facts = {
        "clinic": s.CLINIC_NAME,
        "days": _opening_days(s),
        "hours": f"{s.CLINIC_OPEN.strftime('%H:%M')} to {s.CLINIC_CLOSE.strftime('%H:%M')}",
        "address": s.CLINIC_ADDRESS,
        "phone": s.CLINIC_PHONE,
        "cancel_hours": s.CANCEL_MIN_NOTICE_HOURS,
    }
    return [
        KbArticle(id=demo_id("kb", slug), title=title, answer=answer.format(**facts), tags=list(tags), updated_at=now)
        for slug, title, answer, tags in KB_ARTICLES
    ]


# Writing


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _write(batches: Iterable[tuple[str, Repository[Any], Sequence[Any]]], *, progress: bool) -> None:
    batches = list(batches)
    total = sum(len(items) for _, _, items in batches)
    with tqdm(total=total, desc="Seeding demo data", unit="doc", disable=not progress) as bar:
        for name, repo, items in batches:
            bar.set_postfix_str(name)
            for chunk in _chunks(items, WRITE_CHUNK):
                await repo.upsert_many(chunk)
                bar.update(len(chunk))


async def seed(container: Container, *, patients: int = 300, progress: bool = True) -> dict[str, int]:
    """Load or refresh the demo dataset (idempotent); returns the number of documents per collection."""
    settings, repos, now = container.settings, container.repos, container.clock.now()
    ctx = _Context(settings, now, settings.follow_up_cadence)
    people = build_patients(patients, now=now)
    campaigns, interactions = build_campaigns(people, ctx)
    # Placement depends on today's date: free the demo's own claims, then avoid everyone else's.
    candidates = appointment_keys(people, campaigns)
    await repos.slot_claims.release_for_appointments(candidates)
    taken = await repos.slot_claims.claimed_between(
        start=now - timedelta(days=HISTORY_DAYS + 1),
        end=now + timedelta(days=settings.BOOKING_MAX_DAYS_AHEAD + 1),
    )
    appointments, claims = build_appointments(people, campaigns, settings=settings, now=now, taken=taken)
    written = {a.id for a in appointments}
    await repos.appointments.delete_ids([c for c in candidates if c not in written])
    batches: list[tuple[str, Repository[Any], Sequence[Any]]] = [
        ("patients", repos.patients, people),
        ("campaigns", repos.campaigns, campaigns),
        ("interactions", repos.interactions, interactions),
        ("appointments", repos.appointments, appointments),
        ("slot_claims", repos.slot_claims, claims),
        ("kb_articles", repos.kb_articles, build_kb_articles(settings, now=now)),
    ]
    await _write(batches, progress=progress)
    return {name: len(items) for name, _, items in batches}


async def _run(settings: Settings, patients: int) -> dict[str, int]:
    async with open_container(settings) as container:
        return await seed(container, patients=patients, progress=True)


@app.command()
def main(
    patients: Annotated[int, typer.Option(min=1, max=10_000, help="Number of demo patients.")] = 300,
) -> None:
    """Seed the demo clinic dataset into the configured database (refuses production; creates no login)."""
    settings = Settings()
    if settings.is_production:
        typer.echo("Error: refusing to load demo data into a production database.", err=True)
        raise typer.Exit(code=2)
    counts = asyncio.run(_run(settings, patients))
    typer.echo("Demo data ready: " + ", ".join(f"{name}={count}" for name, count in counts.items()))
    typer.echo("No demo login is created here: add an account with python -m scripts.create_admin")


if __name__ == "__main__":
    app()
