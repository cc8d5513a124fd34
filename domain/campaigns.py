"""Campaign policy (pure): channel choice and consent, quiet hours, follow-up cadence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.campaign import Campaign
from models.enums import CampaignStatus, CampaignType, Channel, ConsentStatus, Direction
from models.interaction import Interaction
from models.patient import Patient

CHANNEL_ORDER = (Channel.EMAIL, Channel.SMS, Channel.CALL)


def attempting_status(campaign_type: CampaignType) -> CampaignStatus:
    """The contacting status of a campaign type."""
    return (
        CampaignStatus.ATTEMPTING_RECOVERY
        if campaign_type == CampaignType.RECOVERY
        else (CampaignStatus.ATTEMPTING_RECALL)
    )


def channel_allowed(patient: Patient, channel: Channel) -> bool:
    """Whether the patient can be reached on a channel right now.

    Email needs an address and no opt-out or revoked consent (an existing care relationship); texts and calls
    also need consent that was explicitly granted, as telephone-consumer rules require.
    """
    if channel in patient.opted_out_channels:
        return False
    consent = getattr(patient.consent, channel.value).status
    if consent == ConsentStatus.REVOKED:
        return False
    if channel == Channel.EMAIL:
        return bool(patient.email)
    return bool(patient.phone) and consent == ConsentStatus.GRANTED


@dataclass(frozen=True)
class NewPatient:
    """Contact details of a patient to find (by email, else phone) or create."""

    name: str
    email: str | None = None
    phone: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class ChannelChoice:
    """The channel to use, or why there is none."""

    channel: Channel | None
    reason: str = ""
    all_opted_out: bool = False


def choose_channel(campaign: Campaign, patient: Patient) -> ChannelChoice:
    """The campaign's preferred channel when usable, else the next usable one in email, SMS, call order."""
    order = [campaign.channel, *[c for c in CHANNEL_ORDER if c != campaign.channel]]
    for channel in order:
        if channel_allowed(patient, channel):
            return ChannelChoice(channel)
    reachable = [c for c in CHANNEL_ORDER if _has_contact(patient, c)]
    if reachable and all(_opted_out(patient, c) for c in reachable):
        return ChannelChoice(None, "patient opted out of every channel", all_opted_out=True)
    return ChannelChoice(None, "no reachable channel with consent")


def _has_contact(patient: Patient, channel: Channel) -> bool:
    return bool(patient.email) if channel == Channel.EMAIL else bool(patient.phone)


def _opted_out(patient: Patient, channel: Channel) -> bool:
    consent = getattr(patient.consent, channel.value).status
    return channel in patient.opted_out_channels or consent == ConsentStatus.REVOKED


@dataclass(frozen=True)
class SendWindow:
    """When messages may go out: a daily window in the patient's timezone, never on clinic holidays."""

    start: time
    end: time
    clinic_zone: ZoneInfo
    holidays: frozenset[date] = frozenset()

    def zone_for(self, patient: Patient | None) -> ZoneInfo:
        """The patient's timezone when known and valid, else the clinic's."""
        if patient and patient.timezone:
            try:
                return ZoneInfo(patient.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                return self.clinic_zone
        return self.clinic_zone

    def next_opening(self, now: datetime, patient: Patient | None) -> datetime:
        """`now` when inside the window, else the next time the window opens (aware UTC).

        A window whose start equals its end is always open (holidays still apply).
        """
        zone = self.zone_for(patient)
        local = now.astimezone(zone)
        day = local.date()
        for offset in range(0, 370):
            candidate_day = day + timedelta(days=offset)
            if candidate_day in self.holidays:
                continue
            opens = _wall_to_utc(zone, candidate_day, self.start)
            closes = (
                _wall_to_utc(zone, candidate_day + timedelta(days=1), self.start)
                if self.start == self.end
                else _wall_to_utc(zone, candidate_day, self.end)
            )
            if opens <= now < closes:
                return now
            if opens > now:
                return opens
        raise ValueError("no send window within a year (check holidays)")

    def is_open(self, now: datetime, patient: Patient | None) -> bool:
        """True when a message may go out now."""
        return self.next_opening(now, patient) == now


def _wall_to_utc(zone: ZoneInfo, day: date, at: time) -> datetime:
    """A local wall time as aware UTC; a time inside a spring-forward gap moves to the first valid instant."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    utc = aware.astimezone(ZoneInfo("UTC"))
    if utc.astimezone(zone).replace(tzinfo=None) != naive:
        # Nonexistent local time: the clocks jumped over it; use the instant they jumped to.
        utc = (naive + timedelta(hours=1)).replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))
    return utc


def next_follow_up_at(*, attempts_made: int, cadence_days: list[int], sent_at: datetime) -> datetime:
    """When to touch again after attempt number `attempts_made` (the last cadence step repeats)."""
    step = cadence_days[min(attempts_made, len(cadence_days)) - 1] if attempts_made else cadence_days[0]
    return sent_at + timedelta(days=step)


def becoming_engaged(now: datetime, *, nudge_days: int) -> dict[str, Any]:
    """The fields of a campaign entering ENGAGED: its engaged clock starts, its one nudge is due `nudge_days` on."""
    return {
        "status": CampaignStatus.ENGAGED.value,
        "engaged_at": now,
        "follow_up_details.nudged_at": None,
        "follow_up_details.next_follow_up_at": now + timedelta(days=nudge_days),
    }


def engaged_since(campaign: Campaign, history: list[Interaction]) -> datetime:
    """When the campaign became ENGAGED; for one engaged before that was recorded, the patient's last message
    (what engaged it), else its last update."""
    if campaign.engaged_at is not None:
        return campaign.engaged_at
    incoming = [i.timestamp for i in history if i.direction == Direction.INCOMING]
    return max(incoming, default=campaign.updated_at)
