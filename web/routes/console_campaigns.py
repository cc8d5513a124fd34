"""The console's campaigns: the filtered list, a campaign with its patient and conversation, lifecycle actions."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import CampaignAdminServiceDep, ClientIP
from core.errors import Conflict, NotFound, Unprocessable
from core.names import clean_person_name
from core.phone import PHONE_INPUT_PATTERN
from domain.audit import Actor
from domain.campaign_start import ActiveCampaignExists, NewCampaign
from domain.campaigns import NewPatient
from domain.campaigns_admin import ACTIVE_GROUP, SORTS, CampaignAdminService, CampaignFilters, StatusFilter
from domain.console_sessions import SignedIn
from models.campaign import CampaignDetail, CampaignSummary
from models.enums import ACTIVE_STATUSES, CampaignStatus, CampaignType, Channel, Direction
from models.patient import Patient
from web.console import CampaignId, ConsoleForm, ConsoleUser, console_page, is_id, pager
from web.forms import MAX_EMAIL, MAX_NAME, MAX_PHONE, SEE_OTHER, FormText, bounded, sentence
from web.picker import parse_day

router = APIRouter(include_in_schema=False)

LIST = "/console/campaigns"
NEW = "/console/campaigns/new"
PAGE_SIZE = 25
MAX_PAGE = 10_000
MAX_Q = 100
MAX_NOTE = 2000
MAX_ATTEMPTS = 10
# One more than an id: a longer value then fails the shape check instead of being cut into another valid id.
ID_BOUND = 25
_PHONE = re.compile(PHONE_INPUT_PATTERN)
_PAGE = re.compile(r"^[0-9]{1,5}$")

TYPE_LABELS = {CampaignType.RECOVERY: "Recovery", CampaignType.RECALL: "Recall"}
STATUS_LABELS = {
    CampaignStatus.ATTEMPTING_RECOVERY: "Contacting (recovery)",
    CampaignStatus.ATTEMPTING_RECALL: "Contacting (recall)",
    CampaignStatus.ENGAGED: "Engaged",
    CampaignStatus.HANDOFF: "Waiting for staff (handoff)",
    CampaignStatus.BOOKING_COMPLETED: "Booked (converted)",
    CampaignStatus.DECLINED: "Declined",
    CampaignStatus.FAILED: "Failed",
    CampaignStatus.PAUSED: "Paused",
}
CHANNEL_LABELS = {Channel.EMAIL: "Email", Channel.SMS: "SMS", Channel.CALL: "Phone call"}
SORT_LABELS = {
    "-updated_at": "Last updated, newest first",
    "updated_at": "Last updated, oldest first",
    "-created_at": "Created, newest first",
    "created_at": "Created, oldest first",
}
DATE_LABELS = {
    "created_from": "Created from",
    "created_to": "Created to",
    "converted_from": "Converted from",
    "converted_to": "Converted to",
}
FILTER_NAMES = ("type", "status", "q", *DATE_LABELS, "sort")
DONE_NOTICES = {
    "created": "The campaign is started; its first attempt is due now.",
    "paused": "The campaign is paused: no messages are sent until it is resumed.",
    "resumed": "The campaign is resumed; its next attempt is due now.",
    "engaged": "The handoff is resolved: the conversation goes on (engaged).",
    "closed": "The handoff is resolved: the campaign is closed (declined).",
}
OUTCOMES: dict[str, Literal["engaged", "closed"]] = {"engaged": "engaged", "closed": "closed"}


def actor_of(user: SignedIn, ip: str | None) -> Actor:
    """Who acts, for the audit trail: the staff member's email and address."""
    return Actor(user.user.email, ip)


def detail_path(campaign_id: str) -> str:
    """The campaign's page."""
    return f"{LIST}/{campaign_id}"


def clinic_time(at: datetime | None, zone: ZoneInfo) -> str:
    """'2030-12-02 09:30' in clinic time, or a dash."""
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M}" if at else "—"


# ---- the list -------------------------------------------------------------------------------------------------


@dataclass
class ListForm:
    """The list's filters as typed (bounded, for redisplay), what they mean, and what is wrong with them."""

    values: dict[str, str]
    filters: CampaignFilters
    page: int
    errors: dict[str, str] = field(default_factory=dict)


def read_filters(params: Mapping[str, str]) -> ListForm:
    """The filters from the address; each bad value is a sentence under its field."""
    values = {name: bounded(params.get(name), MAX_Q if name == "q" else 40) for name in FILTER_NAMES}
    errors: dict[str, str] = {}
    campaign_type = None
    if values["type"]:
        try:
            campaign_type = CampaignType(values["type"])
        except ValueError:
            errors["type"] = "Type must be RECOVERY or RECALL."
    status: StatusFilter | None = None
    if values["status"] == ACTIVE_GROUP:
        status = "active"
    elif values["status"]:
        try:
            status = CampaignStatus(values["status"])
        except ValueError:
            errors["status"] = f"Status must be {ACTIVE_GROUP} or one of {', '.join(CampaignStatus)}."
    if len((params.get("q") or "").strip()) > MAX_Q:
        errors["q"] = f"The search must be at most {MAX_Q} characters."
    days = {}
    for name, label in DATE_LABELS.items():
        days[name] = parse_day(values[name])
        if values[name] and days[name] is None:
            errors[name] = f"{label} must be a date like 2030-12-02."
    for what in ("created", "converted"):
        start, end = days[f"{what}_from"], days[f"{what}_to"]
        if start and end and start > end:
            errors[f"{what}_to"] = f"{what.capitalize()} to must not be before {what} from."
    sort = values["sort"] or SORTS[0]
    if sort not in SORTS:
        errors["sort"] = f"Sort must be one of {', '.join(SORTS)}."
    raw_page = (params.get("page") or "1").strip()
    page = int(raw_page) if _PAGE.match(raw_page) else 0
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = f"The page must be a whole number from 1 to {MAX_PAGE}."
    filters = CampaignFilters(
        campaign_type=campaign_type,
        status=status,
        q=values["q"] or None,
        created_from=days["created_from"],
        created_to=days["created_to"],
        converted_from=days["converted_from"],
        converted_to=days["converted_to"],
        sort=sort,
    )
    return ListForm(values, filters, max(page, 1), errors)


def list_row(row: CampaignSummary, zone: ZoneInfo) -> dict[str, Any]:
    """One row of the list."""
    c = row.campaign
    return {
        "href": detail_path(c.id),
        "id": c.id,
        "patient": row.patient_name or "(no patient record)",
        "email": row.patient_email or "",
        "type": TYPE_LABELS[c.campaign_type],
        "status": STATUS_LABELS[c.status],
        "channel": CHANNEL_LABELS[c.channel],
        "attempts": f"{c.follow_up_details.attempts_made} of {c.follow_up_details.max_attempts}",
        "created": clinic_time(c.created_at, zone),
        "updated": clinic_time(c.updated_at, zone),
        "converted": clinic_time(c.converted_at, zone),
    }


def choices() -> dict[str, Any]:
    """The options of the filter and new-campaign forms."""
    return {
        "types": TYPE_LABELS,
        "statuses": STATUS_LABELS,
        "channels": CHANNEL_LABELS,
        "sorts": SORT_LABELS,
        "date_labels": DATE_LABELS,
    }


@router.get(LIST, response_class=HTMLResponse)
async def campaigns(request: Request, user: ConsoleUser, admin: CampaignAdminServiceDep, ip: ClientIP) -> HTMLResponse:
    """The campaigns, filtered, sorted and paged (25 a page); bad filters are a 422 page saying what is wrong."""
    form = read_filters(request.query_params)
    context: dict[str, Any] = {
        **choices(),
        "values": form.values,
        "errors": form.errors,
        "rows": [],
        "pager": None,
        "zone": admin.settings.TZ,
    }
    if form.errors:
        return console_page(request, "console/campaigns.html", user, "campaigns", context, status_code=422)
    items, total = await admin.list_campaigns(actor_of(user, ip), form.filters, page=form.page, page_size=PAGE_SIZE)
    context["rows"] = [list_row(row, admin.settings.zone) for row in items]
    context["pager"] = pager(request, page=form.page, page_size=PAGE_SIZE, total=total)
    return console_page(request, "console/campaigns.html", user, "campaigns", context)


# ---- new campaign ---------------------------------------------------------------------------------------------


@dataclass
class NewForm:
    """The new-campaign form as typed (bounded, for redisplay) and what is wrong with it."""

    patient_id: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    campaign_type: str = ""
    channel: str = Channel.EMAIL.value
    max_attempts: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def read_new(form: NewForm) -> NewCampaign | None:
    """The campaign to start, or None with the form's errors filled in."""
    errors = form.errors
    patient = None
    if not form.patient_id:
        try:
            form.name = clean_person_name(form.name)
        except ValueError as exc:
            errors["name"] = f"The name {exc}."
        if form.email:
            try:
                form.email = validate_email(form.email, check_deliverability=False).normalized
            except EmailNotValidError:
                errors["email"] = "Please enter a valid email address, like name@example.com."
        if form.phone and not _PHONE.match(form.phone):
            errors["phone"] = "Please enter a phone number with digits only, like +49 30 1234567."
        if not form.email and not form.phone:
            errors["email"] = "Please enter an email address or a phone number."
        patient = NewPatient(name=form.name, email=form.email or None, phone=form.phone or None)
    campaign_type = next((t for t in CampaignType if t.value == form.campaign_type), None)
    if campaign_type is None:
        errors["campaign_type"] = "Please choose the type: recovery or recall."
    channel = next((c for c in Channel if c.value == form.channel), None)
    if channel is None:
        errors["channel"] = "Please choose the channel: email, SMS or phone call."
    attempts = int(form.max_attempts) if form.max_attempts.isdigit() else None
    if form.max_attempts and not (attempts and 1 <= attempts <= MAX_ATTEMPTS):
        errors["max_attempts"] = f"Max attempts must be a whole number from 1 to {MAX_ATTEMPTS} (or left empty)."
    if errors or campaign_type is None or channel is None:
        return None
    return NewCampaign(
        campaign_type=campaign_type,
        patient_id=form.patient_id or None,
        patient=patient,
        channel=channel,
        max_attempts=attempts,
    )


async def known_patient(admin: CampaignAdminService, actor: Actor, patient_id: str) -> Patient | None:
    """The existing patient the form is for (404 page for an id of the wrong shape or unknown), or None."""
    if not patient_id:
        return None
    if not is_id(patient_id):
        raise NotFound("There is no such patient.", error="patient_not_found")
    return await admin.patient(actor, patient_id)


def render_new(
    request: Request,
    user: SignedIn,
    form: NewForm,
    patient: Patient | None,
    *,
    message: str | None = None,
    active_href: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The new-campaign form with what was entered."""
    context = {**choices(), "form": form, "patient": patient, "message": message, "active_href": active_href}
    return console_page(request, "console/campaign_new.html", user, "campaigns", context, status_code=status_code)


@router.get(NEW, response_class=HTMLResponse)
async def new_campaign_page(
    request: Request, user: ConsoleUser, admin: CampaignAdminServiceDep, ip: ClientIP, patient_id: str = ""
) -> HTMLResponse:
    """The form to start a campaign, for a new patient or (with `patient_id`) an existing one."""
    patient = await known_patient(admin, actor_of(user, ip), bounded(patient_id, ID_BOUND))
    return render_new(request, user, NewForm(patient_id=patient.id if patient else ""), patient)


@router.post(NEW, response_class=HTMLResponse)
async def new_campaign(
    request: Request,
    user: ConsoleForm,
    admin: CampaignAdminServiceDep,
    ip: ClientIP,
    patient_id: FormText = "",
    name: FormText = "",
    email: FormText = "",
    phone: FormText = "",
    campaign_type: FormText = "",
    channel: FormText = "",
    max_attempts: FormText = "",
) -> Response:
    """Start the campaign through the API's use case, then its page (303); 422/409 show the form again."""
    actor = actor_of(user, ip)
    form = NewForm(
        patient_id=bounded(patient_id, ID_BOUND),
        name=bounded(name, MAX_NAME),
        email=bounded(email, MAX_EMAIL),
        phone=bounded(phone, MAX_PHONE),
        campaign_type=bounded(campaign_type, 20),
        channel=bounded(channel, 20),
        max_attempts=bounded(max_attempts, 5),
    )
    patient = await known_patient(admin, actor, form.patient_id)
    new = read_new(form)
    if new is None:
        return render_new(request, user, form, patient, status_code=422)
    try:
        created = await admin.create(actor, new)
    except ActiveCampaignExists as exc:
        href = detail_path(exc.campaign_id) if exc.campaign_id else None
        return render_new(request, user, form, patient, message=sentence(exc.detail), active_href=href, status_code=409)
    except Unprocessable as exc:
        target = {"patient.phone": "phone"}.get(exc.field or "")
        if target:
            form.errors[target] = sentence(exc.detail.removeprefix("patient."))
        return render_new(
            request, user, form, patient, message=None if target else sentence(exc.detail), status_code=422
        )
    return RedirectResponse(f"{detail_path(created.campaign.id)}?done=created", status_code=SEE_OTHER)


# ---- one campaign ---------------------------------------------------------------------------------------------


def patient_card(patient: Patient, zone: ZoneInfo) -> dict[str, Any]:
    """The patient's contact details, consent per channel and opt-outs."""
    consent = []
    for channel in Channel:
        given = getattr(patient.consent, channel.value)
        consent.append(
            {
                "key": channel.value,
                "channel": CHANNEL_LABELS[channel],
                "status": given.status.value,
                "source": given.source or "",
                "by": given.by or "",
                "at": clinic_time(given.at, zone) if given.at else "",
                "opted_out": channel in patient.opted_out_channels,
            }
        )
    return {
        "id": patient.id,
        "name": patient.name,
        "email": patient.email or "—",
        "phone": patient.phone or "—",
        "timezone": patient.timezone or "not set (clinic time)",
        "consent": consent,
        "opted_out": [CHANNEL_LABELS[c] for c in patient.opted_out_channels],
    }


def detail_context(found: CampaignDetail, zone: ZoneInfo) -> dict[str, Any]:
    """The campaign's fields, its patient and its conversation, oldest first, times in clinic time."""
    c = found.campaign
    handoff = c.handoff
    return {
        "campaign": {
            "id": c.id,
            "type": TYPE_LABELS[c.campaign_type],
            "status": STATUS_LABELS[c.status],
            "status_value": c.status.value,
            "channel": CHANNEL_LABELS[c.channel],
            "attempts": f"{c.follow_up_details.attempts_made} of {c.follow_up_details.max_attempts}",
            "next_follow_up": clinic_time(c.follow_up_details.next_follow_up_at, zone),
            "last_attempt": clinic_time(c.follow_up_details.last_attempt_at, zone),
            "summary": c.engagement_summary,
            "failure_reason": c.failure_reason,
            "converted": clinic_time(c.converted_at, zone) if c.converted_at else None,
            "created": clinic_time(c.created_at, zone),
            "updated": clinic_time(c.updated_at, zone),
            "handoff": {
                "reason": handoff.reason,
                "at": clinic_time(handoff.at, zone),
                "resolved": clinic_time(handoff.resolved_at, zone) if handoff.resolved_at else None,
                "note": handoff.note,
            }
            if handoff
            else None,
            "can_pause": c.status in ACTIVE_STATUSES,
            "can_resume": c.status == CampaignStatus.PAUSED,
            "in_handoff": c.status == CampaignStatus.HANDOFF,
        },
        "patient": patient_card(found.patient, zone) if found.patient else None,
        "conversation": [
            {
                "id": i.id,
                "incoming": i.direction == Direction.INCOMING,
                "who": "From the patient" if i.direction == Direction.INCOMING else "To the patient",
                "channel": CHANNEL_LABELS[i.channel],
                "at": clinic_time(i.timestamp, zone),
                "intent": i.intent.value.replace("_", " ") if i.intent else None,
                "summary": i.summary,
                "body": i.body,
            }
            for i in found.conversation
        ],
    }


async def render_detail(
    request: Request,
    user: SignedIn,
    admin: CampaignAdminService,
    actor: Actor,
    campaign_id: str,
    *,
    done: str | None = None,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    note: str = "",
    outcome: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The campaign's page (after a refused action: with what went wrong and what was entered)."""
    found = await admin.detail(actor, campaign_id)
    context = {
        **detail_context(found, admin.settings.zone),
        "zone": admin.settings.TZ,
        "done_notice": DONE_NOTICES.get(done or ""),
        "message": message,
        "errors": errors or {},
        "note": note,
        "outcome": outcome,
    }
    return console_page(request, "console/campaign.html", user, "campaigns", context, status_code=status_code)


@router.get(LIST + "/{campaign_id}", response_class=HTMLResponse)
async def campaign(
    request: Request,
    campaign_id: CampaignId,
    user: ConsoleUser,
    admin: CampaignAdminServiceDep,
    ip: ClientIP,
    done: str | None = None,
) -> HTMLResponse:
    """A campaign: its patient (consent, opt-outs), its fields and its conversation; `done` names what just happened."""
    return await render_detail(request, user, admin, actor_of(user, ip), campaign_id, done=done)


async def act(
    request: Request,
    user: SignedIn,
    admin: CampaignAdminService,
    actor: Actor,
    campaign_id: str,
    *,
    done: str,
    action: Callable[[], Awaitable[object]],
) -> Response:
    """Run a lifecycle action, then back to the campaign (303); a transition that does not apply is a 409 page."""
    try:
        await action()
    except Conflict as exc:
        return await render_detail(
            request, user, admin, actor, campaign_id, message=sentence(exc.detail), status_code=409
        )
    return RedirectResponse(f"{detail_path(campaign_id)}?done={done}", status_code=SEE_OTHER)


@router.post(LIST + "/{campaign_id}/pause", response_class=HTMLResponse)
async def pause(
    request: Request, campaign_id: CampaignId, user: ConsoleForm, admin: CampaignAdminServiceDep, ip: ClientIP
) -> Response:
    """Stop outreach until resumed."""
    actor = actor_of(user, ip)
    return await act(
        request, user, admin, actor, campaign_id, done="paused", action=lambda: admin.pause(actor, campaign_id)
    )


@router.post(LIST + "/{campaign_id}/resume", response_class=HTMLResponse)
async def resume(
    request: Request, campaign_id: CampaignId, user: ConsoleForm, admin: CampaignAdminServiceDep, ip: ClientIP
) -> Response:
    """Contact the patient again, the next attempt due now."""
    actor = actor_of(user, ip)
    return await act(
        request, user, admin, actor, campaign_id, done="resumed", action=lambda: admin.resume(actor, campaign_id)
    )


@router.post(LIST + "/{campaign_id}/resolve-handoff", response_class=HTMLResponse)
async def resolve_handoff(
    request: Request,
    campaign_id: CampaignId,
    user: ConsoleForm,
    admin: CampaignAdminServiceDep,
    ip: ClientIP,
    note: FormText = "",
    outcome: FormText = "",
) -> Response:
    """Close the handoff with a note: back to engaged, or closed; a missing note or outcome is a 422 page."""
    actor = actor_of(user, ip)
    text = note.strip()
    chosen = OUTCOMES.get(outcome)
    errors: dict[str, str] = {}
    if not text:
        errors["note"] = "Please write a note on how the handoff was resolved."
    elif len(text) > MAX_NOTE:
        errors["note"] = f"The note must be at most {MAX_NOTE} characters."
    if chosen is None:
        errors["outcome"] = "Please choose how it goes on: back to engaged, or closed."
    if errors or chosen is None:
        return await render_detail(
            request,
            user,
            admin,
            actor,
            campaign_id,
            errors=errors,
            note=bounded(note, MAX_NOTE),
            outcome=chosen or "",
            status_code=422,
        )
    return await act(
        request,
        user,
        admin,
        actor,
        campaign_id,
        done=chosen,
        action=lambda: admin.resolve_handoff(actor, campaign_id, note=text, outcome=chosen),
    )
