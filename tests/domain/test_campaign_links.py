"""Signed campaign booking links: the token, the URL, the LLM check, and booking through a link."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from pymongo import AsyncMongoClient

from core.clock import FixedClock
from core.config import BOOKING_URL_MAX_LENGTH, Settings
from core.container import Container, build_container
from core.security import sign_compact_token
from domain.booking import BookingRequest, CampaignPrefill
from domain.campaign_links import CAMPAIGN_LINK_PURPOSE, campaign_booking_url, campaign_token, verify_campaign_token
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType, Channel
from models.patient import Patient
from services.email.fake import FakeEmail
from services.llm.offline import OfflineLLM
from services.llm.port import LLMError
from services.llm.schemas import SHORT_TEXT_MAX, OutreachMessage, OutreachRequest
from services.llm.validation import validate_outreach

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2030, 1, 7, 8, 0, tzinfo=BERLIN).astimezone(UTC)  # a Monday
DAY = date(2030, 1, 9)


def token_of(url: str) -> str:
    [token] = parse_qs(urlsplit(url).query)["c"]
    return token


def flip(token: str, index: int) -> str:
    """The token with one character changed (still in the base64url alphabet)."""
    swapped = "A" if token[index] != "A" else "B"
    return token[:index] + swapped + token[index + 1 :]


# ---- the token and the URL ------------------------------------------------------------------------------------


def test_the_token_names_the_campaign_and_nothing_else(settings: Settings) -> None:
    campaign_id = new_id()
    url = campaign_booking_url(settings, campaign_id, now=NOW)
    assert url.startswith(settings.booking_url + "?c=")
    token = token_of(url)
    assert len(token) == 43 and campaign_id not in token  # compact and opaque
    assert verify_campaign_token(settings, token, now=NOW) == campaign_id


def test_a_tampered_token_is_refused_wherever_it_is_changed(settings: Settings) -> None:
    token = campaign_token(settings, new_id(), now=NOW)
    for index in range(len(token)):
        assert verify_campaign_token(settings, flip(token, index), now=NOW) is None
    for bad in ["", "x", token + "A", token[:-1], token + "!", "!" + token]:
        assert verify_campaign_token(settings, bad, now=NOW) is None
    # Spellings a lenient base64 decoder reads as the same bytes: only the canonical one is the token.
    for lenient in [token + "=", token[:5] + "*" + token[5:] + "==", token[:9] + "\n" + token[9:] + "=="]:
        assert verify_campaign_token(settings, lenient, now=NOW) is None


def test_the_token_expires_after_the_configured_days(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(CAMPAIGN_LINK_TTL_DAYS=10)
    campaign_id = new_id()
    token = campaign_token(settings, campaign_id, now=NOW)
    assert verify_campaign_token(settings, token, now=NOW + timedelta(days=10)) == campaign_id
    assert verify_campaign_token(settings, token, now=NOW + timedelta(days=10, seconds=1)) is None


def test_another_purpose_or_secret_does_not_verify(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    token = campaign_token(settings, new_id(), now=NOW)
    other = make_settings(JWT_SECRET_KEY="another-secret-that-is-long-enough-0123456789")
    assert verify_campaign_token(other, token, now=NOW) is None
    subject, expires = bytes.fromhex(new_id()), NOW + timedelta(days=1)
    wrong_key = sign_compact_token(
        purpose=CAMPAIGN_LINK_PURPOSE, subject=subject, expires=expires, key=settings.key("manage")
    )
    wrong_purpose = sign_compact_token(purpose="manage", subject=subject, expires=expires, key=settings.key("campaign"))
    assert verify_campaign_token(settings, wrong_key, now=NOW) is None
    assert verify_campaign_token(settings, wrong_purpose, now=NOW) is None
    # Signed right but naming 13 bytes: not a campaign id.
    odd = sign_compact_token(
        purpose=CAMPAIGN_LINK_PURPOSE, subject=subject + b"\x00", expires=expires, key=settings.key("campaign")
    )
    assert verify_campaign_token(settings, odd, now=NOW) is None


def test_the_booking_url_keeps_its_own_query_and_fragment(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(BOOKING_URL="https://clinic.example/book?lang=de#slots")
    campaign_id = new_id()
    url = campaign_booking_url(settings, campaign_id, now=NOW)
    parts = urlsplit(url)
    assert url.startswith("https://clinic.example/book?lang=de&c=") and parts.fragment == "slots"
    assert parse_qs(parts.query)["lang"] == ["de"]
    assert verify_campaign_token(settings, token_of(url), now=NOW) == campaign_id


def test_a_campaign_without_an_object_id_gets_the_plain_link(settings: Settings) -> None:
    assert campaign_booking_url(settings, "legacy-campaign-7", now=NOW) == settings.booking_url


def test_ttl_and_booking_url_length_are_checked_at_startup(make_settings: Callable[..., Settings]) -> None:
    for days in (0, -1):
        with pytest.raises(ValidationError, match="CAMPAIGN_LINK_TTL_DAYS"):
            make_settings(CAMPAIGN_LINK_TTL_DAYS=days)
    longest = "https://clinic.example/" + "b" * (BOOKING_URL_MAX_LENGTH - len("https://clinic.example/"))
    assert len(make_settings(BOOKING_URL=longest).booking_url) == BOOKING_URL_MAX_LENGTH
    with pytest.raises(ValidationError, match="BOOKING_URL"):
        make_settings(BOOKING_URL=longest + "b")


# ---- the link through the LLM check and the SMS templates -----------------------------------------------------


def outreach_request(link: str, *, channel: Channel = Channel.SMS, clinic: str = "Bright Smiles") -> OutreachRequest:
    return OutreachRequest(
        first_name="Ann", campaign_type=CampaignType.RECALL, attempt=1, channel=channel, clinic_name=clinic,
        clinic_phone="+1-555-000-1234", booking_link=link,
    )  # fmt: skip


def test_the_llm_check_accepts_exactly_the_campaign_link(settings: Settings) -> None:
    link = campaign_booking_url(settings, new_id(), now=NOW)
    request = outreach_request(link)
    good = OutreachMessage(subject="Check-up time", body=f"Book here: {link}.", short_text=f"Book: {link}")
    assert validate_outreach(good, request) == good
    tampered = link[:-1] + ("A" if link[-1] != "A" else "B")
    other_campaign = campaign_booking_url(settings, new_id(), now=NOW)
    for wrong in (settings.booking_url, tampered, other_campaign):
        with pytest.raises(LLMError):
            validate_outreach(OutreachMessage(subject="Hi", body=f"Book here: {wrong}", short_text="x"), request)


async def test_every_template_sms_with_the_longest_campaign_link_fits(make_settings: Callable[..., Settings]) -> None:
    base = "https://clinic.example/"
    settings = make_settings(BOOKING_URL=base + "b" * (BOOKING_URL_MAX_LENGTH - len(base)))
    link = campaign_booking_url(settings, new_id(), now=NOW)
    llm = OfflineLLM()
    for campaign_type in CampaignType:
        for attempt in (1, 2, 3):
            for clinic in ("Bright Smiles", "C" * 120):
                request = outreach_request(link, clinic=clinic).model_copy(
                    update={"campaign_type": campaign_type, "attempt": attempt}
                )
                message = await llm.write_outreach(request)
                assert link in message.short_text and len(message.short_text) <= SHORT_TEXT_MAX
                assert link in message.body


# ---- booking through a campaign link --------------------------------------------------------------------------


@pytest.fixture
async def container(make_settings: Callable[..., Settings], mongo_uri: str, db_name: str) -> AsyncIterator[Container]:
    settings = make_settings(BOOKING_RATE_LIMIT_PER_IP=0, BOOKING_RATE_LIMIT_PER_EMAIL=0)
    built = await build_container(settings, clock=FixedClock(NOW))
    built.email = FakeEmail()
    yield built
    await built.close()
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as cleanup:
        await cleanup.drop_database(db_name)


async def add_patient(container: Container, name: str, email: str | None) -> Patient:
    patient = Patient(id=new_id(), name=name, email=email, phone=None, created_at=NOW, updated_at=NOW)
    await container.repos.patients.insert(patient)
    return patient


async def add_campaign(
    container: Container,
    patient: Patient,
    campaign_type: CampaignType = CampaignType.RECALL,
    status: CampaignStatus | None = None,
) -> Campaign:
    default = (
        CampaignStatus.ATTEMPTING_RECALL if campaign_type == CampaignType.RECALL else CampaignStatus.ATTEMPTING_RECOVERY
    )
    campaign = Campaign(
        id=new_id(), patient_id=patient.id, campaign_type=campaign_type, status=status or default,
        follow_up_details=FollowUpDetails(next_follow_up_at=NOW + timedelta(days=2)),
        created_at=NOW - timedelta(days=3), updated_at=NOW,
    )  # fmt: skip
    await container.repos.campaigns.insert(campaign)
    return campaign


def form(email: str, *, at: str = "10:00", token: str | None = None, campaign_id: str | None = None) -> BookingRequest:
    return BookingRequest(
        name="Typed Name", email=email, phone=None, day=DAY, at=time.fromisoformat(at), duration_minutes=None,
        service="Check-up", campaign_token=token, campaign_id=campaign_id,
    )  # fmt: skip


async def status_of(container: Container, campaign: Campaign) -> CampaignStatus:
    stored = await container.repos.campaigns.get(campaign.id)
    assert stored is not None
    return stored.status


async def test_a_link_booked_with_another_email_converts_exactly_its_campaign(container: Container) -> None:
    ann = await add_patient(container, "Ann Lee", "ann@example.com")
    recall = await add_campaign(container, ann, CampaignType.RECALL)
    recovery = await add_campaign(container, ann, CampaignType.RECOVERY)
    bob = await add_patient(container, "Bob Stone", "bob@example.com")
    bobs = await add_campaign(container, bob)
    token = campaign_token(container.settings, recall.id, now=NOW)

    booked = await container.booking().book(form("bob@example.com", token=token), ip=None)

    assert booked.converted_campaign_ids == [recall.id]
    assert booked.appointment.patient_id == ann.id and booked.appointment.campaign_id == recall.id
    assert await status_of(container, recall) == CampaignStatus.BOOKING_COMPLETED
    assert await status_of(container, recovery) == CampaignStatus.ATTEMPTING_RECOVERY
    assert await status_of(container, bobs) == CampaignStatus.ATTEMPTING_RECALL
    # Nobody was created or renamed; the confirmation went to the address on file.
    assert await container.repos.patients.count() == 2
    stored_ann, stored_bob = await container.repos.patients.get(ann.id), await container.repos.patients.get(bob.id)
    assert stored_ann is not None and stored_ann.name == "Ann Lee" and stored_ann.email == "ann@example.com"
    assert stored_bob is not None and stored_bob.name == "Bob Stone"
    await container.drain()
    assert isinstance(container.email, FakeEmail)
    [sent] = container.email.sent
    assert sent.to == "ann@example.com" and sent.text.startswith("Dear Ann Lee,")


async def test_without_a_token_the_same_form_books_for_the_typed_email(container: Container) -> None:
    ann = await add_patient(container, "Ann Lee", "ann@example.com")
    recall = await add_campaign(container, ann)
    bob = await add_patient(container, "Bob Stone", "bob@example.com")
    bobs = await add_campaign(container, bob)
    booked = await container.booking().book(form("bob@example.com"), ip=None)
    assert booked.appointment.patient_id == bob.id and booked.converted_campaign_ids == [bobs.id]
    assert await status_of(container, recall) == CampaignStatus.ATTEMPTING_RECALL


@pytest.mark.parametrize("how", ["tampered", "expired", "other_secret", "garbage"])
async def test_a_bad_token_does_not_attribute(
    container: Container, make_settings: Callable[..., Settings], how: str
) -> None:
    ann = await add_patient(container, "Ann Lee", "ann@example.com")
    recall = await add_campaign(container, ann)
    settings = container.settings
    good = campaign_token(settings, recall.id, now=NOW)
    token = {
        "tampered": flip(good, 3),
        "expired": campaign_token(settings, recall.id, now=NOW - timedelta(days=settings.CAMPAIGN_LINK_TTL_DAYS + 1)),
        "other_secret": campaign_token(
            make_settings(JWT_SECRET_KEY="another-secret-that-is-long-enough-0123456789"), recall.id, now=NOW
        ),
        "garbage": "not a token at all",
    }[how]

    booked = await container.booking().book(form("stranger@example.com", token=token), ip=None)

    # The API's rules: the patient by the typed email (new here), and only their own campaigns.
    assert booked.appointment.patient_id != ann.id and booked.appointment.campaign_id is None
    assert booked.converted_campaign_ids == []
    assert await status_of(container, recall) == CampaignStatus.ATTEMPTING_RECALL
    assert await container.booking().campaign_prefill(token) is None


async def test_a_token_cannot_be_rewritten_to_name_another_campaign(container: Container) -> None:
    ann = await add_patient(container, "Ann Lee", "ann@example.com")
    anns = await add_campaign(container, ann)
    bob = await add_patient(container, "Bob Stone", "bob@example.com")
    bobs = await add_campaign(container, bob)
    token = campaign_token(container.settings, anns.id, now=NOW)
    # Splice Bob's campaign id into Ann's token (same expiry and tag): the tag no longer matches.
    raw = base64.urlsafe_b64decode(token + "=")
    forged = base64.urlsafe_b64encode(bytes.fromhex(bobs.id) + raw[12:]).rstrip(b"=").decode()
    assert verify_campaign_token(container.settings, forged, now=NOW) is None
    booked = await container.booking().book(form("ann@example.com", token=forged), ip=None)
    assert booked.converted_campaign_ids == [anns.id]  # the API's rules: Ann's own active campaign
    assert await status_of(container, bobs) == CampaignStatus.ATTEMPTING_RECALL


async def test_a_campaign_no_longer_convertible_converts_nothing_else(container: Container) -> None:
    ann = await add_patient(container, "Ann Lee", "ann@example.com")
    handed_off = await add_campaign(container, ann, CampaignType.RECALL, CampaignStatus.HANDOFF)
    other = await add_campaign(container, ann, CampaignType.RECOVERY)
    token = campaign_token(container.settings, handed_off.id, now=NOW)
    booked = await container.booking().book(form("ann@example.com", token=token), ip=None)
    assert booked.appointment.patient_id == ann.id and booked.appointment.campaign_id == handed_off.id
    assert booked.converted_campaign_ids == []
    assert await status_of(container, handed_off) == CampaignStatus.HANDOFF
    assert await status_of(container, other) == CampaignStatus.ATTEMPTING_RECOVERY


async def test_a_valid_token_wins_over_a_campaign_id(container: Container) -> None:
    ann = await add_patient(container, "Ann Lee", "ann@example.com")
    recall = await add_campaign(container, ann, CampaignType.RECALL)
    recovery = await add_campaign(container, ann, CampaignType.RECOVERY)
    token = campaign_token(container.settings, recall.id, now=NOW)
    booked = await container.booking().book(form("ann@example.com", token=token, campaign_id=recovery.id), ip=None)
    assert booked.converted_campaign_ids == [recall.id]
    assert await status_of(container, recovery) == CampaignStatus.ATTEMPTING_RECOVERY


async def test_a_patient_without_email_is_confirmed_at_the_typed_address(container: Container) -> None:
    phone_only = await add_patient(container, "Cy Phone", None)
    campaign = await add_campaign(container, phone_only)
    token = campaign_token(container.settings, campaign.id, now=NOW)
    booked = await container.booking().book(form("Cy@Example.com", token=token), ip=None)
    assert booked.appointment.patient_id == phone_only.id and booked.converted_campaign_ids == [campaign.id]
    stored = await container.repos.patients.get(phone_only.id)
    assert stored is not None and stored.email is None  # the typed address is not written onto the record
    await container.drain()
    assert isinstance(container.email, FakeEmail)
    [sent] = container.email.sent
    assert sent.to == "cy@example.com"


async def test_prefill_names_the_patient_of_a_valid_link(container: Container) -> None:
    ann = await add_patient(container, "Ann Lee", "ann@example.com")
    campaign = await add_campaign(container, ann)
    service = container.booking()
    token = campaign_token(container.settings, campaign.id, now=NOW)
    assert await service.campaign_prefill(token) == CampaignPrefill(
        name="Ann Lee", email="ann@example.com", campaign_id=campaign.id
    )
    assert await service.campaign_prefill(flip(token, 0)) is None
    assert await service.campaign_prefill(campaign_token(container.settings, new_id(), now=NOW)) is None  # unknown
    orphan = await add_campaign(container, Patient(id=new_id(), name="Gone", created_at=NOW, updated_at=NOW))
    assert await service.campaign_prefill(campaign_token(container.settings, orphan.id, now=NOW)) is None
