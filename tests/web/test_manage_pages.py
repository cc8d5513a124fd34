"""GET /manage/{token}: the appointment, its calendar file, cancel with a confirm step, reschedule, the notice rule."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from models.enums import AppointmentStatus
from tests.web.conftest import Clinic
from tests.web.pages import appointment_of, html_page, manage_token_of
from tests.web.test_book_page import MONDAY, form

UNKNOWN = (
    "NmIxMzBhZTk3OTBkYjA0NDZjMGZmYmIwLjE4MTE5NjIwODkuM3dBWG1qQ2F2TW1UMldaeA.XidI640iHLL_FOlCc-OgXP4ihb5_yklFmIwy01ov8uA"
)


async def book(clinic: Clinic, day: date = date(2030, 12, 4), at: str = "10:00") -> str:
    """Book through the page; the manage token."""
    return manage_token_of(await clinic.http.post("/book", data=form(day=day, at=at)))


async def test_manage_page_shows_the_appointment_and_its_actions(clinic: Clinic) -> None:
    token = await book(clinic)
    page = html_page(await clinic.http.get(f"/manage/{token}"), 200)
    assert page.h1 == "Your appointment" and "confirmation" not in page.ids
    assert "Wednesday 4 December 2030" in page.html and "10:00\N{EN DASH}10:30" in page.html
    assert ">Booked</dd>" in page.html and "Dr. Smith" in page.html and "Check-up (30 minutes)" in page.html
    assert page.ids["reschedule-link"]["href"] == f"/manage/{token}/reschedule"
    assert page.ids["cancel-link"]["href"] == f"/manage/{token}/cancel"
    assert "too-late" not in page.ids


async def test_the_calendar_file_is_an_attachment_in_clinic_time(clinic: Clinic) -> None:
    token = await book(clinic)
    response = await clinic.http.get(f"/manage/{token}/appointment.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["content-disposition"] == 'attachment; filename="appointment.ics"'
    text = response.text
    assert text.startswith("BEGIN:VCALENDAR") and "DTSTART;TZID=Europe/Berlin:20301204T100000" in text
    assert "DTEND;TZID=Europe/Berlin:20301204T103000" in text


async def test_cancel_asks_first_then_cancels_with_303(clinic: Clinic) -> None:
    token = await book(clinic)
    confirm = html_page(await clinic.http.get(f"/manage/{token}/cancel"), 200)
    assert confirm.h1 == "Cancel your appointment?" and confirm.ids["keep-appointment"]["href"] == f"/manage/{token}"
    assert "confirm-cancel" in confirm.ids
    assert (await appointment_of(clinic.container, token)).status == AppointmentStatus.BOOKED  # a GET changes nothing
    response = await clinic.http.post(f"/manage/{token}/cancel")
    assert response.status_code == 303 and response.headers["location"] == f"/manage/{token}?cancelled=1"
    assert (await appointment_of(clinic.container, token)).status == AppointmentStatus.CANCELLED
    page = html_page(await clinic.http.get(response.headers["location"]), 200)
    assert page.h1 == "Your appointment is cancelled" and ">Cancelled</dd>" in page.html
    assert "cancel-link" not in page.ids and "reschedule-link" not in page.ids and "add-to-calendar" not in page.ids
    assert page.ids["book-again"]["href"] == "/book"
    again = html_page(await clinic.http.post(f"/manage/{token}/cancel"), 409)
    assert "already cancelled" in again.html and "confirm-cancel" not in again.ids
    freed = html_page(await clinic.http.get("/book", params={"day": "2030-12-04"}), 200)
    assert "10:00" in freed.times


async def test_reschedule_offers_the_picker_and_moves_with_303(clinic: Clinic) -> None:
    token = await book(clinic)
    page = html_page(await clinic.http.get(f"/manage/{token}/reschedule", params={"day": "2030-12-05"}), 200)
    assert page.h1 == "Choose a new time" and page.hidden["date"] == "2030-12-05" and "09:00" in page.times
    assert page.ids["day-2030-12-06"]["href"] == f"/manage/{token}/reschedule?month=2030-12&day=2030-12-06#times"
    response = await clinic.http.post(f"/manage/{token}/reschedule", data={"date": "2030-12-05", "time": "15:30"})
    assert response.status_code == 303 and response.headers["location"] == f"/manage/{token}?moved=1"
    moved = html_page(await clinic.http.get(response.headers["location"]), 200)
    assert moved.h1 == "Your appointment is moved" and "Thursday 5 December 2030" in moved.html
    assert "15:30\N{EN DASH}16:00" in moved.html


async def test_reschedule_to_a_taken_slot_shows_the_picker_again(clinic: Clinic) -> None:
    token = await book(clinic)
    await book(clinic, at="12:00")
    page = html_page(
        await clinic.http.post(f"/manage/{token}/reschedule", data={"date": "2030-12-04", "time": "12:00"}), 409
    )
    assert "not available" in page.html and page.hidden["date"] == "2030-12-04"
    assert "12:00" not in page.times and "12:30" in page.times
    assert (await appointment_of(clinic.container, token)).start.hour == 9  # 10:00 Berlin, unchanged


async def test_reschedule_without_a_time_is_422(clinic: Clinic) -> None:
    token = await book(clinic)
    page = html_page(await clinic.http.post(f"/manage/{token}/reschedule", data={"date": "2030-12-05"}), 422)
    assert "Please choose a time." in page.html and page.hidden["date"] == "2030-12-05"


async def test_inside_the_notice_window_the_page_gives_the_phone_instead(clinic: Clinic) -> None:
    token = await book(clinic, day=MONDAY, at="12:00")  # four hours ahead: bookable, but inside the 24 hours
    page = html_page(await clinic.http.get(f"/manage/{token}"), 200)
    assert "cancel-link" not in page.ids and "reschedule-link" not in page.ids
    assert "too-late" in page.ids and "less than 24 hours" in page.html and 'href="tel:+49301234567"' in page.html
    confirm = html_page(await clinic.http.get(f"/manage/{token}/cancel"), 200)
    assert "confirm-cancel" not in confirm.ids and "too-late" in confirm.ids
    refused = html_page(await clinic.http.post(f"/manage/{token}/cancel"), 409)
    assert "call +49 30 1234567" in refused.html and "too-late" in refused.ids
    picker = html_page(await clinic.http.get(f"/manage/{token}/reschedule"), 200)
    assert "move-button" not in picker.ids and "too-late" in picker.ids
    moved = await clinic.http.post(f"/manage/{token}/reschedule", data={"date": "2030-12-05", "time": "09:00"})
    assert "too-late" in html_page(moved, 409).ids
    assert (await appointment_of(clinic.container, token)).status == AppointmentStatus.BOOKED


async def test_the_buttons_show_until_exactly_the_notice_boundary(clinic: Clinic) -> None:
    token = await book(clinic, day=date(2030, 12, 3), at="09:00")  # 09:00 in Berlin is 08:00 UTC
    clinic.clock.set(clinic.clock.now().replace(hour=8))  # exactly 24 hours before: still changeable
    assert "cancel-link" in html_page(await clinic.http.get(f"/manage/{token}"), 200).ids
    clinic.clock.set(clinic.clock.now().replace(minute=1))
    assert "too-late" in html_page(await clinic.http.get(f"/manage/{token}"), 200).ids


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("GET", "/cancel"),
        ("POST", "/cancel"),
        ("GET", "/reschedule"),
        ("POST", "/reschedule"),
        ("GET", "/appointment.ics"),
    ],
)
@pytest.mark.parametrize("token", [UNKNOWN, "short", "x" * 401, "bad$token!"])
async def test_an_unknown_or_malformed_link_is_a_friendly_404_page(
    clinic: Clinic, method: str, suffix: str, token: str
) -> None:
    response = await clinic.http.request(
        method, f"/manage/{token}{suffix}", data={"date": "2030-12-05", "time": "09:00"}
    )
    page = html_page(response, 404)
    assert page.h1 == "This link is not valid" and "invalid or has expired" in page.html
    assert "+49 30 1234567" in page.html and 'href="tel:+49301234567"' in page.html


async def test_the_json_api_manage_routes_stay_json(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/appointments/manage/{UNKNOWN}")
    assert response.status_code == 404 and response.json()["error"] == "invalid_manage_link"


async def test_moving_too_often_is_a_429_page_saying_when_to_retry(clinic: Clinic) -> None:
    token = await book(clinic)
    for at in ("11:00", "12:00", "13:00"):
        moved = await clinic.http.post(f"/manage/{token}/reschedule", data={"date": "2030-12-05", "time": at})
        assert moved.status_code == 303, at
    response = await clinic.http.post(f"/manage/{token}/reschedule", data={"date": "2030-12-05", "time": "14:00"})
    page = html_page(response, 429)
    # The limit counts per UTC day; at 07:00 UTC the window turns in 17 hours.
    assert response.headers["retry-after"] == str(17 * 3600) and "in about 17 hours" in page.html
    assert "+49 30 1234567" in page.html
