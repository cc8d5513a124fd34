"""Booking abuse: configured services, safe names, E.164 phones, fair rate limits, campaign conversion undone."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from twilio.request_validator import RequestValidator

from core.config import Settings
from core.container import Container
from main import create_app
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType, Channel, Role
from services.email.fake import FakeEmail
from tests.api.test_booking import bookable_day, booking, counts
from tests.fakes.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from tests.support import staff_headers

BOOK = "/api/v1/appointments/book"
NO_LIMITS = {"BOOKING_RATE_LIMIT_PER_IP": 0, "BOOKING_RATE_LIMIT_PER_EMAIL": 0}


@asynccontextmanager
async def serve(
    settings: Settings, *, ip: str = "203.0.113.7", base_url: str = "http://t"
) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    """The app with its lifespan, called in-process as if from `ip`."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        yield http, app.state.container
        await app.state.container.client.drop_database(settings.MONGO_DB_NAME)


def fields(response: httpx.Response) -> list[str]:
    return [f["field"] for f in response.json().get("fields", [])]


# ---- services -------------------------------------------------------------------------------------------------


async def test_services_come_from_the_configured_list(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(CLINIC_SERVICES="Check-up:30, Deep clean:45", **NO_LIMITS)
    day = bookable_day()
    async with serve(settings) as (http, container):
        listed = await http.get("/api/v1/services")
        assert listed.status_code == 200
        assert listed.json() == [
            {"name": "Check-up", "duration_minutes": 30},
            {"name": "Deep clean", "duration_minutes": 45},
        ]
        unknown = await http.post(BOOK, json=booking(day, service="Click http://evil.example to claim"))
        assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_service"
        assert fields(unknown) == ["service"] and "Deep clean" in unknown.json()["detail"]
        mismatch = await http.post(BOOK, json=booking(day, service="Deep clean", duration=30))
        assert mismatch.status_code == 422 and mismatch.json()["error"] == "duration_mismatch"
        assert fields(mismatch) == ["duration_minutes"]
        assert await counts(container) == (0, 0, 0)
        body = booking(day, "10:00", service="deep CLEAN")
        del body["duration_minutes"]
        derived = await http.post(BOOK, json=body)
        assert derived.status_code == 201, derived.text
        assert derived.json()["duration_minutes"] == 45 and derived.json()["service"] == "Deep clean"
        assert await container.repos.slot_claims.count() == 3


@pytest.mark.parametrize("value", ["Check-up:20", "Check-up", "Check-up:30,check-up:45", ":30", ""])
def test_bad_clinic_services_refuse_to_start(make_settings: Callable[..., Settings], value: str) -> None:
    with pytest.raises(ValueError, match="CLINIC_SERVICES"):
        make_settings(CLINIC_SERVICES=value)


def test_unknown_phone_region_refuses_to_start(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="PHONE_DEFAULT_REGION"):
        make_settings(PHONE_DEFAULT_REGION="XX")
    assert make_settings(PHONE_DEFAULT_REGION="de").PHONE_DEFAULT_REGION == "DE"


# ---- names ----------------------------------------------------------------------------------------------------


BAD_NAMES = [
    "Visit https://evil.example/login",
    "www.evil.example",
    "claim-your-refund.example",
    "bit.ly/abc",
    "pat@evil.example",
    "Pat\nYour account is locked",
    "Pat\r\nBcc: x",
    "Pat\u2028Doe",
    "Pat\x00Doe",
    "Pat \u202eelpmaxe.live",
]
GOOD_NAMES = ["Pat Doe", "J.R.R. Tolkien", "Mary-Jane O'Neil", "St. John Smith", "李小龍", "  Zoë Ødegaard  "]


async def test_names_refuse_links_and_line_breaks_but_not_initials(make_settings: Callable[..., Settings]) -> None:
    day = bookable_day()
    async with serve(make_settings(**NO_LIMITS)) as (http, container):
        for name in BAD_NAMES:
            response = await http.post(BOOK, json=booking(day, name=name))
            assert response.status_code == 422 and fields(response) == ["name"], name
        assert await counts(container) == (0, 0, 0)
        for n, name in enumerate(GOOD_NAMES):
            response = await http.post(BOOK, json=booking(day, f"{9 + n:02d}:00", email=f"p{n}@example.com", name=name))
            assert response.status_code == 201, response.text
            patient = await container.repos.patients.get_by_email(f"p{n}@example.com")
            assert patient is not None and patient.name == name.strip()


async def test_staff_patient_create_and_trigger_refuse_link_names(make_settings: Callable[..., Settings]) -> None:
    async with serve(make_settings(), base_url="https://clinic.example") as (http, container):
        headers = await staff_headers(http, container)
        patient = {"name": "Win a prize at evil.example", "email": "p@example.com"}
        created = await http.post(
            "/api/v1/admin/campaigns", json={"patient": patient, "campaign_type": "RECALL"}, headers=headers
        )
        assert created.status_code == 422 and fields(created) == ["patient.name"]
        trigger = await http.post(
            "/agent/trigger",
            json={"patient": {**patient, "name": "Pat\nDoe"}, "campaign": {"campaign_type": "RECALL"}},
            headers=headers,
        )
        assert trigger.status_code == 422 and fields(trigger) == ["patient.name"]
        assert await container.repos.patients.count() == 0


# ---- phone numbers --------------------------------------------------------------------------------------------


async def test_national_phone_is_stored_as_e164_and_stop_from_it_opts_out(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PUBLIC_BASE_URL="https://clinic.example",
        PHONE_DEFAULT_REGION="US",
    )
    async with serve(settings, base_url="https://clinic.example") as (http, container):
        booked = await http.post(BOOK, json=booking(bookable_day(), phone="(555) 123-4567"))
        assert booked.status_code == 201, booked.text
        patient = await container.repos.patients.get_by_email("pat@example.com")
        assert patient is not None and patient.phone == "+15551234567"
        form = {"MessageSid": f"SM{new_id()}", "From": "+15551234567", "To": "+15550009999", "Body": "STOP"}
        signature = RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(
            "https://clinic.example/api/v1/webhooks/twilio/sms", form
        )
        stop = await http.post("/api/v1/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
        assert stop.status_code == 200
        opted = await container.repos.patients.get(patient.id)
        assert opted is not None and opted.opted_out_channels == [Channel.SMS]


@pytest.mark.parametrize("phone", ["555-1234", "+1 555 123 4567 890", "12", "+999 123456"])
async def test_invalid_phone_is_422_naming_the_field(make_settings: Callable[..., Settings], phone: str) -> None:
    async with serve(make_settings(**NO_LIMITS)) as (http, container):
        response = await http.post(BOOK, json=booking(bookable_day(), phone=phone))
        assert response.status_code == 422 and fields(response) == ["phone"]
        assert await counts(container) == (0, 0, 0)


async def test_staff_create_and_trigger_store_e164(make_settings: Callable[..., Settings]) -> None:
    async with serve(make_settings(PHONE_DEFAULT_REGION="DE"), base_url="https://clinic.example") as (http, container):
        headers = await staff_headers(http, container)
        created = await http.post(
            "/api/v1/admin/campaigns",
            json={"patient": {"name": "Anna", "phone": "0151 1234 5678"}, "campaign_type": "RECALL", "channel": "sms"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        assert await container.repos.patients.ids_by_phone("+4915112345678") == [created.json()["patient_id"]]
        bad = await http.post(
            "/api/v1/admin/campaigns",
            json={"patient": {"name": "Ben", "phone": "12"}, "campaign_type": "RECALL", "channel": "sms"},
            headers=headers,
        )
        assert bad.status_code == 422 and fields(bad) == ["patient.phone"]
        trigger = await http.post(
            "/agent/trigger",
            json={"patient": {"name": "Cem", "phone": "030 1234567"}, "campaign": {"campaign_type": "RECOVERY"}},
            headers=headers,
        )
        assert trigger.status_code == 200, trigger.text
        assert len(await container.repos.patients.ids_by_phone("+49301234567")) == 1


# ---- rate limits ----------------------------------------------------------------------------------------------


async def test_junk_requests_use_up_no_quota(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(BOOKING_RATE_LIMIT_PER_IP=2, BOOKING_RATE_LIMIT_PER_EMAIL=1)
    day = bookable_day()
    junk = [
        booking(day, time="9am"),
        booking(day, service="Nope"),
        booking(day, duration=45, service="Check-up"),
        booking(day, phone="12"),
        booking(day, name="see evil.example"),
        booking(day - timedelta(days=400)),
    ]
    async with serve(settings) as (http, _):
        assert [(await http.post(BOOK, json=body)).status_code for body in junk] == [422] * 6
        assert (await http.post(BOOK, json=booking(day, "09:00"))).status_code == 201
        assert (await http.post(BOOK, json=booking(day, "10:00", email="other@example.com"))).status_code == 201
        assert (await http.post(BOOK, json=booking(day, "11:00", email="third@example.com"))).status_code == 429


async def test_ipv6_addresses_of_one_64_share_the_limit(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(BOOKING_RATE_LIMIT_PER_IP=2, BOOKING_RATE_LIMIT_PER_EMAIL=0)
    day = bookable_day()
    app = create_app(settings)
    async with app.router.lifespan_context(app):

        async def from_ip(ip: str, at: str, n: int) -> int:
            transport = httpx.ASGITransport(app=app, client=(ip, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return (await http.post(BOOK, json=booking(day, at, email=f"p{n}@example.com"))).status_code

        codes = [
            await from_ip("2001:db8:aa:1::1", "09:00", 1),
            await from_ip("2001:db8:aa:1:ffff:1:2:3", "10:00", 2),
            await from_ip("2001:db8:aa:1::9", "11:00", 3),
            await from_ip("2001:db8:aa:2::1", "12:00", 4),  # another /64: its own quota
        ]
        assert codes == [201, 201, 429, 201]
        await app.state.container.client.drop_database(settings.MONGO_DB_NAME)


async def test_reschedules_are_limited_per_appointment_per_day(make_settings: Callable[..., Settings]) -> None:
    day = bookable_day()
    async with serve(make_settings(RESCHEDULE_LIMIT_PER_DAY=2, **NO_LIMITS)) as (http, container):
        first = await http.post(BOOK, json=booking(day, "09:00"))
        appointment_id, token = first.json()["id"], first.json()["manage_url"].rsplit("/", 1)[1]
        path = f"/api/v1/appointments/manage/{token}/reschedule"
        codes = [
            (await http.post(path, json={"date": day.isoformat(), "time": at})).status_code
            for at in ("10:00", "11:00", "12:00")
        ]
        assert codes == [200, 200, 429]
        refused = await http.post(path, json={"date": day.isoformat(), "time": "13:00"})
        assert refused.status_code == 429 and refused.json()["error"] == "reschedule_limit"
        stored = await container.repos.appointments.get(appointment_id)
        assert stored is not None and stored.start.astimezone(container.settings.zone).strftime("%H:%M") == "11:00"
        other = await http.post(BOOK, json=booking(day, "15:00", email="o@example.com"))
        other_token = other.json()["manage_url"].rsplit("/", 1)[1]
        moved = await http.post(
            f"/api/v1/appointments/manage/{other_token}/reschedule", json={"date": day.isoformat(), "time": "16:00"}
        )
        assert moved.status_code == 200  # the limit is per appointment


async def test_confirmation_emails_are_limited_per_recipient(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    day = bookable_day()
    async with serve(make_settings(CONFIRMATION_EMAILS_PER_RECIPIENT_PER_DAY=2, **NO_LIMITS)) as (http, container):
        outbox = FakeEmail()
        container.email = outbox
        logging.getLogger().addHandler(caplog.handler)  # the app's start replaced the root handlers
        with caplog.at_level(logging.INFO):
            for at in ("09:00", "10:00", "11:00", "12:00"):
                assert (await http.post(BOOK, json=booking(day, at, email="Victim@Example.com"))).status_code == 201
            assert (await http.post(BOOK, json=booking(day, "13:00", email="other@example.com"))).status_code == 201
            await container.drain()
        assert sorted(m.to for m in outbox.sent) == ["other@example.com", "victim@example.com", "victim@example.com"]
        assert await container.repos.appointments.count() == 5
        skipped = [r for r in caplog.records if "confirmation email skipped" in r.getMessage()]
        assert len(skipped) == 2
        assert not any("victim" in f"{r.getMessage()} {r.__dict__}".lower() for r in skipped)


# ---- campaign conversion --------------------------------------------------------------------------------------


async def _campaign(container: Container, patient_id: str, status: CampaignStatus, **details: Any) -> Campaign:
    now = container.clock.now()
    campaign = Campaign(
        id=new_id(),
        patient_id=patient_id,
        campaign_type=CampaignType.RECALL,
        status=status,
        follow_up_details=FollowUpDetails(attempts_made=1, **details),
        created_at=now,
        updated_at=now,
    )
    await container.repos.campaigns.insert(campaign)
    if status in (CampaignStatus.ATTEMPTING_RECALL, CampaignStatus.ENGAGED, CampaignStatus.HANDOFF):
        key = f"{patient_id}:{CampaignType.RECALL.value}"
        await container.db.campaigns.update_one({"_id": ObjectId(campaign.id)}, {"$set": {"active_key": key}})
    return campaign


async def _patient_id(container: Container) -> str:
    patient, _ = await container.repos.patients.find_or_create(
        name="Pat Doe", email="pat@example.com", phone=None, now=container.clock.now()
    )
    return patient.id


async def test_public_booking_never_converts_a_handoff(make_settings: Callable[..., Settings]) -> None:
    day = bookable_day()
    async with serve(make_settings(**NO_LIMITS)) as (http, container):
        handoff = await _campaign(container, await _patient_id(container), CampaignStatus.HANDOFF)
        assert (await http.post(BOOK, json=booking(day, "09:00"))).status_code == 201
        assert (await http.post(BOOK, json=booking(day, "10:00", campaign_id=handoff.id))).status_code == 201
        stored = await container.repos.campaigns.get(handoff.id)
        assert stored is not None and stored.status == CampaignStatus.HANDOFF and stored.converted_at is None


async def test_cancelling_the_converting_booking_restores_the_campaign(
    make_settings: Callable[..., Settings],
) -> None:
    day = bookable_day()
    async with serve(make_settings(**NO_LIMITS), base_url="https://clinic.example") as (http, container):
        patient_id = await _patient_id(container)
        next_at = (container.clock.now() + timedelta(days=2)).replace(microsecond=0)
        campaign = await _campaign(container, patient_id, CampaignStatus.ATTEMPTING_RECALL, next_follow_up_at=next_at)
        first = await http.post(BOOK, json=booking(day, "09:00"))
        converted = await container.repos.campaigns.get(campaign.id)
        assert converted is not None and converted.status == CampaignStatus.BOOKING_COMPLETED
        token = first.json()["manage_url"].rsplit("/", 1)[1]
        # A second booking converts nothing more; cancelling it leaves the campaign converted.
        second = await http.post(BOOK, json=booking(day, "11:00"))
        headers = await staff_headers(http, container)
        staff_cancel = await http.patch(
            f"/api/v1/appointments/{second.json()['id']}", json={"status": "cancelled"}, headers=headers
        )
        assert staff_cancel.status_code == 200
        still = await container.repos.campaigns.get(campaign.id)
        assert still is not None and still.status == CampaignStatus.BOOKING_COMPLETED

        assert (await http.post(f"/api/v1/appointments/manage/{token}/cancel")).status_code == 200
        restored = await container.repos.campaigns.get(campaign.id)
        assert restored is not None and restored.status == CampaignStatus.ATTEMPTING_RECALL
        assert restored.converted_at is None and restored.conversion is None
        assert restored.follow_up_details.next_follow_up_at == next_at
        assert restored.follow_up_details.attempts_made == 1
        # It is active again: staff cannot open a second RECALL campaign for the patient.
        again = await http.post(
            "/api/v1/admin/campaigns", json={"patient_id": patient_id, "campaign_type": "RECALL"}, headers=headers
        )
        assert again.status_code == 409


async def test_staff_cancel_restores_and_an_overdue_touch_is_due_from_now(
    make_settings: Callable[..., Settings],
) -> None:
    day = bookable_day()
    async with serve(make_settings(**NO_LIMITS), base_url="https://clinic.example") as (http, container):
        headers = await staff_headers(http, container, role=Role.STAFF)
        patient_id = await _patient_id(container)
        past = container.clock.now() - timedelta(days=3)
        campaign = await _campaign(container, patient_id, CampaignStatus.ATTEMPTING_RECALL, next_follow_up_at=past)
        booked = await http.post(BOOK, json=booking(day, "09:00"))
        before_cancel = container.clock.now()
        cancel = await http.patch(
            f"/api/v1/appointments/{booked.json()['id']}", json={"status": "cancelled"}, headers=headers
        )
        assert cancel.status_code == 200
        restored = await container.repos.campaigns.get(campaign.id)
        assert restored is not None and restored.status == CampaignStatus.ATTEMPTING_RECALL
        due = restored.follow_up_details.next_follow_up_at
        assert due is not None and due >= before_cancel.replace(microsecond=0)


async def test_restore_comes_back_paused_when_staff_opened_another_campaign(
    make_settings: Callable[..., Settings],
) -> None:
    day = bookable_day()
    async with serve(make_settings(**NO_LIMITS), base_url="https://clinic.example") as (http, container):
        headers = await staff_headers(http, container)
        patient_id = await _patient_id(container)
        campaign = await _campaign(container, patient_id, CampaignStatus.ENGAGED)
        booked = await http.post(BOOK, json=booking(day, "09:00"))
        newer = await http.post(
            "/api/v1/admin/campaigns", json={"patient_id": patient_id, "campaign_type": "RECALL"}, headers=headers
        )
        assert newer.status_code == 201
        token = booked.json()["manage_url"].rsplit("/", 1)[1]
        assert (await http.post(f"/api/v1/appointments/manage/{token}/cancel")).status_code == 200
        restored = await container.repos.campaigns.get(campaign.id)
        assert restored is not None and restored.status == CampaignStatus.PAUSED and restored.converted_at is None
        kept = await container.repos.campaigns.get(newer.json()["id"])
        assert kept is not None and kept.status == CampaignStatus.ATTEMPTING_RECALL
