"""What the console's appointment pages show: the agenda per doctor in clinic time, and the list's filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from domain.booking import NOT_CANCELLED, StaffAppointment, StatusFilter
from models.enums import AppointmentStatus
from web.console import safe_next
from web.forms import bounded
from web.picker import parse_day

AGENDA = "/console/appointments"
View = Literal["day", "week"]
MAX_QUERY = 100
MAX_PAGE = 10_000
STATUS_LABELS = {
    AppointmentStatus.BOOKED: "Booked",
    AppointmentStatus.COMPLETED: "Completed",
    AppointmentStatus.NO_SHOW: "No-show",
    AppointmentStatus.CANCELLED: "Cancelled",
}
# The list's status choices: (value, label); "" is any status.
STATUS_CHOICES = [("", "Any"), (NOT_CANCELLED, "Not cancelled")] + [(s.value, STATUS_LABELS[s]) for s in STATUS_LABELS]
# What a finished action says on the page it returns to (?done=<key>); fixed texts, nothing from the request.
DONE = {
    AppointmentStatus.COMPLETED.value: "The appointment was marked as completed.",
    AppointmentStatus.NO_SHOW.value: "The appointment was marked as a no-show.",
    AppointmentStatus.CANCELLED.value: "The appointment was cancelled; its time is free again.",
    "booked": "The appointment is booked; the patient gets a confirmation email with their private link.",
    "sms": "The booking link was sent by SMS.",
}


@dataclass(frozen=True)
class Row:
    """One appointment as staff read it, in the clinic's timezone."""

    id: str
    day: date
    time: str  # start and end, "09:00" to "09:30" with an en dash
    duration_minutes: int
    doctor: str
    patient: str
    email: str
    service: str
    status: str
    status_label: str
    open: bool  # still booked: it can be marked completed, no-show or cancelled


def staff_row(item: StaffAppointment, zone: ZoneInfo) -> Row:
    """An appointment with its patient, for the agenda and the list."""
    a = item.appointment
    start = a.start.astimezone(zone)
    end = start + timedelta(minutes=a.duration_minutes)
    return Row(
        id=a.id,
        day=start.date(),
        time=f"{start:%H:%M}\N{EN DASH}{end:%H:%M}",
        duration_minutes=a.duration_minutes,
        doctor=a.doctor,
        patient=item.patient.name if item.patient else "Unknown patient",
        email=(item.patient.email or "") if item.patient else "",
        service=a.service,
        status=a.status.value,
        status_label=STATUS_LABELS.get(a.status, a.status.value),
        open=a.status == AppointmentStatus.BOOKED,
    )


@dataclass(frozen=True)
class AgendaDay:
    """One local day of one doctor."""

    day: date
    rows: list[Row]


@dataclass(frozen=True)
class DoctorAgenda:
    """One doctor's days."""

    doctor: str
    days: list[AgendaDay]


@dataclass
class AgendaQuery:
    """What the agenda shows, read from its address; `problems` say what was wrong with it."""

    view: View
    day: date
    doctor: str | None  # None: every doctor
    problems: list[str] = field(default_factory=list)

    @property
    def first(self) -> date:
        """The first day shown (a week starts on Monday)."""
        return self.day - timedelta(days=self.day.weekday()) if self.view == "week" else self.day

    @property
    def days(self) -> list[date]:
        """Every day shown."""
        return [self.first + timedelta(days=i) for i in range(7 if self.view == "week" else 1)]

    def href(self, *, day: date | None = None, view: View | None = None) -> str:
        """This agenda for another day or view, keeping the doctor."""
        params = {"view": view or self.view, "date": (day or self.day).isoformat()}
        if self.doctor:
            params["doctor"] = self.doctor
        return f"{AGENDA}?{urlencode(params)}"

    def step(self, direction: int) -> str:
        """The previous (-1) or next (+1) day or week."""
        return self.href(day=self.day + timedelta(days=direction * len(self.days)))


def read_agenda(
    view: str | None, day: str | None, doctor: str | None, *, today: date, doctors: list[str]
) -> AgendaQuery:
    """The agenda's view, day and doctor; a bad value is a problem and falls back to the default."""
    query = AgendaQuery("day", today, None)
    view_text, day_text, doctor_text = bounded(view, 10), bounded(day, 10), bounded(doctor, 200)
    if view_text in ("day", "week"):
        query.view = "week" if view_text == "week" else "day"
    elif view_text:
        query.problems.append("View must be day or week.")
    if day_text:
        parsed = parse_day(day_text)
        if parsed is None:
            query.problems.append("Date must be a date like 2030-12-02.")
        else:
            query.day = parsed
    if doctor_text in doctors:
        query.doctor = doctor_text
    elif doctor_text not in ("", "all"):
        query.problems.append(f"Doctor must be all or one of: {', '.join(doctors)}.")
    return query


def group_agenda(rows: list[Row], *, doctors: list[str], days: list[date]) -> list[DoctorAgenda]:
    """Rows by doctor (the clinic's order, then any other doctor found) and by day."""
    names = list(dict.fromkeys([*doctors, *(r.doctor for r in rows)]))
    return [
        DoctorAgenda(name, [AgendaDay(d, [r for r in rows if r.doctor == name and r.day == d]) for d in days])
        for name in names
    ]


@dataclass
class ListQuery:
    """The list's filters, read from its address; `problems` say what was wrong with them."""

    q: str
    first: date | None
    last: date | None
    status: StatusFilter | None
    page: int
    shown: dict[str, str]  # the values as typed, for the form
    problems: list[str] = field(default_factory=list)


def _day(name: str, text: str, problems: list[str]) -> date | None:
    """The date typed into a filter (None when empty); a malformed one is a problem."""
    parsed = parse_day(text) if text else None
    if text and parsed is None:
        problems.append(f"{name} must be a date like 2030-12-01.")
    return parsed


def read_list(q: str | None, first: str | None, last: str | None, status: str | None, page: str | None) -> ListQuery:
    """The list's search, local date range, status (or not_cancelled) and page."""
    query_text, first_text, last_text = (q or "").strip(), bounded(first, 20), bounded(last, 20)
    status_text, page_text = bounded(status, 20), bounded(page, 10)
    shown = {"q": query_text[:MAX_QUERY], "from": first_text, "to": last_text, "status": status_text}
    query = ListQuery(query_text[:MAX_QUERY], None, None, None, 1, shown)
    if len(query_text) > MAX_QUERY:
        query.problems.append(f"Search must be at most {MAX_QUERY} characters.")
    query.first = _day("From", first_text, query.problems)
    query.last = _day("To", last_text, query.problems)
    if query.first and query.last and query.first > query.last:
        query.problems.append("From must not be after To.")
    if status_text == NOT_CANCELLED:
        query.status = NOT_CANCELLED
    elif status_text in {s.value for s in AppointmentStatus}:
        query.status = AppointmentStatus(status_text)
    elif status_text:
        query.problems.append(f"Status must be one of: {', '.join(v for v, _ in STATUS_CHOICES if v)} (or empty).")
    if page_text:
        if page_text.isdigit() and 1 <= int(page_text) <= MAX_PAGE:
            query.page = int(page_text)
        else:
            query.problems.append(f"Page must be a whole number from 1 to {MAX_PAGE}.")
    return query


def here(path: str, query: str) -> str:
    """The page's own address without its `done` notice: where an action on it returns to."""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "done"]
    return f"{path}?{urlencode(kept)}" if kept else path


def back_with_notice(next_path: str | None, done: str) -> str:
    """The safe local page staff came from (else the agenda), with the notice of what was done."""
    target = safe_next(next_path)
    if target != next_path:
        target = AGENDA
    parts = urlsplit(target)
    kept = here(parts.path, parts.query)
    return f"{kept}{'&' if '?' in kept else '?'}{urlencode({'done': done})}"
