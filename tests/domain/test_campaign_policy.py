"""Channel choice with consent and opt-outs, the send window across timezones and DST, opt-out words."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from domain.campaigns import SendWindow, choose_channel, next_follow_up_at
from domain.consent import is_opt_out
from models.base import new_id
from models.campaign import Campaign
from models.enums import CampaignStatus, CampaignType, Channel, ConsentStatus
from models.patient import ChannelConsent, Consent, Patient

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
GRANTED = ChannelConsent(status=ConsentStatus.GRANTED, source="form", at=NOW)
REVOKED = ChannelConsent(status=ConsentStatus.REVOKED, source="sms_stop", at=NOW)


def patient(**changes: object) -> Patient:
    base = Patient(
        id=new_id(),
        name="Ann",
        email="ann@example.com",
        phone="+15550001111",
        consent=Consent(sms=GRANTED, call=GRANTED),
        created_at=NOW,
        updated_at=NOW,
    )
    return base.model_copy(update=changes)


def campaign(channel: Channel) -> Campaign:
    return Campaign(
        id=new_id(),
        patient_id=new_id(),
        campaign_type=CampaignType.RECALL,
        status=CampaignStatus.ATTEMPTING_RECALL,
        channel=channel,
        created_at=NOW,
        updated_at=NOW,
    )


def test_preferred_channel_when_usable() -> None:
    assert choose_channel(campaign(Channel.SMS), patient()).channel == Channel.SMS
    assert choose_channel(campaign(Channel.CALL), patient()).channel == Channel.CALL


def test_falls_back_when_preferred_lacks_contact_or_consent() -> None:
    no_consent = patient(consent=Consent())
    assert choose_channel(campaign(Channel.SMS), no_consent).channel == Channel.EMAIL
    no_email = patient(email=None)
    assert choose_channel(campaign(Channel.EMAIL), no_email).channel == Channel.SMS
    opted = patient(opted_out_channels=[Channel.EMAIL, Channel.SMS])
    assert choose_channel(campaign(Channel.EMAIL), opted).channel == Channel.CALL


def test_no_channel_fails_or_declines() -> None:
    unreachable = patient(email=None, consent=Consent())
    choice = choose_channel(campaign(Channel.EMAIL), unreachable)
    assert choice.channel is None and not choice.all_opted_out and "consent" in choice.reason
    everything_out = patient(opted_out_channels=[Channel.EMAIL], consent=Consent(sms=REVOKED, call=REVOKED))
    choice = choose_channel(campaign(Channel.SMS), everything_out)
    assert choice.channel is None and choice.all_opted_out


WINDOW = SendWindow(
    start=time(8), end=time(20), clinic_zone=ZoneInfo("Europe/Berlin"), holidays=frozenset({date(2026, 12, 25)})
)


def test_inside_the_window_sends_now() -> None:
    at = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # 11:00 Berlin
    assert WINDOW.next_opening(at, None) == at


def test_late_evening_in_patient_zone_on_dst_day_defers_to_8_local_next_day() -> None:
    new_york = patient(timezone="America/New_York")
    # 2026-11-01 is the fall-back day in New York: 21:30 EST = 02:30 UTC on 11-02.
    due = datetime(2026, 11, 1, 21, 30, tzinfo=ZoneInfo("America/New_York"))
    opening = WINDOW.next_opening(due.astimezone(UTC), new_york)
    assert opening.astimezone(ZoneInfo("America/New_York")) == datetime(
        2026, 11, 2, 8, 0, tzinfo=ZoneInfo("America/New_York")
    )
    assert opening == datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    # The same instant is 03:30 in Berlin: the clinic's window would have said 08:00 Berlin instead.
    assert WINDOW.next_opening(due.astimezone(UTC), None) == datetime(2026, 11, 2, 7, 0, tzinfo=UTC)


def test_spring_forward_day_and_early_morning() -> None:
    early = datetime(2026, 3, 8, 5, 0, tzinfo=ZoneInfo("America/New_York"))  # DST starts at 02:00 that day
    opening = WINDOW.next_opening(early.astimezone(UTC), patient(timezone="America/New_York"))
    assert opening == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_holidays_are_skipped_and_bad_timezones_fall_back_to_the_clinic() -> None:
    christmas_eve_late = datetime(2026, 12, 24, 21, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert WINDOW.next_opening(christmas_eve_late.astimezone(UTC), patient(timezone="Not/AZone")) == datetime(
        2026, 12, 26, 7, 0, tzinfo=UTC
    )


def test_equal_start_and_end_means_always_open() -> None:
    always = SendWindow(start=time(0), end=time(0), clinic_zone=ZoneInfo("UTC"))
    at = datetime(2026, 11, 2, 23, 59, tzinfo=UTC)
    assert always.next_opening(at, None) == at


def test_cadence() -> None:
    assert next_follow_up_at(attempts_made=1, cadence_days=[2, 5, 10], sent_at=NOW).day == 4
    assert next_follow_up_at(attempts_made=3, cadence_days=[2, 5, 10], sent_at=NOW).day == 12
    assert next_follow_up_at(attempts_made=5, cadence_days=[2, 5, 10], sent_at=NOW).day == 12


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Revoke",
        "opt out",
        "OPT-OUT",
        "please stop texting me",
        "Stop all",
        "unsubscribe",
        "Please remove me from your list",
        "QUIT",
        "End",
        "cancel",
        "Don't text me again",
    ],
)
def test_opt_out_words(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize(
    "text",
    ["Can I book for Tuesday?", "yes please", "I will stop by tomorrow", "what time do you end today?", "thanks!"],
)
def test_not_opt_out(text: str) -> None:
    assert not is_opt_out(text)
