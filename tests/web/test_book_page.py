"""GET/POST /book: the picker, the patient's details, form errors, a taken slot, limits and campaign links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from core.config import Settings
from domain.campaign_links import campaign_token
from main import create_app
from models.enums import CampaignStatus
from tests.web.conftest import Clinic, seed_campaigns
from tests.web.pages import appointment_of, html_page, manage_token_of, read

MONDAY = date(2030, 12, 2)
WEDNESDAY = date(2030, 12, 4)


def form(day: date = WEDNESDAY, at: str = "09:00", **extra: str) -> dict[str, str]:
    """A complete booking form as the page posts it."""
    return {
        "service": "Check-up",
        "doctor": "Dr. Smith",
        "date": day.isoformat(),
        "time": at,
        "name": "Pat Doe",
        "email": "pat@example.com",
        "phone": "",
        **extra,
    }


# ---- the page -------------------------------------------------------------------------------------------------


async def test_book_page_offers_services_doctors_first_free_day_and_its_times(clinic: Clinic) -> None:
    page = html_page(await clinic.http.get("/book"), 200)
    assert page.title == "Book an appointment \N{EN DASH} Riverside Dental" and page.h1 == "Book an appointment"
    assert "Riverside Dental" in page.html and "+49 30 1234567" in page.html and "Uferstrasse 12" in page.html
    assert 'href="tel:+49301234567"' in page.html
    assert "Check-up (30 minutes)" in page.html and "Filling (45 minutes)" in page.html
    assert page.ids["doctor"]["tag"] == "select" and ">Dr. Patel</option>" in page.html
    assert "<caption>December 2030</caption>" in page.html
    # 08:00 now and two hours' notice: today from 10:00 to the last start at 20:00.
    assert page.ids["day-2030-12-02"].get("aria-current") == "true"
    assert page.ids["day-2030-12-02"]["aria-label"] == "Monday 2 December, 21 times free"
    assert page.ids["day-2030-12-03"]["aria-label"] == "Tuesday 3 December, 23 times free"
    assert "day-2030-12-01" not in page.ids and "day-2030-12-08" not in page.ids  # Sundays: no link
    assert page.hidden["date"] == "2030-12-02" and page.times[0] == "10:00" and page.times[-1] == "20:00"
    assert "times in Europe/Berlin" in page.html
    assert "previous-month" not in page.ids and page.ids["next-month"]["href"].startswith("/book?")
    for field in ("name", "email", "phone"):
        assert f'<label for="{field}">' in page.html and page.ids[field]["tag"] == "input"
    assert page.ids["name"]["maxlength"] == "200" and page.ids["email"]["maxlength"] == "254"
    assert page.ids["phone"]["maxlength"] == "40" and "required" not in page.ids["phone"]
    assert page.ids["booking-form"]["method"] == "post" and page.ids["visit-form"]["method"] == "get"


async def test_one_doctor_has_no_doctor_choice(client: httpx.AsyncClient) -> None:
    page = html_page(await client.get("/book"), 200)
    assert "doctor" not in page.ids and page.hidden["doctor"] == "Dr. Smith"


async def test_query_picks_service_doctor_month_and_day(clinic: Clinic) -> None:
    response = await clinic.http.get(
        "/book", params={"service": "filling", "doctor": "Dr. Patel", "month": "2031-01", "day": "2031-01-15"}
    )
    page = html_page(response, 200)
    assert "<caption>January 2031</caption>" in page.html
    assert page.ids["day-2031-01-15"].get("aria-current") == "true" and page.hidden["date"] == "2031-01-15"
    assert page.hidden["service"] == "Filling" and page.hidden["doctor"] == "Dr. Patel"
    assert page.times[0] == "09:00" and page.times[-1] == "19:30"  # 45 minutes before the 20:30 close
    previous = page.ids["previous-month"]["href"]
    assert "month=2030-12" in previous and "service=Filling" in previous and "doctor=Dr.+Patel" in previous
    day_link = page.ids["day-2031-01-16"]["href"]
    assert "day=2031-01-16" in day_link and day_link.endswith("#times")


async def test_months_stay_inside_the_booking_horizon(clinic: Clinic) -> None:
    last = html_page(await clinic.http.get("/book", params={"month": "2031-03"}), 200)
    assert "<caption>March 2031</caption>" in last.html and "next-month" not in last.ids
    assert last.hidden["date"] == "2031-03-01" and "day-2031-03-03" not in last.ids  # 90 days: up to 2 March
    for month in ("2031-04", "2030-11", "garbage", "2030-13"):
        page = html_page(await clinic.http.get("/book", params={"month": month, "day": "nonsense"}), 200)
        assert "<caption>December 2030</caption>" in page.html, month


async def test_unknown_service_or_doctor_falls_back_to_the_defaults(clinic: Clinic) -> None:
    page = html_page(await clinic.http.get("/book", params={"service": "Surgery", "doctor": "Dr. Who"}), 200)
    assert page.hidden["service"] == "Check-up" and page.hidden["doctor"] == "Dr. Smith"


async def test_a_day_without_free_times_any_more_says_so(clinic: Clinic) -> None:
    page = html_page(await clinic.http.get("/book", params={"month": "2030-12", "day": "2030-12-08"}), 200)
    assert page.hidden["date"] == "2030-12-02" and "no free times on Sunday 8 December" in page.html


# ---- booking --------------------------------------------------------------------------------------------------


async def test_booking_redirects_303_to_the_confirmation(clinic: Clinic) -> None:
    response = await clinic.http.post("/book", data=form(at="10:30", phone="030 1234567"))
    token = manage_token_of(response)
    appointment = await appointment_of(clinic.container, token)
    assert appointment.service == "Check-up" and appointment.doctor == "Dr. Smith"
    page = html_page(await clinic.http.get(response.headers["location"]), 200)
    assert page.h1 == "Your appointment is booked" and page.title.startswith("Your appointment is booked \N{EN DASH} ")
    assert (
        "Wednesday 4 December 2030" in page.html
        and "10:30\N{EN DASH}11:00" in page.html
        and "Europe/Berlin" in page.html
    )
    assert "Check-up (30 minutes)" in page.html and "Dr. Smith" in page.html
    assert page.ids["manage-link"]["href"] == f"https://clinic.test/manage/{token}"
    assert page.ids["add-to-calendar"]["href"] == f"/manage/{token}/appointment.ics"
    again = html_page(await clinic.http.get("/book", params={"day": "2030-12-04"}), 200)
    assert "10:30" not in again.times and "10:00" in again.times and "11:00" in again.times


async def test_form_errors_are_shown_at_their_fields_with_the_input_kept(clinic: Clinic) -> None:
    response = await clinic.http.post("/book", data=form(time="", name=" ", email="not-an-email", phone="call me"))
    page = html_page(response, 422)
    assert page.title.startswith("Error: ") and page.ids["form-alert"]["role"] == "alert"
    assert "Please enter your name." in page.html and "Please choose a time." in page.html
    assert "valid email address" in page.html and "phone number with digits only" in page.html
    for field in ("name", "email", "phone"):
        assert page.ids[field]["aria-invalid"] == "true", field
        assert f"{field}-error" in page.ids[field]["aria-describedby"].split(), field
        assert f"{field}-error" in page.ids, field
    assert page.ids["email"]["value"] == "not-an-email" and page.ids["phone"]["value"] == "call me"
    assert page.hidden["date"] == "2030-12-04" and page.times  # the picker again, on the asked-for day
    assert await clinic.container.repos.appointments.count() == 0 and await clinic.container.repos.patients.count() == 0


async def test_a_link_for_a_name_is_refused(clinic: Clinic) -> None:
    page = html_page(await clinic.http.post("/book", data=form(name="Visit evil.example now")), 422)
    assert "Your name must not contain a web or email address" in page.html
    assert page.ids["email"]["value"] == "pat@example.com" and page.times


async def test_overlong_fields_are_refused_and_cut_to_their_caps(clinic: Clinic) -> None:
    data = form(name="A" * 5000, email="a" * 300 + "@example.com", phone="1" * 100)
    page = html_page(await clinic.http.post("/book", data=data), 422)
    assert "at most 200 characters" in page.html and "at most 254 characters" in page.html
    assert "at most 40 characters" in page.html
    assert page.ids["name"]["value"] == "A" * 200 and len(page.ids["email"]["value"]) == 254
    assert page.ids["phone"]["value"] == "1" * 40
    assert await clinic.container.repos.appointments.count() == 0


async def test_the_domain_refusing_the_phone_shows_at_the_phone_field(clinic: Clinic) -> None:
    page = html_page(await clinic.http.post("/book", data=form(phone="12")), 422)
    assert "phone-error" in page.ids and "not a valid phone number" in page.html
    assert page.ids["phone"]["value"] == "12" and page.ids["name"]["value"] == "Pat Doe"


async def test_a_slot_just_taken_shows_the_picker_again_with_the_input_kept(clinic: Clinic) -> None:
    manage_token_of(await clinic.http.post("/book", data=form(at="09:00", email="first@example.com")))
    page = html_page(await clinic.http.post("/book", data=form(at="09:00", phone="+49 30 7654321")), 409)
    assert page.title.startswith("Error: ") and "form-message" in page.ids
    assert "That time is not available; please choose another slot." in page.html
    assert page.hidden["date"] == "2030-12-04" and "09:00" not in page.times and "09:30" in page.times
    assert page.ids["name"]["value"] == "Pat Doe" and page.ids["email"]["value"] == "pat@example.com"
    assert page.ids["phone"]["value"] == "+49 30 7654321"
    assert await clinic.container.repos.appointments.count() == 1


async def test_a_time_that_is_not_offered_is_409_with_the_picker(clinic: Clinic) -> None:
    page = html_page(await clinic.http.post("/book", data=form(day=MONDAY, at="08:00")), 409)
    assert "not available" in page.html and page.hidden["date"] == "2030-12-02" and page.times[0] == "10:00"


async def test_a_day_outside_the_horizon_is_422_with_the_picker(clinic: Clinic) -> None:
    page = html_page(await clinic.http.post("/book", data=form(day=date(2031, 6, 4))), 422)
    assert "bookable range" in page.html and page.hidden["date"] == "2030-12-02"


async def test_too_many_bookings_is_a_429_page_saying_when_to_retry(
    make_settings: Callable[..., Settings], mongo_uri: str
) -> None:
    app = create_app(make_settings(BOOKING_RATE_LIMIT_PER_EMAIL=1, EMAIL_BACKEND="disabled"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        first = html_page(await http.get("/book"), 200)
        day, times = first.hidden["date"], first.times
        manage_token_of(await http.post("/book", data=form(day=date.fromisoformat(day), at=times[0])))
        response = await http.post("/book", data=form(day=date.fromisoformat(day), at=times[1]))
    page = html_page(response, 429)
    retry = int(response.headers["retry-after"])
    assert 0 < retry <= 3600 and page.h1 == "Please try again later" and "You can try again in" in page.html
    assert "+1-555-123-4567" in page.html


# ---- campaign links -------------------------------------------------------------------------------------------


async def test_a_campaign_link_prefills_and_converts_exactly_that_campaign(clinic: Clinic) -> None:
    container = clinic.container
    other, linked = await seed_campaigns(container, count=2)
    c = campaign_token(container.settings, linked.id, now=container.clock.now())
    page = html_page(await clinic.http.get("/book", params={"c": c}), 200)
    assert page.ids["name"]["value"] == "Ann Lee" and page.ids["email"]["value"] == "ann.lee@example.com"
    assert page.hidden["c"] == c and f"c={c}" in page.ids["day-2030-12-03"]["href"]
    data = form(name="Ann Lee", email="ann.lee@example.com", c=page.hidden["c"])
    token = manage_token_of(await clinic.http.post("/book", data=data))
    converted = await container.repos.campaigns.get(linked.id)
    untouched = await container.repos.campaigns.get(other.id)
    assert converted is not None and converted.status == CampaignStatus.BOOKING_COMPLETED
    assert untouched is not None and untouched.status == CampaignStatus.ATTEMPTING_RECALL
    assert (await appointment_of(container, token)).campaign_id == linked.id


async def test_an_invalid_campaign_link_books_without_attribution(clinic: Clinic) -> None:
    page = html_page(await clinic.http.get("/book", params={"c": "not.a-valid-token"}), 200)
    assert "notice" in page.ids and "expired" in page.html and "c" not in page.hidden
    assert page.ids["name"]["value"] == "" and page.ids["email"]["value"] == ""
    oversized = html_page(await clinic.http.get("/book", params={"c": "x" * 5000}), 200)
    assert "notice" in oversized.ids


@pytest.mark.parametrize("body", [{}, {"date": "2030-12-04"}, {"time": "25:99", "date": "04.12.2030"}])
async def test_a_missing_or_malformed_slot_asks_for_a_time(clinic: Clinic, body: dict[str, Any]) -> None:
    page = html_page(await clinic.http.post("/book", data=body), 422)
    assert "Please choose a time." in page.html and "time-error" in page.ids
    assert read(page.html).ids["times"]["tag"] == "section"
