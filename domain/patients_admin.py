"""Staff patient use cases: search, a patient with their campaigns, create, edit, consent per channel, CSV import.

Every read or write is audited (patients.list/read/create/update/consent/import) with the actor, failures included.
Phones are stored as E.164 (national numbers read in PHONE_DEFAULT_REGION); an email or a phone that belongs to
another patient is refused (409 `duplicate_patient`).

Consent: recording `revoked` is an opt-out (the channel joins `opted_out_channels`). Once a patient opted out, a
channel is only granted (or reset to unknown) again when staff say so explicitly (`over_opt_out`): the patient
must have asked for it, and a form or an import never lifts an opt-out by accident (409 `opted_out`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from pymongo.errors import DuplicateKeyError

from core.clock import Clock
from core.config import Settings
from core.errors import AppError, Conflict, NotFound, Unprocessable
from db.repositories import Repositories
from domain.audit import Actor, AuditTrail
from domain.patient_rows import (
    CONSENT_COLUMNS,
    CONTACT_FIELDS,
    CSV_SOURCE,
    CsvFormatError,
    RowError,
    check_contact,
    consent_row,
    contact_row,
    decode_csv,
    read_csv,
)
from models.base import new_id
from models.campaign import Campaign
from models.enums import Channel, ConsentStatus
from models.patient import ChannelConsent, Consent, Patient, PatientImport, RejectedRow

log = logging.getLogger("medcampaign.patients")

IMPORT_MAX_BYTES = 2 * 1024 * 1024
IMPORT_MAX_ROWS = 2000  # rows are written one by one (about 0.1 s each on a busy small server)
IMPORT_KEEP = timedelta(days=1)  # how long the rejected rows can be downloaded
IMPORT_REQUIRED = ("name", "email", "phone")
IMPORT_OPTIONAL = ("timezone", *CONSENT_COLUMNS)
MAX_SOURCE = 100


class DuplicatePatient(Conflict):
    """409: the email or phone belongs to another patient (`existing_id`)."""

    error = "duplicate_patient"

    def __init__(self, detail: str, *, existing_id: str):
        super().__init__(detail)
        self.existing_id = existing_id


class OptedOut(Conflict):
    """409: the patient opted out of the channel; only an explicit override records consent again."""

    error = "opted_out"


class ImportTooLarge(AppError):
    """413: the uploaded file is larger than the import accepts."""

    status_code = 413
    error = "payload_too_large"


@dataclass(frozen=True)
class PatientDetail:
    """A patient and their campaigns, newest first."""

    patient: Patient
    campaigns: list[Campaign]


def invalid(field: str, reason: str) -> Unprocessable:
    """A 422 naming the field."""
    return Unprocessable(reason, error=f"invalid_{field}", field=field)


class PatientAdminService:
    """Staff views and changes of patients and their consent, all audited."""

    def __init__(self, *, settings: Settings, clock: Clock, repos: Repositories):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.audit = AuditTrail(repo=repos.audit, clock=clock)

    # ---- reads ----------------------------------------------------------------------------------------------

    async def search(self, actor: Actor, q: str | None, *, page: int, page_size: int) -> tuple[list[Patient], int]:
        """Patients by name (those whose name, email or phone contains `q`), paged; audited."""
        async with self.audit.audited(actor, "patients.list", "patients"):
            ids = await self.repos.patients.search_ids(q) if q else None
            return await self.repos.patients.page(ids, skip=(page - 1) * page_size, limit=page_size)

    async def detail(self, actor: Actor, patient_id: str) -> PatientDetail:
        """A patient with their campaigns; audited."""
        async with self.audit.audited(actor, "patients.read", f"patients/{patient_id}", patient_id):
            patient = await self._get(patient_id)
            return PatientDetail(patient, await self.repos.campaigns.list_for_patient(patient_id))

    async def _get(self, patient_id: str) -> Patient:
        patient = await self.repos.patients.get(patient_id)
        if patient is None:
            raise NotFound("Patient not found", error="patient_not_found")
        return patient

    # ---- writes ---------------------------------------------------------------------------------------------

    def _clean(self, fields: Mapping[str, str | None]) -> dict[str, str | None]:
        cleaned, errors = check_contact(fields, region=self.settings.PHONE_DEFAULT_REGION)
        if errors:
            field, reason = next(iter(errors.items()))
            raise invalid(field, reason)
        return cleaned

    async def _refuse_duplicates(self, fields: Mapping[str, str | None], not_id: str | None) -> None:
        email, phone = fields.get("email"), fields.get("phone")
        other = await self.repos.patients.other_with(email=email, phone=phone, not_id=not_id)
        if other is not None:
            what = "email address" if email and other.email == email else "phone number"
            raise DuplicatePatient(f"Another patient already has this {what}", existing_id=other.id)

    async def _email_taken(self, email: str) -> DuplicatePatient:
        """The 409 for an email another patient took meanwhile (the unique index refused it)."""
        other = await self.repos.patients.get_by_email(email)
        return DuplicatePatient("Another patient already has this email address", existing_id=other.id if other else "")

    async def create(
        self, actor: Actor, fields: Mapping[str, str | None], *, consent: Consent | None = None
    ) -> Patient:
        """A new patient (name, email and/or phone, timezone); 422 for a bad field, 409 for a duplicate; audited."""
        now = self.clock.now()
        async with self.audit.audited(actor, "patients.create", "patients") as subject:
            cleaned = self._clean({k: fields.get(k) for k in CONTACT_FIELDS})
            if not cleaned["email"] and not cleaned["phone"]:
                raise Unprocessable("Give an email address or a phone number", error="contact_required", field="email")
            await self._refuse_duplicates(cleaned, None)
            consent = consent or Consent()
            patient = Patient(
                id=new_id(),
                name=cleaned["name"] or "",
                email=cleaned["email"],
                phone=cleaned["phone"],
                timezone=cleaned["timezone"],
                consent=consent,
                opted_out_channels=[c for c in Channel if getattr(consent, c.value).status == ConsentStatus.REVOKED],
                created_at=now,
                updated_at=now,
            )
            try:
                await self.repos.patients.insert(patient)
            except DuplicateKeyError:
                raise await self._email_taken(patient.email or "") from None
            subject["patient_id"] = patient.id
        return patient

    async def update(self, actor: Actor, patient_id: str, fields: Mapping[str, str | None]) -> Patient:
        """Change the given fields (name, email, phone, timezone); an email or a phone must remain; audited."""
        now = self.clock.now()
        async with self.audit.audited(actor, "patients.update", f"patients/{patient_id}", patient_id):
            current = await self._get(patient_id)
            cleaned = self._clean({k: v for k, v in fields.items() if k in CONTACT_FIELDS})
            email = cleaned.get("email", current.email)
            phone = cleaned.get("phone", current.phone)
            if not email and not phone:
                raise Unprocessable("Keep an email address or a phone number", error="contact_required", field="email")
            changed = {k: v for k, v in cleaned.items() if getattr(current, k) != v}
            if not changed:
                return current
            await self._refuse_duplicates({k: changed.get(k) for k in ("email", "phone")}, patient_id)
            try:
                return await self.repos.patients.update_fields(patient_id, changed, now=now)
            except DuplicateKeyError:
                raise await self._email_taken(email or "") from None

    async def set_consent(
        self,
        actor: Actor,
        patient_id: str,
        channel: Channel,
        status: ConsentStatus,
        *,
        source: str,
        over_opt_out: bool = False,
    ) -> Patient:
        """Record one channel's consent with its source, who recorded it and when; see the module's opt-out rule."""
        now = self.clock.now()
        source = source.strip()
        async with self.audit.audited(
            actor, "patients.consent", f"patients/{patient_id}/consent/{channel}", patient_id
        ):
            if not source or len(source) > MAX_SOURCE:
                raise invalid("source", f"source must be 1 to {MAX_SOURCE} characters (e.g. phone call, intake form)")
            consent = ChannelConsent(status=status, source=source, by=actor.email, at=now)
            changed = await self.repos.patients.set_consent(
                patient_id, channel, consent, over_opt_out=over_opt_out, now=now
            )
            if changed is None:
                await self._get(patient_id)
                raise OptedOut(
                    f"The patient opted out of {channel.value}; record consent again only when they asked for it,"
                    " and confirm that they did"
                )
            return changed

    # ---- CSV import -----------------------------------------------------------------------------------------

    async def import_csv(self, actor: Actor, data: bytes) -> PatientImport:
        """Validate every row, find-or-create the valid ones (by email, else phone) with their consent columns
        (source csv_import), and keep the report with the rejected rows for a day; audited."""
        now = self.clock.now()
        async with self.audit.audited(actor, "patients.import", "patients/import"):
            if len(data) > IMPORT_MAX_BYTES:
                raise ImportTooLarge(f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB; split it")
            try:
                header, rows = read_csv(
                    decode_csv(data), required=IMPORT_REQUIRED, optional=IMPORT_OPTIONAL, max_rows=IMPORT_MAX_ROWS
                )
            except CsvFormatError as exc:
                raise Unprocessable(f"The file cannot be imported: {exc}", error="invalid_csv", field="file") from None
            report = PatientImport(
                id=new_id(),
                actor=actor.email,
                rows=len(rows),
                imported=0,
                updated=0,
                unchanged=0,
                header=header,
                rejected=[],
                created_at=now,
                expires_at=now + IMPORT_KEEP,
            )
            for line, values in rows:
                try:
                    outcome = await self._import_row(actor, values)
                except (RowError, AppError) as exc:
                    reason = exc.detail if isinstance(exc, AppError) else str(exc)
                    report.rejected.append(RejectedRow(line=line, reason=reason, values=values))
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
            await self.repos.patient_imports.insert(report)
        log.info(
            "patients imported",
            extra={
                "total": report.rows,
                "imported": report.imported,
                "updated": report.updated,
                "rejected": len(report.rejected),
            },
        )
        return report

    async def _import_row(self, actor: Actor, values: Mapping[str, str]) -> str:
        """One row: "imported", "updated" or "unchanged"; RowError (nothing written) when it cannot be taken."""
        region = self.settings.PHONE_DEFAULT_REGION
        contact = contact_row(values, region=region)
        consents = consent_row(values)
        now = self.clock.now()
        existing = await self.repos.patients.by_contact(email=contact["email"], phone=contact["phone"])
        if existing is None:
            given = {
                c.value: ChannelConsent(status=s, source=CSV_SOURCE, by=actor.email, at=now)
                for c, s in consents.items()
            }
            await self.create(actor, contact, consent=Consent(**given))
            return "imported"
        changes = {c: s for c, s in consents.items() if getattr(existing.consent, c.value).status != s}
        for channel, status in changes.items():
            if channel in existing.opted_out_channels and status != ConsentStatus.REVOKED:
                raise RowError(
                    f"{channel.value}_consent cannot lift the patient's opt-out of {channel.value};"
                    " record it on the patient's page"
                )
        for channel, status in changes.items():
            await self.set_consent(actor, existing.id, channel, status, source=CSV_SOURCE)
        return "updated" if changes else "unchanged"

    async def rejected_rows(self, actor: Actor, import_id: str) -> PatientImport:
        """The report of one of this staff member's imports (for its rejected rows), while it is kept; audited."""
        async with self.audit.audited(actor, "patients.import.rejected", f"patients/import/{import_id}"):
            found = await self.repos.patient_imports.live(import_id, actor=actor.email, now=self.clock.now())
            if found is None:
                raise NotFound("This import report is unknown or has expired", error="import_not_found")
            return found
