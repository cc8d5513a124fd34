"""Booking use cases: availability, book, patient self-service, staff status changes, booking link by SMS.

Double booking is impossible on every write path because each appointment holds one `slot_claims` document
per 15-minute bucket under a unique (doctor, bucket_start) index. Claims are written before the appointment
and removed if the appointment cannot be written, so no half-written state survives; a claim left behind by
a crash between the two writes is recognised as orphaned (its appointment is missing or cancelled) and freed
the next time someone needs that time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from core.cache import TTLCache
from core.clock import Clock
from core.config import ClinicService, Settings
from core.errors import Conflict, NotFound, TooManyRequests, Unprocessable, UpstreamError
from core.net import ip_bucket
from core.phone import phone_field
from core.retry import Retry
from core.security import sha256_hex, sign_token, verify_token
from db.repositories import Repositories
from domain.audit import Actor, AuditTrail
from domain.calendar import ICS_CONTENT_TYPE, ICS_FILENAME, appointment_ics
from domain.campaign_links import verify_campaign_token
from domain.limits import over_limit
from domain.slots import (
    Busy,
    ClinicSchedule,
    buckets,
    local_midnight_utc,
    local_start,
    month_availability,
    month_bounds_utc,
)
from models.appointment import Appointment
from models.base import new_id
from models.campaign import Campaign
from models.enums import AppointmentStatus
from models.patient import Patient
from services.email.port import Attachment, EmailError, EmailPort, OutgoingEmail
from services.sms.port import SmsError, SmsPort, is_e164

log = logging.getLogger("medcampaign.booking")

MANAGE_PURPOSE = "manage-appointment"
MAX_DURATION = timedelta(minutes=45)
BUCKET = timedelta(minutes=15)  # one slot claim (domain.slots.buckets)
ORPHAN_CLAIM_AGE = timedelta(seconds=30)
CONFIRMATION_RETRY_DELAYS = (2.0, 4.0)  # three tries in all
STAFF_TRANSITIONS = {AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED}
# The staff list's pseudo status: every status but cancelled, what the dashboard counts as booked.
NOT_CANCELLED: Literal["not_cancelled"] = "not_cancelled"
StatusFilter = AppointmentStatus | Literal["not_cancelled"]
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def manage_url(settings: Settings, token: str) -> str:
    """The patient's manage page (web/); the JSON routes under /api/v1/appointments/manage/ stay for API clients."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/manage/{token}"


def booking_horizon(settings: Settings, now: datetime) -> tuple[date, date]:
    """The first and last bookable day: today in the clinic's timezone, and BOOKING_MAX_DAYS_AHEAD later."""
    today = now.astimezone(settings.zone).date()
    return today, today + timedelta(days=settings.BOOKING_MAX_DAYS_AHEAD)


def too_late_to_change(appointment: Appointment, *, settings: Settings, now: datetime) -> bool:
    """True inside the notice window: online changes only up to CANCEL_MIN_NOTICE_HOURS before the start."""
    return appointment.start - now < timedelta(hours=settings.CANCEL_MIN_NOTICE_HOURS)


class SlotUnavailable(Conflict):
    """409: the requested time is taken or is not an offered slot."""

    error = "slot_unavailable"


@dataclass(frozen=True)
class BookingRequest:
    """What a patient asks for."""

    name: str
    email: str
    phone: str | None
    day: date
    at: time
    duration_minutes: int | None  # None: the service's duration
    service: str
    doctor: str | None = None
    campaign_id: str | None = None
    campaign_token: str | None = None  # from a /book?c= link; when valid it wins over campaign_id


@dataclass(frozen=True)
class Booked:
    """A new appointment and the manage link handed to the patient (only here, never stored)."""

    appointment: Appointment
    manage_url: str
    manage_token: str
    converted_campaign_ids: list[str]


@dataclass(frozen=True)
class CampaignPrefill:
    """What a campaign booking link fills in on the booking form, and the campaign it attributes to."""

    name: str
    email: str | None
    campaign_id: str


@dataclass(frozen=True)
class StaffAppointment:
    """An appointment with its patient's name and email, for staff."""

    appointment: Appointment
    patient: Patient | None


@dataclass(frozen=True)
class DayAvailability:
    """Free local start times of one day."""

    day: date
    slots: list[time]


@dataclass(frozen=True)
class Availability:
    """Free slots of a doctor for a month (or one day)."""

    timezone: str
    doctor: str
    duration_minutes: int
    days: list[DayAvailability]


class BookingService:
    """Availability, booking and rescheduling with claim-guarded writes."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        repos: Repositories,
        email: EmailPort,
        sms: SmsPort | None,
        background: set[asyncio.Task[None]] | None = None,
        availability_cache: TTLCache[Availability] | None = None,
        on_change: Callable[[], None] | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.email = email
        self.sms = sms
        self.schedule = ClinicSchedule.from_settings(settings)
        self.audit = AuditTrail(repo=repos.audit, clock=clock)
        self._on_change = on_change
        self._background = background if background is not None else set()
        self._cache: TTLCache[Availability] = availability_cache if availability_cache is not None else TTLCache(0)

    # ---- availability -------------------------------------------------------------------------------------

    def _doctor(self, doctor: str | None) -> str:
        chosen = doctor or self.settings.CONSULTING_DOCTOR
        if chosen not in self.settings.doctors:
            raise Unprocessable(
                f"Unknown doctor; choose one of: {', '.join(self.settings.doctors)}", error="unknown_doctor"
            )
        return chosen

    def services(self) -> list[ClinicService]:
        """The visit types patients can book (CLINIC_SERVICES), each with its duration."""
        return self.settings.services

    def _service(self, name: str, duration_minutes: int | None) -> ClinicService:
        """The configured service of that name (any case); 422 naming the field when unknown or of another length."""
        wanted = name.strip().casefold()
        service = next((s for s in self.settings.services if s.name.casefold() == wanted), None)
        if service is None:
            raise Unprocessable(
                f"service must be one of: {', '.join(s.name for s in self.settings.services)}",
                error="unknown_service",
                field="service",
            )
        if duration_minutes is not None and duration_minutes != service.duration_minutes:
            raise Unprocessable(
                f"duration_minutes must be {service.duration_minutes} for {service.name} (or be left out)",
                error="duration_mismatch",
                field="duration_minutes",
            )
        return service

    def _check_window(self, year: int, month: int, day: date | None) -> None:
        today, last = booking_horizon(self.settings, self.clock.now())
        if (year, month) < (today.year, today.month) or (year, month) > (last.year, last.month):
            raise Unprocessable(
                f"month must be between {today:%Y-%m} and {last:%Y-%m} (the bookable range)", error="out_of_range"
            )
        if day is not None and (day.year, day.month) != (year, month):
            raise Unprocessable("date must lie in the given month and year", error="date_not_in_month")
        if day is not None and day < today:
            raise Unprocessable("date is in the past", error="past_date")

    async def _busy(
        self, doctor: str, start: datetime, end: datetime, *, exclude: str | None = None, held: bool = False
    ) -> list[Busy]:
        rows = await self.repos.appointments.busy_between(doctor=doctor, start=start - MAX_DURATION, end=end)
        busy = [Busy(s, s + timedelta(minutes=d)) for appointment_id, s, d in rows if appointment_id != exclude]
        if held:
            # A booking in flight has claimed its buckets before its appointment is stored: those times are taken.
            claimed = await self.repos.slot_claims.claimed_between(start=start, end=end)
            busy += [Busy(b, b + BUCKET) for d, b in claimed if d == doctor]
        return busy

    def _changed(self) -> None:
        """Appointments changed: forget cached availability and tell listeners (the dashboard snapshot)."""
        self._cache.invalidate()
        if self._on_change is not None:
            self._on_change()

    async def availability(
        self,
        *,
        year: int,
        month: int,
        day: date | None,
        duration_minutes: int,
        doctor: str | None,
        fresh: bool = False,
    ) -> Availability:
        """Free slots for a month (or one day of it): one database query.

        `fresh` (after a slot was just lost) reads past the cache, which forgets only this instance's own writes,
        and counts the claims of bookings still in flight as taken: the times as they are right now.
        """
        chosen = self._doctor(doctor)
        self._check_window(year, month, day)

        async def compute() -> Availability:
            start, end = month_bounds_utc(self.schedule, year, month)
            days = month_availability(
                self.schedule,
                year=year,
                month=month,
                duration_minutes=duration_minutes,
                busy=await self._busy(chosen, start, end, held=fresh),
                now=self.clock.now(),
                only_day=day,
            )
            return Availability(
                timezone=self.settings.TZ,
                doctor=chosen,
                duration_minutes=duration_minutes,
                days=[DayAvailability(day=d, slots=s) for d, s in days],
            )

        if fresh:
            return await compute()
        # Served from a short-lived cache: a slot shown free may be gone by booking time, and booking re-checks.
        return await self._cache.get((chosen, year, month, duration_minutes, day), compute)

    async def next_open_slots(self, count: int = 3) -> list[str]:
        """The next few bookable times, as a patient reads them ("Tuesday 1 December at 09:00")."""
        today = self.clock.now().astimezone(self.settings.zone).date()
        found: list[str] = []
        month = today.replace(day=1)
        for _ in range(2):
            result = await self.availability(
                year=month.year, month=month.month, day=None, duration_minutes=30, doctor=None
            )
            for day in result.days:
                for slot in day.slots:
                    found.append(f"{day.day:%A} {day.day.day} {day.day:%B} at {slot:%H:%M}")
                    if len(found) == count:
                        return found
            month = (month + timedelta(days=32)).replace(day=1)
        return found

    async def _offered_start(
        self, *, doctor: str, day: date, at: time, duration_minutes: int, exclude: str | None = None
    ) -> datetime:
        """The UTC start of a requested slot, or 409 when it is not offered right now."""
        self._check_window(day.year, day.month, day)
        start = local_start(self.schedule, day, at)
        if start is None:
            raise SlotUnavailable("That time does not exist on that day (clock change)")
        busy = await self._busy(doctor, start - timedelta(days=1), start + timedelta(days=1), exclude=exclude)
        offered = month_availability(
            self.schedule,
            year=day.year,
            month=day.month,
            duration_minutes=duration_minutes,
            busy=busy,
            now=self.clock.now(),
            only_day=day,
        )[0][1]
        if at.replace(second=0, microsecond=0) not in offered or at.second or at.microsecond:
            raise SlotUnavailable("That time is not available; please choose another slot")
        return start

    # ---- claims ---------------------------------------------------------------------------------------------

    async def _claim(self, *, doctor: str, bucket_starts: list[datetime], appointment_id: str) -> None:
        """Hold every bucket for the appointment or raise 409, freeing orphaned claims once on the way."""
        claims = self.repos.slot_claims
        now = self.clock.now()
        if await claims.claim(doctor=doctor, bucket_starts=bucket_starts, appointment_id=appointment_id, now=now):
            return
        if await self._free_orphans(doctor, bucket_starts) and await claims.claim(
            doctor=doctor, bucket_starts=bucket_starts, appointment_id=appointment_id, now=now
        ):
            return
        raise SlotUnavailable("That time was just taken; please choose another slot")

    async def _free_orphans(self, doctor: str, bucket_starts: list[datetime]) -> bool:
        freed = False
        now = self.clock.now()
        for claim in await self.repos.slot_claims.holders(doctor=doctor, bucket_starts=bucket_starts):
            if claim.created_at and now - claim.created_at < ORPHAN_CLAIM_AGE:
                continue  # may belong to a booking still in flight
            owner = await self.repos.appointments.get(claim.appointment_id)
            if owner is None or owner.status == AppointmentStatus.CANCELLED:
                freed |= await self.repos.slot_claims.release_orphan(claim)
        return freed

    # ---- booking --------------------------------------------------------------------------------------------

    async def _over_limit(self, key: str, *, limit: int, per: timedelta) -> bool:
        return await over_limit(self.repos.rate_limits, key, limit=limit, per=per, now=self.clock.now())

    async def _rate_limit(self, kind: str, value: str | None, limit: int) -> None:
        if value and await self._over_limit(f"book:{kind}:{sha256_hex(value)}", limit=limit, per=HOUR):
            raise TooManyRequests(
                "Too many booking attempts; please try again later or call the clinic", error="rate_limited"
            )

    def _manage_url(self, token: str) -> str:
        return manage_url(self.settings, token)

    async def _token_campaign(self, token: str | None) -> tuple[Campaign, Patient] | None:
        """The campaign a valid campaign token names and its patient; None when bad, expired or either is gone."""
        campaign_id = verify_campaign_token(self.settings, token, now=self.clock.now()) if token else None
        campaign = await self.repos.campaigns.get(campaign_id) if campaign_id else None
        patient = await self.repos.patients.get(campaign.patient_id) if campaign else None
        return (campaign, patient) if campaign and patient else None

    async def campaign_prefill(self, token: str) -> CampaignPrefill | None:
        """The name and email a /book?c= link pre-fills; None when the token is bad or expired or names no one."""
        found = await self._token_campaign(token)
        if found is None:
            return None
        campaign, patient = found
        return CampaignPrefill(name=patient.name, email=patient.email, campaign_id=campaign.id)

    async def book(self, request: BookingRequest, *, ip: str | None) -> Booked:
        """Book a free slot for the patient (created by email if new) and convert their campaign.

        With a valid campaign token the appointment belongs to that campaign's patient, whatever name and email
        were typed, and exactly that campaign converts (when it still can). The token proves its holder received
        the campaign's message, not that they are the patient: a forwarded link must not create or rename a
        patient, touch another patient's record or send the booking to a stranger, so the confirmation goes to
        the email on file and the typed email is used only when the patient has none. Without a token (or with
        a bad or expired one) the API's rules apply: the patient by email, and campaign_id or their active
        campaigns.
        """
        doctor = self._doctor(request.doctor)
        service = self._service(request.service, request.duration_minutes)
        duration = service.duration_minutes
        phone = phone_field(request.phone, region=self.settings.PHONE_DEFAULT_REGION)
        self._check_window(request.day.year, request.day.month, request.day)
        # Counted only once the request is well-formed: junk (422) uses up neither the address's nor the email's quota.
        await self._rate_limit("ip", ip_bucket(ip) if ip else None, self.settings.BOOKING_RATE_LIMIT_PER_IP)
        await self._rate_limit("email", request.email.lower(), self.settings.BOOKING_RATE_LIMIT_PER_EMAIL)
        start = await self._offered_start(doctor=doctor, day=request.day, at=request.at, duration_minutes=duration)
        now = self.clock.now()
        attributed = await self._token_campaign(request.campaign_token)
        if attributed is not None:
            campaign, patient = attributed
            campaign_id: str | None = campaign.id
            confirm_to: str | None = patient.email or request.email.lower()
        else:
            patient, _ = await self.repos.patients.find_or_create(
                name=request.name, email=request.email, phone=phone, now=now
            )
            campaign_id = await self._own_campaign(request.campaign_id, patient.id)
            confirm_to = patient.email
        appointment_id = new_id()
        bucket_starts = buckets(start, duration)
        await self._claim(doctor=doctor, bucket_starts=bucket_starts, appointment_id=appointment_id)
        token = sign_token(
            purpose=MANAGE_PURPOSE,
            subject=appointment_id,
            key=self.settings.key("manage"),
            expires=now + timedelta(days=self.settings.MANAGE_TOKEN_TTL_DAYS),
        )
        appointment = Appointment(
            id=appointment_id,
            patient_id=patient.id,
            campaign_id=campaign_id,
            doctor=doctor,
            service=service.name,
            start=start,
            duration_minutes=duration,
            manage_token_hash=sha256_hex(token),
            created_at=now,
            updated_at=now,
        )
        try:
            await self.repos.appointments.insert(appointment)
        except BaseException:
            await self.repos.slot_claims.release(appointment_id)
            raise
        self._changed()
        converted = await self.repos.campaigns.mark_converted(
            patient_id=patient.id, campaign_id=campaign_id, appointment_id=appointment_id, now=now
        )
        if converted and appointment.campaign_id is None:
            appointment = appointment.model_copy(update={"campaign_id": converted[0]})
            await self.repos.appointments.set_campaign(appointment_id, converted[0])
        log.info(
            "appointment booked",
            extra={
                "appointment_id": appointment_id,
                "converted": len(converted),
                "campaign_id": appointment.campaign_id,
            },
        )
        self._confirm_later(patient, appointment, self._manage_url(token), "booked", to=confirm_to)
        return Booked(
            appointment=appointment,
            manage_url=self._manage_url(token),
            manage_token=token,
            converted_campaign_ids=converted,
        )

    async def _own_campaign(self, campaign_id: str | None, patient_id: str) -> str | None:
        """The given campaign when it is the patient's; someone else's campaign is never touched."""
        if not campaign_id:
            return None
        campaign = await self.repos.campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound("Unknown campaign_id", error="campaign_not_found")
        return campaign_id if campaign.patient_id == patient_id else None

    # ---- patient self-service -------------------------------------------------------------------------------

    async def by_token(self, token: str) -> Appointment:
        """The appointment a manage token opens, or 404 (bad, expired or unknown token all look alike)."""
        subject = verify_token(token, purpose=MANAGE_PURPOSE, key=self.settings.key("manage"), now=self.clock.now())
        appointment = await self.repos.appointments.get_by_manage_hash(sha256_hex(token)) if subject else None
        if appointment is None or appointment.id != subject:
            raise NotFound("This link is invalid or has expired", error="invalid_manage_link")
        return appointment

    def _check_changeable(self, appointment: Appointment) -> None:
        if appointment.status != AppointmentStatus.BOOKED:
            raise Conflict(f"This appointment is already {appointment.status.value}", error="not_changeable")
        if too_late_to_change(appointment, settings=self.settings, now=self.clock.now()):
            raise Conflict(
                f"Appointments can only be changed online up to {self.settings.CANCEL_MIN_NOTICE_HOURS} hours"
                f" before; please call {self.settings.CLINIC_PHONE}",
                error="too_late_to_change",
            )

    async def cancel_by_token(self, token: str) -> Appointment:
        """Patient cancels (respecting the minimum notice); the slot is freed at once."""
        appointment = await self.by_token(token)
        self._check_changeable(appointment)
        return await self._cancel(appointment)

    async def _cancel(self, appointment: Appointment) -> Appointment:
        cancelled = await self.repos.appointments.set_status(
            appointment.id,
            expected=AppointmentStatus.BOOKED,
            status=AppointmentStatus.CANCELLED,
            now=self.clock.now(),
        )
        if cancelled is None:
            raise Conflict("This appointment was changed meanwhile; reload it", error="not_changeable")
        await self.repos.slot_claims.release(appointment.id)
        restored = await self.repos.campaigns.restore_conversion(
            appointment.id, patient_id=appointment.patient_id, now=self.clock.now()
        )
        if restored:
            log.info("campaign conversion undone", extra={"appointment_id": appointment.id, "restored": len(restored)})
        self._changed()
        return cancelled

    async def reschedule_by_token(self, token: str, *, day: date, at: time) -> Appointment:
        """Move to a new free slot: the new time is held before the old one is let go."""
        appointment = await self.by_token(token)
        self._check_changeable(appointment)
        new_start = await self._offered_start(
            doctor=appointment.doctor,
            day=day,
            at=at,
            duration_minutes=appointment.duration_minutes,
            exclude=appointment.id,
        )
        if new_start == appointment.start:
            return appointment
        if await self._over_limit(
            f"reschedule:{appointment.id}", limit=self.settings.RESCHEDULE_LIMIT_PER_DAY, per=DAY
        ):
            raise TooManyRequests(
                f"This appointment was moved too often today; please call {self.settings.CLINIC_PHONE}",
                error="reschedule_limit",
            )
        old = set(buckets(appointment.start, appointment.duration_minutes))
        new = buckets(new_start, appointment.duration_minutes)
        extra = [b for b in new if b not in old]
        await self._claim(doctor=appointment.doctor, bucket_starts=extra, appointment_id=appointment.id)
        moved = await self.repos.appointments.move(
            appointment.id, old_start=appointment.start, new_start=new_start, now=self.clock.now()
        )
        if moved is None:
            await self.repos.slot_claims.release(appointment.id, bucket_starts=extra)
            raise Conflict("This appointment was changed meanwhile; reload it", error="not_changeable")
        await self.repos.slot_claims.release(appointment.id, bucket_starts=[b for b in old if b not in set(new)])
        self._changed()
        patient = await self.repos.patients.get(appointment.patient_id)
        if patient:
            self._confirm_later(patient, moved, self._manage_url(token), "moved")
        return moved

    # ---- staff ----------------------------------------------------------------------------------------------

    async def list_for_staff(
        self,
        actor: Actor,
        *,
        start_from: date | None,
        start_to: date | None,
        status: StatusFilter | None,
        q: str | None,
        page: int,
        page_size: int,
        doctor: str | None = None,
    ) -> tuple[list[StaffAppointment], int]:
        """Appointments by local date range, status (or not cancelled), doctor and patient search, by start; audited."""
        zone = self.settings.zone
        low = local_midnight_utc(zone, start_from) if start_from else None
        high = local_midnight_utc(zone, start_to + timedelta(days=1)) if start_to else None
        patient_ids = await self.repos.patients.search_ids(q) if q else None
        items, total = await self.repos.appointments.page(
            start_from=low,
            start_to=high,
            status=status if isinstance(status, AppointmentStatus) else None,
            not_status=AppointmentStatus.CANCELLED if status == NOT_CANCELLED else None,
            doctor=doctor,
            patient_ids=patient_ids,
            skip=(page - 1) * page_size,
            limit=page_size,
        )
        patients = await self.repos.patients.get_many([a.patient_id for a in items])
        await self.audit.record(actor, "appointments.list", "appointments")
        return [StaffAppointment(a, patients.get(a.patient_id)) for a in items], total

    async def book_for_staff(self, actor: Actor, request: BookingRequest) -> Booked:
        """Staff book for a patient on the phone: the patient's booking with its guards, audited.

        No per-address limit (the desk books for many callers from one address); the per-email limit stays.
        """
        booked = await self.book(request, ip=None)
        appointment = booked.appointment
        await self.audit.record(
            actor, "appointments.book", f"appointments/{appointment.id}", patient_id=appointment.patient_id
        )
        return booked

    async def set_status(self, actor: Actor, appointment_id: str, status: AppointmentStatus) -> Appointment:
        """Staff marks an appointment completed, no-show or cancelled (cancel frees the slot); audited."""
        appointment = await self.repos.appointments.get(appointment_id)
        if appointment is None:
            raise NotFound("Appointment not found")
        await self.audit.record(
            actor,
            f"appointments.set_status.{status.value}",
            f"appointments/{appointment_id}",
            patient_id=appointment.patient_id,
        )
        if status not in STAFF_TRANSITIONS:
            raise Unprocessable("status must be completed, no_show or cancelled", error="invalid_status")
        if appointment.status == status:
            return appointment
        if appointment.status != AppointmentStatus.BOOKED:
            raise Conflict(f"Appointment is already {appointment.status.value}", error="invalid_transition")
        if status == AppointmentStatus.CANCELLED:
            return await self._cancel(appointment)
        changed = await self.repos.appointments.set_status(
            appointment_id, expected=AppointmentStatus.BOOKED, status=status, now=self.clock.now()
        )
        if changed is None:
            raise Conflict("Appointment was changed meanwhile; reload it", error="invalid_transition")
        self._changed()
        return changed

    async def send_booking_link(self, actor: Actor, *, number: str, name: str) -> str:
        """Staff texts the booking link to a phone number; audited; returns the provider message id."""
        if not is_e164(number):
            raise Unprocessable("number must be in E.164 format, e.g. +15551234567", error="invalid_phone")
        known = await self.repos.patients.ids_by_phone(number)
        await self.audit.record(actor, "sms.booking_link", "sms", patient_id=known[0] if known else None)
        if self.sms is None:
            raise Conflict("SMS is not configured (TWILIO_* settings)", error="sms_not_configured")
        first = name.strip().split(" ")[0] if name.strip() else "there"
        body = (
            f"Hi {first}, this is {self.settings.CLINIC_NAME}. Book your visit here: {self.settings.booking_url}"
            f" or call {self.settings.CLINIC_PHONE}. Reply STOP to opt out."
        )
        try:
            return await self.sms.send_sms(to=number, body=body)
        except SmsError as exc:
            log.warning("booking link sms failed", extra={"code": exc.code, "retryable": exc.retryable})
            raise UpstreamError("The SMS provider refused or failed to send the message", error="sms_failed") from exc

    # ---- confirmations --------------------------------------------------------------------------------------

    def _confirm_later(
        self, patient: Patient, appointment: Appointment, manage_url: str | None, what: str, *, to: str | None = None
    ) -> None:
        """Send the confirmation (to `to`, else the patient's email) after the response; an email outage never
        undoes a booking."""
        recipient = to or patient.email
        if not recipient:
            return
        task = asyncio.create_task(self._send_confirmation(patient, appointment, manage_url, what, to=recipient))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def confirmation_email(
        self, patient: Patient, appointment: Appointment, manage_url: str | None, what: str, *, to: str | None = None
    ) -> OutgoingEmail:
        """The confirmation message, with the time in the clinic's local timezone and the visit as an .ics file."""
        local = appointment.start.astimezone(self.settings.zone)
        when = f"{local:%A %d %B %Y at %H:%M} ({self.settings.TZ})"
        lines = [
            f"Dear {patient.name},",
            "",
            f"Your appointment at {self.settings.CLINIC_NAME} is {what}:",
            f"  {appointment.service} with {appointment.doctor}",
            f"  {when}, {appointment.duration_minutes} minutes",
            f"  {self.settings.CLINIC_ADDRESS}",
            "",
        ]
        if manage_url:
            lines += ["To cancel or move it, use this private link (keep it to yourself):", manage_url, ""]
        lines += [
            f"The attached {ICS_FILENAME} adds it to your calendar.",
            "",
            f"Questions? Call us at {self.settings.CLINIC_PHONE}.",
            "",
            self.settings.CLINIC_NAME,
        ]
        calendar = Attachment(ICS_FILENAME, ICS_CONTENT_TYPE, appointment_ics(appointment, self.settings))
        return OutgoingEmail(
            to=to or patient.email or "",
            subject=f"Your appointment at {self.settings.CLINIC_NAME}",
            text="\n".join(lines),
            attachments=(calendar,),
        )

    async def _send_confirmation(
        self, patient: Patient, appointment: Appointment, manage_url: str | None, what: str, *, to: str | None = None
    ) -> None:
        message = self.confirmation_email(patient, appointment, manage_url, what, to=to)
        limit = self.settings.CONFIRMATION_EMAILS_PER_RECIPIENT_PER_DAY
        if await self._over_limit(f"confirm:{sha256_hex(message.to.lower())}", limit=limit, per=DAY):
            # The booking stands; the recipient just gets no more mail from us today (no flooding through us).
            log.warning("confirmation email skipped: recipient's daily limit", extra={"appointment_id": appointment.id})
            return
        retry = Retry(delays=CONFIRMATION_RETRY_DELAYS, retry_on=(EmailError,))
        try:
            await retry.run(lambda: self.email.send(message))
        except EmailError:
            log.error("confirmation email not sent", extra={"appointment_id": appointment.id, "attempts": retry.tries})
