"""The console's patients: search, create, edit, consent per channel, CSV import."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ClientIP, PatientAdminServiceDep
from api.v1.endpoints.admin_patients import csv_download
from core.errors import NotFound, Unprocessable
from domain.console_sessions import SignedIn
from domain.patient_rows import CONSENT_COLUMNS, check_contact, consent_status
from domain.patients_admin import (
    IMPORT_MAX_BYTES,
    IMPORT_MAX_ROWS,
    IMPORT_OPTIONAL,
    IMPORT_REQUIRED,
    MAX_SOURCE,
    DuplicatePatient,
    ImportTooLarge,
    OptedOut,
    PatientAdminService,
)
from models.enums import Channel, ConsentStatus
from models.patient import Patient, PatientImport
from web.console import ConsoleForm, ConsoleUser, console_page, is_id, pager
from web.forms import MAX_EMAIL, MAX_NAME, MAX_PHONE, SEE_OTHER, FormText, bounded, sentence
from web.routes.console_campaigns import (
    CHANNEL_LABELS,
    STATUS_LABELS,
    TYPE_LABELS,
    actor_of,
    clinic_time,
    patient_card,
)

router = APIRouter(include_in_schema=False)

LIST = "/console/patients"
NEW = LIST + "/new"
IMPORT = LIST + "/import"
# The body limit of the upload: the file plus room for the multipart framing.
BODY_LIMITS = {IMPORT: IMPORT_MAX_BYTES + 64 * 1024}
PAGE_SIZE = 25
MAX_PAGE = 10_000
MAX_Q = 100
MAX_ZONE = 64
_PAGE = re.compile(r"^[0-9]{1,5}$")
CONSENT_LABELS = {
    ConsentStatus.GRANTED: "Granted",
    ConsentStatus.REVOKED: "Revoked (opted out)",
    ConsentStatus.UNKNOWN: "Unknown",
}
DONE_NOTICES = {
    "created": "The patient is added.",
    "updated": "The patient's details are saved.",
    "consent": "The consent is recorded.",
}


def patient_path(patient_id: str) -> str:
    """The patient's page."""
    return f"{LIST}/{patient_id}"


def patient_id_path(patient_id: str) -> str:
    """The path's patient id when it has an id's shape (else the 404 page, before anything is read or audited)."""
    if not is_id(patient_id):
        raise NotFound("There is no patient at this address.", error="patient_not_found")
    return patient_id


PatientId = Annotated[str, Depends(patient_id_path)]


# ---- the list -------------------------------------------------------------------------------------------------


@router.get(LIST, response_class=HTMLResponse)
async def patients(
    request: Request, user: ConsoleUser, admin: PatientAdminServiceDep, ip: ClientIP, q: str = "", page: str = "1"
) -> HTMLResponse:
    """Patients by name, searched by name, email or phone, 25 a page; a bad search is a 422 page."""
    errors: dict[str, str] = {}
    if len(q.strip()) > MAX_Q:
        errors["q"] = f"The search must be at most {MAX_Q} characters."
    number = int(page) if _PAGE.match(page.strip()) else 0
    if not 1 <= number <= MAX_PAGE:
        errors["page"] = f"The page must be a whole number from 1 to {MAX_PAGE}."
    context: dict[str, Any] = {"q": bounded(q, MAX_Q), "errors": errors, "rows": [], "pager": None}
    if errors:
        return console_page(request, "console/patients.html", user, "patients", context, status_code=422)
    items, total = await admin.search(actor_of(user, ip), q.strip() or None, page=number, page_size=PAGE_SIZE)
    context["rows"] = [list_row(p) for p in items]
    context["pager"] = pager(request, page=number, page_size=PAGE_SIZE, total=total)
    return console_page(request, "console/patients.html", user, "patients", context)


def list_row(patient: Patient) -> dict[str, Any]:
    """One row of the list: contact and consent at a glance."""
    return {
        "id": patient.id,
        "href": patient_path(patient.id),
        "name": patient.name,
        "email": patient.email or "—",
        "phone": patient.phone or "—",
        "consent": ", ".join(f"{CHANNEL_LABELS[c]}: {getattr(patient.consent, c.value).status.value}" for c in Channel),
        "opted_out": ", ".join(CHANNEL_LABELS[c] for c in patient.opted_out_channels) or "—",
    }


# ---- new and edit ---------------------------------------------------------------------------------------------


@dataclass
class PatientForm:
    """The patient form as typed (bounded, for redisplay) and what is wrong with it."""

    name: str = ""
    email: str = ""
    phone: str = ""
    timezone: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def typed(cls, name: str, email: str, phone: str, timezone: str) -> PatientForm:
        """The values as posted, cut to their caps."""
        return cls(
            bounded(name, MAX_NAME), bounded(email, MAX_EMAIL), bounded(phone, MAX_PHONE), bounded(timezone, MAX_ZONE)
        )

    @classmethod
    def of(cls, patient: Patient) -> PatientForm:
        """The patient's current values."""
        return cls(patient.name, patient.email or "", patient.phone or "", patient.timezone or "")

    def fields(self) -> dict[str, str | None]:
        """The values for the use case."""
        return {"name": self.name, "email": self.email, "phone": self.phone, "timezone": self.timezone}

    def check(self, region: str) -> bool:
        """Fill in every field's error (the use case refuses only the first); True when there is none."""
        _, errors = check_contact(self.fields(), region=region)
        self.errors.update({k: sentence(v) for k, v in errors.items()})
        if not self.email and not self.phone and "email" not in self.errors:
            self.errors["email"] = "Please enter an email address or a phone number."
        return not self.errors


def render_form(
    request: Request,
    user: SignedIn,
    form: PatientForm,
    *,
    patient: Patient | None = None,
    message: str | None = None,
    existing_href: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The new-patient form, or the edit form of `patient`, with what was entered."""
    context = {"form": form, "patient": patient, "message": message, "existing_href": existing_href}
    return console_page(request, "console/patient_form.html", user, "patients", context, status_code=status_code)


async def save(
    request: Request,
    user: SignedIn,
    admin: PatientAdminService,
    form: PatientForm,
    ip: str | None,
    patient: Patient | None,
) -> Response:
    """Create or update through the API's use case, then the patient's page (303); 422/409 show the form again."""
    if not form.check(admin.settings.PHONE_DEFAULT_REGION):
        return render_form(request, user, form, patient=patient, status_code=422)
    actor = actor_of(user, ip)
    try:
        if patient is None:
            saved, done = await admin.create(actor, form.fields()), "created"
        else:
            saved, done = await admin.update(actor, patient.id, form.fields()), "updated"
    except DuplicatePatient as exc:
        href = patient_path(exc.existing_id) if exc.existing_id else None
        message = sentence(exc.detail)
        return render_form(request, user, form, patient=patient, message=message, existing_href=href, status_code=409)
    except Unprocessable as exc:
        form.errors[exc.field if exc.field in form.fields() else "name"] = sentence(exc.detail)
        return render_form(request, user, form, patient=patient, status_code=422)
    return RedirectResponse(f"{patient_path(saved.id)}?done={done}", status_code=SEE_OTHER)


@router.get(NEW, response_class=HTMLResponse)
async def new_patient_page(request: Request, user: ConsoleUser) -> HTMLResponse:
    """The form to add a patient."""
    return render_form(request, user, PatientForm())


@router.post(NEW, response_class=HTMLResponse)
async def new_patient(
    request: Request,
    user: ConsoleForm,
    admin: PatientAdminServiceDep,
    ip: ClientIP,
    name: FormText = "",
    email: FormText = "",
    phone: FormText = "",
    timezone: FormText = "",
) -> Response:
    """Add the patient (phone stored as E.164); a duplicate email or phone is a 409 page linking the other."""
    return await save(request, user, admin, PatientForm.typed(name, email, phone, timezone), ip, None)


# ---- CSV import -----------------------------------------------------------------------------------------------


def import_context(message: str | None = None) -> dict[str, Any]:
    """What the import page explains: the columns and the limits."""
    return {
        "message": message,
        "required": IMPORT_REQUIRED,
        "optional": IMPORT_OPTIONAL,
        "consent_columns": tuple(CONSENT_COLUMNS),
        "statuses": tuple(ConsentStatus),
        "max_mb": IMPORT_MAX_BYTES // (1024 * 1024),
        "max_rows": IMPORT_MAX_ROWS,
    }


@router.get(IMPORT, response_class=HTMLResponse)
async def import_page(request: Request, user: ConsoleUser) -> HTMLResponse:
    """The upload form."""
    return console_page(request, "console/patient_import.html", user, "patients", import_context())


@router.post(IMPORT, response_class=HTMLResponse)
async def import_upload(
    request: Request,
    user: ConsoleForm,
    admin: PatientAdminServiceDep,
    ip: ClientIP,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import the file, then its report (303); no file, a file that cannot be read or is too large: the form again."""
    data = await file.read(IMPORT_MAX_BYTES + 1) if file is not None else b""
    try:
        if not data:
            raise Unprocessable("Please choose a CSV file to import", error="file_required", field="file")
        report = await admin.import_csv(actor_of(user, ip), data)
    except (Unprocessable, ImportTooLarge) as exc:
        context = import_context(sentence(exc.detail))
        return console_page(
            request, "console/patient_import.html", user, "patients", context, status_code=exc.status_code
        )
    return RedirectResponse(f"{IMPORT}/{report.id}", status_code=SEE_OTHER)


async def own_import(admin: PatientAdminService, user: SignedIn, ip: str | None, import_id: str) -> PatientImport:
    """One of this staff member's import reports (404 page for another shape, someone else's or an expired one)."""
    if not is_id(import_id):
        raise NotFound("There is no import report at this address.", error="import_not_found")
    return await admin.rejected_rows(actor_of(user, ip), import_id)


@router.get(IMPORT + "/{import_id}", response_class=HTMLResponse)
async def import_report(
    request: Request, import_id: str, user: ConsoleUser, admin: PatientAdminServiceDep, ip: ClientIP
) -> HTMLResponse:
    """What the import did: imported, updated, unchanged, and each rejected row with its line and reason."""
    report = await own_import(admin, user, ip, import_id)
    context = {
        "report": report,
        "expires": clinic_time(report.expires_at, admin.settings.zone),
        "zone": admin.settings.TZ,
        "download_href": f"{IMPORT}/{report.id}/rejected.csv",
    }
    return console_page(request, "console/patient_import_report.html", user, "patients", context)


@router.get(IMPORT + "/{import_id}/rejected.csv")
async def import_rejected(import_id: str, user: ConsoleUser, admin: PatientAdminServiceDep, ip: ClientIP) -> Response:
    """The rejected rows as CSV (line, reason, the row), for a day after the import."""
    return csv_download(await own_import(admin, user, ip, import_id))


# ---- one patient ----------------------------------------------------------------------------------------------


async def render_patient(
    request: Request,
    user: SignedIn,
    admin: PatientAdminService,
    ip: str | None,
    patient_id: str,
    *,
    done: str | None = None,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The patient's page (after a refused consent change: with what went wrong)."""
    found = await admin.detail(actor_of(user, ip), patient_id)
    zone = admin.settings.zone
    context = {
        "patient": patient_card(found.patient, zone),
        "campaigns": [
            {
                "id": c.id,
                "href": f"/console/campaigns/{c.id}",
                "type": TYPE_LABELS[c.campaign_type],
                "status": STATUS_LABELS[c.status],
                "channel": CHANNEL_LABELS[c.channel],
                "created": clinic_time(c.created_at, zone),
            }
            for c in found.campaigns
        ],
        "statuses": CONSENT_LABELS,
        "zone": admin.settings.TZ,
        "done_notice": DONE_NOTICES.get(done or ""),
        "message": message,
        "errors": errors or {},
        "max_source": MAX_SOURCE,
    }
    return console_page(request, "console/patient.html", user, "patients", context, status_code=status_code)


@router.get(LIST + "/{patient_id}", response_class=HTMLResponse)
async def patient(
    request: Request,
    patient_id: PatientId,
    user: ConsoleUser,
    admin: PatientAdminServiceDep,
    ip: ClientIP,
    done: str | None = None,
) -> HTMLResponse:
    """A patient: contact, consent per channel with a form each, opt-outs, campaigns."""
    return await render_patient(request, user, admin, ip, patient_id, done=done)


@router.get(LIST + "/{patient_id}/edit", response_class=HTMLResponse)
async def edit_patient_page(
    request: Request, patient_id: PatientId, user: ConsoleUser, admin: PatientAdminServiceDep, ip: ClientIP
) -> HTMLResponse:
    """The edit form with the patient's current details."""
    found = await admin.detail(actor_of(user, ip), patient_id)
    return render_form(request, user, PatientForm.of(found.patient), patient=found.patient)


@router.post(LIST + "/{patient_id}/edit", response_class=HTMLResponse)
async def edit_patient(
    request: Request,
    patient_id: PatientId,
    user: ConsoleForm,
    admin: PatientAdminServiceDep,
    ip: ClientIP,
    name: FormText = "",
    email: FormText = "",
    phone: FormText = "",
    timezone: FormText = "",
) -> Response:
    """Save the details; a duplicate email or phone is a 409 page linking the other patient."""
    found = await admin.detail(actor_of(user, ip), patient_id)
    return await save(request, user, admin, PatientForm.typed(name, email, phone, timezone), ip, found.patient)


@router.post(LIST + "/{patient_id}/consent/{channel}", response_class=HTMLResponse)
async def record_consent(
    request: Request,
    patient_id: PatientId,
    channel: str,
    user: ConsoleForm,
    admin: PatientAdminServiceDep,
    ip: ClientIP,
    status: FormText = "",
    source: FormText = "",
    over_opt_out: FormText = "",
) -> Response:
    """Record one channel's consent (by the signed-in staff member, now); lifting an opt-out needs the tick box."""
    chosen = next((c for c in Channel if c.value == channel), None)
    if chosen is None:
        raise NotFound("There is no such channel.", error="channel_not_found")
    errors: dict[str, str] = {}
    try:
        consent = consent_status(status)
    except ValueError:
        errors[f"{channel}-status"] = "Please choose the consent: granted, revoked or unknown."
    text = source.strip()
    if not text or len(text) > MAX_SOURCE:
        errors[f"{channel}-source"] = f"Please say where the consent came from (at most {MAX_SOURCE} characters)."
    if errors:
        return await render_patient(request, user, admin, ip, patient_id, errors=errors, status_code=422)
    try:
        await admin.set_consent(
            actor_of(user, ip), patient_id, chosen, consent, source=text, over_opt_out=over_opt_out == "yes"
        )
    except OptedOut as exc:
        return await render_patient(request, user, admin, ip, patient_id, message=sentence(exc.detail), status_code=409)
    return RedirectResponse(f"{patient_path(patient_id)}?done=consent#consent-{channel}", status_code=SEE_OTHER)
