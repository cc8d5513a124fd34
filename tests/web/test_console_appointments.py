"""The console's appointments: agenda per doctor in clinic time, the list and its not_cancelled total, status
changes, booking for a caller with the public picker and guards, the booking link by SMS."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.config import Settings
from core.container import Container
from main import create_app
from models.appointment import Appointment
from models.base import new_id
from models.enums import AppointmentStatus
from models.patient import Patient
from tests.fakes.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.web.conftest import Clinic
from tests.web.console import signed_in
from tests.web.pages import Page, html_page

BERLIN = ZoneInfo("Europe/Berlin")
STAFF = "staff@clinic.test"
AGENDA = "/console/appointments"
WEDNESDAY = date(2030, 12, 4)


@dataclass
class Desk:
    """A signed-in staff member's client, the app's container and the session's CSRF token."""

    http: httpx.AsyncClient
    container: Container
    csrf: str


@pytest.fixture
async def desk(clinic: Clinic) -> Desk:
    """Staff signed in to the clinic's console (Monday 2 December 2030, 08:00 in Berlin; Dr. Smith and Dr. Patel)."""
    return Desk(clinic.http, clinic.container, await signed_in(clinic.http, clinic.container, STAFF))


async def seed(
    container: Container,
    local: datetime,
    *,
    doctor: str = "Dr. Smith",
    name: str = "Ann Lee",
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    duration: int = 30,
) -> Appointment:
    """An appointment at a Berlin wall time (stored in UTC) for a patient of that name."""
    now = container.clock.now()
    email = f"{name.lower().replace(' ', '.')}@example.com"
    patient = await container.repos.patients.get_by_email(email)
    if patient is None:
        patient = await container.repos.patients.insert(
            Patient(id=new_id(), name=name, email=email, created_at=now, updated_at=now)
        )
    appointment = Appointment(
        id=new_id(),
        patient_id=patient.id,
        doctor=doctor,
        service="Check-up" if duration == 30 else "Filling",
        start=local.replace(tzinfo=BERLIN).astimezone(ZoneInfo("UTC")),
        duration_minutes=duration,  # type: ignore[arg-type]
        status=status,
        created_at=now,
        updated_at=now,
    )
    return await container.repos.appointments.insert(appointment)


def sections(page: Page) -> dict[str, str]:
    """The agenda's HTML per doctor (each doctor's section up to the next)."""
    parts = re.split(r'<h2 id="doctor-\d+-heading">', page.html)[1:]
    return {part.split("</h2>", 1)[0]: part for part in parts}


def days(html: str) -> dict[str, str]:
    """A week's HTML per day heading."""
    parts = re.split(r'<h3 class="agenda-day">', html)[1:]
    return {part.split("</h3>", 1)[0]: part for part in parts}


def booking_form(**extra: str) -> dict[str, str]:
    """The console's booking form as the page posts it (Wednesday 4 December at 10:00 unless `extra` says)."""
    return {
        "service": "Check-up",
        "doctor": "Dr. Smith",
        "date": WEDNESDAY.isoformat(),
        "time": "10:00",
        "name": "Carl Caller",
        "email": "carl@example.com",
        "phone": "+49 30 5550000",
        **extra,
    }


async def actions(container: Container, prefix: str) -> list[tuple[str, str]]:
    """The staff member's audit records of that kind, oldest first."""
    records, _ = await container.repos.audit.page(skip=0, limit=100, actor=STAFF)
    return [(r.action, r.resource) for r in reversed(records) if r.action.startswith(prefix)]


# ---- the agenda -----------------------------------------------------------------------------------------------


async def test_the_agenda_shows_today_per_doctor_in_clinic_time(desk: Desk) -> None:
    c = desk.container
    smith = await seed(c, datetime(2030, 12, 2, 10, 0), name="Ann Lee")
    patel = await seed(c, datetime(2030, 12, 2, 11, 30), doctor="Dr. Patel", name="Bob Roe", duration=45)
    early = await seed(c, datetime(2030, 12, 2, 0, 15), name="Early Bird")  # 23:15 UTC the day before
    late = await seed(c, datetime(2030, 12, 1, 23, 45), name="Late Owl")  # 22:45 UTC on 1 December
    tomorrow = await seed(c, datetime(2030, 12, 3, 9, 0), name="Next Day")
    done = await seed(c, datetime(2030, 12, 2, 9, 0), name="Done Already", status=AppointmentStatus.COMPLETED)

    page = html_page(await desk.http.get(AGENDA), 200)

    assert page.h1 == "Appointments" and "Monday 2 December 2030 (today)" in page.html
    assert "times in Europe/Berlin" in page.html
    assert page.ids["nav-appointments"]["aria-current"] == "page"
    by_doctor = sections(page)
    assert list(by_doctor) == ["Dr. Smith", "Dr. Patel"]
    assert f"appointment-{smith.id}" in by_doctor["Dr. Smith"] and f"appointment-{early.id}" in by_doctor["Dr. Smith"]
    assert f"appointment-{patel.id}" in by_doctor["Dr. Patel"]
    assert f"appointment-{patel.id}" not in by_doctor["Dr. Smith"]
    assert f"appointment-{late.id}" not in page.ids and f"appointment-{tomorrow.id}" not in page.ids
    assert "10:00\N{EN DASH}10:30" in by_doctor["Dr. Smith"] and "00:15\N{EN DASH}00:45" in by_doctor["Dr. Smith"]
    assert "11:30\N{EN DASH}12:15" in by_doctor["Dr. Patel"] and "Bob Roe" in by_doctor["Dr. Patel"]
    assert "Filling" in by_doctor["Dr. Patel"] and page.ids[f"status-label-{smith.id}"]["tag"] == "td"
    # Booked ones have the three actions; a completed one has none.
    for action in ("completed", "no_show", "cancelled"):
        assert page.ids[f"{action}-{smith.id}"]["value"] == action
        assert f"{action}-{done.id}" not in page.ids
    assert page.ids[f"status-{smith.id}"]["action"] == f"/console/appointments/{smith.id}/status"
    assert page.hidden["next"] == AGENDA and page.hidden["csrf_token"] == desk.csrf
    assert parse_qs(urlsplit(page.ids["agenda-next"]["href"]).query) == {"view": ["day"], "date": ["2030-12-03"]}
    assert "date=2030-12-01" in page.ids["agenda-previous"]["href"]

    only_patel = html_page(await desk.http.get(AGENDA, params={"doctor": "Dr. Patel", "date": "2030-12-02"}), 200)
    assert list(sections(only_patel)) == ["Dr. Patel"] and f"appointment-{smith.id}" not in only_patel.ids
    assert "doctor=Dr.+Patel" in only_patel.ids["agenda-next"]["href"]
    assert only_patel.hidden["next"] == "/console/appointments?doctor=Dr.+Patel&date=2030-12-02"


async def test_the_week_agenda_follows_clinic_days_across_the_clock_change(desk: Desk) -> None:
    """Berlin leaves summer time on Sunday 27 October 2030: local midnight of the 28th is 23:00 UTC, not 22:00."""
    c = desk.container
    saturday = await seed(c, datetime(2030, 10, 26, 9, 0))  # 07:00 UTC (summer time)
    sunday_late = await seed(c, datetime(2030, 10, 27, 23, 30), name="Sun Late")  # 22:30 UTC (winter time)
    monday_early = await seed(c, datetime(2030, 10, 28, 0, 30), name="Mon Early")  # 23:30 UTC on the 27th
    monday = await seed(c, datetime(2030, 10, 28, 9, 0), doctor="Dr. Patel")  # 08:00 UTC

    week = html_page(await desk.http.get(AGENDA, params={"view": "week", "date": "2030-10-23"}), 200)
    assert "Week of Monday 21 October 2030 to Sunday 27 October 2030" in week.html
    smith = days(sections(week)["Dr. Smith"])
    week_days = [date(2030, 10, 21) + timedelta(n) for n in range(7)]
    assert list(smith) == [f"{d:%A} {d.day} October 2030" for d in week_days]
    assert f"appointment-{saturday.id}" in smith["Saturday 26 October 2030"]
    assert "09:00\N{EN DASH}09:30" in smith["Saturday 26 October 2030"]
    assert f"appointment-{sunday_late.id}" in smith["Sunday 27 October 2030"]
    assert "23:30\N{EN DASH}00:00" in smith["Sunday 27 October 2030"]
    assert f"appointment-{monday_early.id}" not in week.ids and f"appointment-{monday.id}" not in week.ids
    assert parse_qs(urlsplit(week.ids["agenda-next"]["href"]).query)["date"] == ["2030-10-30"]

    after = html_page(await desk.http.get(AGENDA, params={"view": "week", "date": "2030-10-28"}), 200)
    monday_html = days(sections(after)["Dr. Smith"])["Monday 28 October 2030"]
    assert f"appointment-{monday_early.id}" in monday_html and "00:30\N{EN DASH}01:00" in monday_html
    assert "09:00\N{EN DASH}09:30" in days(sections(after)["Dr. Patel"])["Monday 28 October 2030"]
    assert f"appointment-{sunday_late.id}" not in after.ids


async def test_bad_agenda_values_are_a_422_page_saying_what_is_wrong(desk: Desk) -> None:
    response = await desk.http.get(AGENDA, params={"view": "month", "date": "2030-13-01", "doctor": "Dr. Who"})
    page = html_page(response, 422)
    assert page.title.startswith("Error: ") and page.ids["form-alert"]["role"] == "alert"
    assert "View must be day or week." in page.html and "Date must be a date like 2030-12-02." in page.html
    assert "Doctor must be all or one of: Dr. Smith, Dr. Patel." in page.html


async def test_the_console_pages_need_a_signed_in_staff_member(clinic: Clinic) -> None:
    for path in (AGENDA, f"{AGENDA}/list", f"{AGENDA}/new", f"{AGENDA}/sms"):
        response = await clinic.http.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/console/login?next="), path


# ---- the list -------------------------------------------------------------------------------------------------


def total_of(page: Page) -> int:
    """The number the list says it found."""
    found = re.search(r'<strong id="total-count">(\d+)</strong> appointments? found\.</p>', page.html)
    assert found, page.html[:3000]
    return int(found.group(1))


async def test_the_dashboards_month_link_lists_exactly_the_kpis_appointments(desk: Desk) -> None:
    c = desk.container
    counted = [
        await seed(c, datetime(2030, 12, 1, 0, 15)),  # 23:15 UTC on 30 November: in the local month
        await seed(c, datetime(2030, 12, 31, 23, 30)),  # 22:30 UTC on 31 December
        await seed(c, datetime(2030, 12, 2, 9, 0), status=AppointmentStatus.COMPLETED),
        await seed(c, datetime(2030, 12, 2, 9, 30), status=AppointmentStatus.NO_SHOW),
    ]
    counted += [await seed(c, datetime(2030, 12, 3, 9, 0) + timedelta(minutes=30 * i), name="Many") for i in range(50)]
    await seed(c, datetime(2030, 12, 5, 9, 0), status=AppointmentStatus.CANCELLED)
    await seed(c, datetime(2030, 11, 30, 23, 30))  # 22:30 UTC on 30 November: not this month
    await seed(c, datetime(2031, 1, 1, 0, 10))  # 23:10 UTC on 31 December: next month

    kpi = (await c.dashboard().compute()).kpis.booked_appointments_this_month
    page = html_page(await desk.http.get(f"{AGENDA}/list?from=2030-12-01&to=2030-12-31&status=not_cancelled"), 200)

    assert total_of(page) == kpi == len(counted) == 54
    assert page.ids["list-status"]["tag"] == "select" and 'value="not_cancelled" selected' in page.html
    assert page.ids["list-from"]["value"] == "2030-12-01" and page.ids["list-to"]["value"] == "2030-12-31"
    assert page.ids["page-next"]["href"].endswith("status=not_cancelled&page=2")
    second = html_page(await desk.http.get(page.ids["page-next"]["href"]), 200)
    assert total_of(second) == 54 and "Page 2 of 2" in second.html
    assert second.html.count('<tr id="appointment-') == 4
    cancelled = html_page(await desk.http.get(f"{AGENDA}/list?from=2030-12-01&to=2030-12-31&status=cancelled"), 200)
    assert total_of(cancelled) == 1
    assert ("appointments.list", "appointments") in await actions(c, "appointments.list")


async def test_the_list_searches_patients_and_refuses_bad_values(desk: Desk) -> None:
    ann = await seed(desk.container, datetime(2030, 12, 4, 10, 0), name="Ann Lee")
    await seed(desk.container, datetime(2030, 12, 4, 11, 0), name="Bob Roe")
    found = html_page(await desk.http.get(f"{AGENDA}/list", params={"q": "ann"}), 200)
    assert total_of(found) == 1 and f"appointment-{ann.id}" in found.ids and "ann.lee@example.com" in found.html

    bad = {"from": "2030-12-40", "to": "yesterday", "status": "lost", "page": "0"}
    page = html_page(await desk.http.get(f"{AGENDA}/list", params=bad), 422)
    assert page.title.startswith("Error: ")
    for text in (
        "From must be a date like 2030-12-01.",
        "To must be a date like 2030-12-01.",
        "Status must be one of: not_cancelled, booked, completed, no_show, cancelled (or empty).",
        "Page must be a whole number from 1 to 10000.",
    ):
        assert text in page.html, text
    assert page.ids["list-from"]["value"] == "2030-12-40" and "list-total" not in page.ids
    backwards = html_page(await desk.http.get(f"{AGENDA}/list", params={"from": "2030-12-05", "to": "2030-12-01"}), 422)
    assert "From must not be after To." in backwards.html
    too_long = html_page(await desk.http.get(f"{AGENDA}/list", params={"q": "x" * 101}), 422)
    assert "Search must be at most 100 characters." in too_long.html


# ---- status changes -------------------------------------------------------------------------------------------


async def change(desk: Desk, appointment_id: str, status: str, *, back: str = AGENDA, **extra: str) -> httpx.Response:
    """Press one of the row's status buttons."""
    data = {"csrf_token": desk.csrf, "next": back, "status": status, **extra}
    return await desk.http.post(f"{AGENDA}/{appointment_id}/status", data=data)


async def test_a_status_change_is_audited_and_returns_to_the_page_with_a_notice(desk: Desk) -> None:
    appointment = await seed(desk.container, datetime(2030, 12, 2, 10, 0))
    back = "/console/appointments?view=week&date=2030-12-02&done=cancelled"

    response = await change(desk, appointment.id, "no_show", back=back)

    assert response.status_code == 303
    assert response.headers["location"] == "/console/appointments?view=week&date=2030-12-02&done=no_show"
    stored = await desk.container.repos.appointments.get(appointment.id)
    assert stored is not None and stored.status == AppointmentStatus.NO_SHOW
    assert await actions(desk.container, "appointments.set_status") == [
        ("appointments.set_status.no_show", f"appointments/{appointment.id}")
    ]
    page = html_page(await desk.http.get(response.headers["location"]), 200)
    assert "The appointment was marked as a no-show." in page.html and page.ids["done-notice"]["role"] == "status"
    assert page.ids[f"status-label-{appointment.id}"] and f"no_show-{appointment.id}" not in page.ids


@pytest.mark.parametrize("back", ["https://evil.example/console", "//evil.example", "/book", ""])
async def test_a_status_change_never_returns_off_the_console(desk: Desk, back: str) -> None:
    appointment = await seed(desk.container, datetime(2030, 12, 2, 10, 0))
    response = await change(desk, appointment.id, "completed", back=back)
    assert response.status_code == 303 and response.headers["location"] == "/console/appointments?done=completed"


async def test_an_impossible_change_is_409_and_an_unknown_appointment_404(desk: Desk) -> None:
    appointment = await seed(desk.container, datetime(2030, 12, 2, 10, 0), status=AppointmentStatus.COMPLETED)
    page = html_page(await change(desk, appointment.id, "cancelled"), 409)
    assert page.h1 == "This appointment cannot be changed" and "Appointment is already completed." in page.html
    for unknown in ("0" * 24, "not-an-id"):
        missing = html_page(await change(desk, unknown, "cancelled"), 404)
        assert missing.h1 == "Appointment not found"
    assert html_page(await change(desk, appointment.id, "booked"), 422).h1 == "This change is not possible"
    stored = await desk.container.repos.appointments.get(appointment.id)
    assert stored is not None and stored.status == AppointmentStatus.COMPLETED


async def test_without_the_csrf_token_nothing_changes(desk: Desk, clinic: Clinic) -> None:
    appointment = await seed(desk.container, datetime(2030, 12, 2, 10, 0))
    for token in ("", "forged"):
        response = await change(desk, appointment.id, "cancelled", csrf_token=token)
        assert html_page(response, 403)
        assert (await desk.http.post(f"{AGENDA}/new", data={**booking_form(), "csrf_token": token})).status_code == 403
        sms = await desk.http.post(f"{AGENDA}/sms", data={"name": "A", "phone": "+15551234567", "csrf_token": token})
        assert sms.status_code == 403
    stored = await desk.container.repos.appointments.get(appointment.id)
    assert stored is not None and stored.status == AppointmentStatus.BOOKED
    assert await desk.container.repos.appointments.count() == 1
    assert await actions(desk.container, "appointments.") == []


# ---- booking for a caller -------------------------------------------------------------------------------------


async def book(desk: Desk, **fields: str) -> httpx.Response:
    """Post the console's booking form."""
    return await desk.http.post(f"{AGENDA}/new", data={**booking_form(**fields), "csrf_token": desk.csrf})


async def test_the_booking_page_is_the_public_picker_for_staff(desk: Desk) -> None:
    page = html_page(await desk.http.get(f"{AGENDA}/new"), 200)
    assert page.h1 == "Book for a caller" and page.ids["nav-appointments"]["aria-current"] == "page"
    assert "<caption>December 2030</caption>" in page.html and page.hidden["date"] == "2030-12-02"
    assert page.times[0] == "10:00" and page.times[-1] == "20:00"  # two hours' notice from 08:00
    assert page.ids["day-2030-12-03"]["href"].startswith("/console/appointments/new?")
    assert page.ids["next-month"]["href"].startswith("/console/appointments/new?")
    assert page.ids["visit-form"]["action"] == "/console/appointments/new" and page.hidden["csrf_token"] == desk.csrf
    filling = html_page(await desk.http.get(f"{AGENDA}/new", params={"service": "Filling", "day": "2030-12-04"}), 200)
    assert filling.hidden["service"] == "Filling" and filling.times[-1] == "19:30"


async def test_booking_for_a_caller_goes_to_the_agenda_day_with_a_notice(desk: Desk, clinic: Clinic) -> None:
    response = await book(desk, time="10:30")

    assert response.status_code == 303
    assert response.headers["location"] == "/console/appointments?date=2030-12-04&done=booked"
    [stored] = [a async for a in _appointments(desk.container)]
    assert stored.start == datetime(2030, 12, 4, 10, 30, tzinfo=BERLIN) and stored.doctor == "Dr. Smith"
    patient = await desk.container.repos.patients.get(stored.patient_id)
    assert patient is not None and patient.name == "Carl Caller" and patient.email == "carl@example.com"
    assert await actions(desk.container, "appointments.book") == [("appointments.book", f"appointments/{stored.id}")]
    page = html_page(await desk.http.get(response.headers["location"]), 200)
    assert "The appointment is booked" in page.html and f"appointment-{stored.id}" in page.ids
    public = html_page(await clinic.http.get("/book", params={"day": "2030-12-04"}), 200)
    assert "10:30" not in public.times and "10:00" in public.times


async def _appointments(container: Container) -> AsyncIterator[Appointment]:
    items, _ = await container.repos.appointments.page(
        start_from=None, start_to=None, status=None, patient_ids=None, skip=0, limit=100
    )
    for item in items:
        yield item


async def test_a_taken_slot_shows_the_picker_again_and_cancelling_frees_it(desk: Desk) -> None:
    assert (await book(desk, email="first@example.com")).status_code == 303
    [first] = [a async for a in _appointments(desk.container)]

    page = html_page(await book(desk, name="Dora Second", email="dora@example.com"), 409)

    assert page.title.startswith("Error: ") and "That time is not available; please choose another slot." in page.html
    assert page.hidden["date"] == "2030-12-04" and "10:00" not in page.times and "10:30" in page.times
    assert page.ids["name"]["value"] == "Dora Second" and page.ids["email"]["value"] == "dora@example.com"
    assert await desk.container.repos.appointments.count() == 1

    assert (await change(desk, first.id, "cancelled")).status_code == 303
    again = await book(desk, name="Dora Second", email="dora@example.com")
    assert again.status_code == 303, again.text[:2000]
    assert await desk.container.repos.appointments.count() == 2


async def test_the_public_pages_guards_hold_for_staff_too(desk: Desk) -> None:
    inside_notice = html_page(await book(desk, date="2030-12-02", time="09:00"), 409)
    assert "not available" in inside_notice.html and inside_notice.times[0] == "10:00"
    beyond = html_page(await book(desk, date="2031-06-04"), 422)
    assert "bookable range" in beyond.html
    typed = html_page(await book(desk, name="", email="nope", time=""), 422)
    assert "Please enter your name." in typed.html and "Please choose a time." in typed.html
    assert typed.ids["email"]["aria-invalid"] == "true"
    assert await desk.container.repos.appointments.count() == 0


async def test_the_desk_is_not_held_to_the_per_address_booking_limit(
    make_settings: Callable[..., Settings], mongo_uri: str
) -> None:
    """Many callers are booked from the desk's one address; the public page's per-address limit would stop it."""
    app = create_app(make_settings(BOOKING_RATE_LIMIT_PER_IP=1, EMAIL_BACKEND="disabled"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        container = app.state.container
        desk = Desk(http, container, await signed_in(http, container, STAFF))
        first = html_page(await http.get(f"{AGENDA}/new"), 200)
        day, times = first.hidden["date"], first.times
        for n, at in enumerate(times[:3]):
            response = await book(desk, date=day, time=at, email=f"caller{n}@example.com")
            assert response.status_code == 303, response.text[:2000]


async def test_a_known_patient_is_prefilled(desk: Desk) -> None:
    appointment = await seed(desk.container, datetime(2030, 11, 20, 10, 0), name="Ann Lee")
    page = html_page(await desk.http.get(f"{AGENDA}/new", params={"patient_id": appointment.patient_id}), 200)
    assert page.ids["name"]["value"] == "Ann Lee" and page.ids["email"]["value"] == "ann.lee@example.com"
    assert page.hidden["patient_id"] == appointment.patient_id
    assert f"patient_id={appointment.patient_id}" in page.ids["day-2030-12-03"]["href"]
    assert await actions(desk.container, "patients.read") == [("patients.read", f"patients/{appointment.patient_id}")]
    for unknown in ("0" * 24, "nobody"):
        assert html_page(await desk.http.get(f"{AGENDA}/new", params={"patient_id": unknown}), 404)


# ---- the booking link by SMS ----------------------------------------------------------------------------------


@pytest.fixture
async def sms_desk(make_settings: Callable[..., Settings], twilio: FakeTwilio, mongo_uri: str) -> AsyncIterator[Desk]:
    """Staff signed in to a clinic whose SMS goes to the fake Twilio."""
    settings = make_settings(
        TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        TWILIO_PHONE_NUMBER="+15550009999",
        TWILIO_API_BASE_URL=twilio.url,
        CLINIC_NAME="Bright Smiles",
        EMAIL_BACKEND="disabled",
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        container = app.state.container
        yield Desk(http, container, await signed_in(http, container, STAFF))


async def text(desk: Desk, **fields: Any) -> httpx.Response:
    """Post the booking-link form."""
    return await desk.http.post(f"{AGENDA}/sms", data={"csrf_token": desk.csrf, **fields})


async def test_the_booking_link_is_texted_through_twilio(sms_desk: Desk, twilio: FakeTwilio) -> None:
    form = html_page(await sms_desk.http.get(f"{AGENDA}/sms"), 200)
    assert form.h1 == "Text the booking link" and "sms-not-ready" not in form.ids

    response = await text(sms_desk, name="Alice Smith", phone="+1 555 123 4567")

    assert response.status_code == 303 and response.headers["location"] == "/console/appointments/sms?done=sms"
    [sent] = twilio.messages
    assert sent.form["To"] == "+15551234567" and "Hi Alice" in sent.form["Body"]
    assert "Bright Smiles" in sent.form["Body"]
    assert await actions(sms_desk.container, "sms.") == [("sms.booking_link", "sms")]
    done = html_page(await sms_desk.http.get(response.headers["location"]), 200)
    assert "The booking link was sent by SMS." in done.html


async def test_a_bad_number_is_422_and_twilio_failing_is_502(sms_desk: Desk, twilio: FakeTwilio) -> None:
    page = html_page(await text(sms_desk, name="Alice", phone="555 123"), 422)
    assert "phone-error" in page.ids and "E.164" in page.html and page.ids["phone"]["value"] == "555 123"
    empty = html_page(await text(sms_desk, name="", phone=""), 422)
    shown = unescape(empty.html)
    assert "Please enter the caller's name." in shown and "Please enter the caller's mobile number." in shown
    assert twilio.messages == []
    twilio.fail_next_with_server_error()
    failed = html_page(await text(sms_desk, name="Alice", phone="+15551234567"), 502)
    assert failed.h1 == "The SMS was not sent"


async def test_sms_not_configured_is_a_409_page(desk: Desk) -> None:
    form = html_page(await desk.http.get(f"{AGENDA}/sms"), 200)
    assert "SMS is not set up" in form.html and form.ids["sms-not-ready"]["role"] == "status"
    page = html_page(await text(desk, name="Alice", phone="+15551234567"), 409)
    assert page.h1 == "SMS is not set up" and "SMS is not configured" in page.html
