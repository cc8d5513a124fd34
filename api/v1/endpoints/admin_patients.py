"""Admin API for patients: search, create, read with campaigns, edit, consent per channel, CSV import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, UploadFile
from fastapi.responses import Response

from api.deps import ClientIP, CurrentStaff, PatientAdminServiceDep
from domain.audit import Actor
from domain.patient_rows import rejected_csv
from domain.patients_admin import IMPORT_MAX_BYTES, PatientDetail
from models.enums import Channel
from models.patient import Patient, PatientImport
from schemas.admin import CampaignRead, PatientCreate
from schemas.common import BODY_ERRORS, error_responses
from schemas.patients import (
    ConsentUpdate,
    PatientDetailRead,
    PatientImportRead,
    PatientPage,
    PatientUpdate,
    PatientWithConsentRead,
    RejectedRowRead,
)

PREFIX = "/api/v1/admin/patients"
IMPORT_PATH = PREFIX + "/import"
# The body limit of the upload: the file plus room for the multipart framing.
BODY_LIMITS = {IMPORT_PATH: IMPORT_MAX_BYTES + 64 * 1024}

router = APIRouter(prefix=PREFIX, tags=["admin", "patients"])
PatientIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="patient id")]
ImportIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="import id")]
ITEM_ERRORS = error_responses(401, 404, 422, 503)
WRITE_ERRORS = error_responses(*BODY_ERRORS, 401, 404, 409, 503)


def with_consent(patient: Patient) -> PatientWithConsentRead:
    """A patient with their consent."""
    return PatientWithConsentRead.model_validate(patient)


def import_read(report: PatientImport) -> PatientImportRead:
    """An import's counts and rejected rows (line and reason; the cells only in the CSV)."""
    return PatientImportRead(
        id=report.id,
        rows=report.rows,
        imported=report.imported,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected=[RejectedRowRead(line=r.line, reason=r.reason) for r in report.rejected],
        rejected_csv_url=f"{IMPORT_PATH}/{report.id}/rejected.csv" if report.rejected else None,
        expires_at=report.expires_at,
    )


@router.get("", response_model=PatientPage, responses=error_responses(401, 422, 503))
async def search_patients(
    user: CurrentStaff,
    patients: PatientAdminServiceDep,
    ip: ClientIP,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="name, email or phone")] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PatientPage:
    """Patients by name; with `q`, those whose name, email or phone contains it."""
    items, total = await patients.search(Actor(user.email, ip), q, page=page, page_size=page_size)
    return PatientPage(items=[with_consent(p) for p in items], total=total, page=page, page_size=page_size)


@router.post("", response_model=PatientWithConsentRead, status_code=201, responses=WRITE_ERRORS)
async def create_patient(
    body: PatientCreate, user: CurrentStaff, patients: PatientAdminServiceDep, ip: ClientIP
) -> PatientWithConsentRead:
    """A new patient (phone stored as E.164); 409 `duplicate_patient` when the email or phone is another's."""
    fields = {k: (str(v) if v is not None else None) for k, v in body.model_dump().items()}
    return with_consent(await patients.create(Actor(user.email, ip), fields))


@router.get("/{patient_id}", response_model=PatientDetailRead, responses=ITEM_ERRORS)
async def patient_detail(
    patient_id: PatientIdPath, user: CurrentStaff, patients: PatientAdminServiceDep, ip: ClientIP
) -> PatientDetailRead:
    """A patient with consent per channel, opt-outs and campaigns (newest first)."""
    found: PatientDetail = await patients.detail(Actor(user.email, ip), patient_id)
    return PatientDetailRead(
        **with_consent(found.patient).model_dump(),
        campaigns=[CampaignRead.model_validate(c) for c in found.campaigns],
    )


@router.patch("/{patient_id}", response_model=PatientWithConsentRead, responses=WRITE_ERRORS)
async def update_patient(
    patient_id: PatientIdPath, body: PatientUpdate, user: CurrentStaff, patients: PatientAdminServiceDep, ip: ClientIP
) -> PatientWithConsentRead:
    """Change name, email, phone or timezone; 409 `duplicate_patient` when the email or phone is another's."""
    fields = {k: (str(v) if v is not None else None) for k, v in body.model_dump(exclude_unset=True).items()}
    return with_consent(await patients.update(Actor(user.email, ip), patient_id, fields))


@router.put("/{patient_id}/consent/{channel}", response_model=PatientWithConsentRead, responses=WRITE_ERRORS)
async def set_consent(
    patient_id: PatientIdPath,
    channel: Channel,
    body: ConsentUpdate,
    user: CurrentStaff,
    patients: PatientAdminServiceDep,
    ip: ClientIP,
) -> PatientWithConsentRead:
    """Record a channel's consent (who: the caller; when: now); 409 `opted_out` to lift an opt-out without
    `over_opt_out`."""
    return with_consent(
        await patients.set_consent(
            Actor(user.email, ip),
            patient_id,
            channel,
            body.status,
            source=body.source,
            over_opt_out=body.over_opt_out,
        )
    )


@router.post(
    "/import",
    response_model=PatientImportRead,
    responses=error_responses(*BODY_ERRORS, 401, 503, notes={413: "The file is larger than 2 MB"}),
)
async def import_patients(
    file: Annotated[
        UploadFile,
        File(
            description="CSV: name,email,phone[,timezone,email_consent,sms_consent,call_consent]",
            json_schema_extra={"maxLength": IMPORT_MAX_BYTES},
        ),
    ],
    user: CurrentStaff,
    patients: PatientAdminServiceDep,
    ip: ClientIP,
) -> PatientImportRead:
    """Validate every row and find-or-create the valid ones (by email, else phone) with their consent columns."""
    data = await file.read(IMPORT_MAX_BYTES + 1)
    return import_read(await patients.import_csv(Actor(user.email, ip), data))


@router.get(
    "/import/{import_id}/rejected.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **ITEM_ERRORS},
)
async def rejected_rows(
    import_id: ImportIdPath, user: CurrentStaff, patients: PatientAdminServiceDep, ip: ClientIP
) -> Response:
    """The rejected rows of one of the caller's imports (line, reason, the row), for a day after the import."""
    report = await patients.rejected_rows(Actor(user.email, ip), import_id)
    return csv_download(report)


def csv_download(report: PatientImport) -> Response:
    """The rejected rows as a CSV attachment (never cached: it holds patient data)."""
    body = rejected_csv(report.header, [(r.line, r.reason, r.values) for r in report.rejected])
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="rejected-rows-{report.id}.csv"',
            "Cache-Control": "no-store",
        },
    )
