"""Import patients and start their campaigns from a CSV file: `python -m scripts.import_patients patients.csv`.

Columns: name,email,phone,campaign_type and optionally channel,timezone (header row required; email or phone may
be empty, not both). Each row is validated (name without links or line breaks, email syntax, phone number - stored
as E.164, national numbers read in PHONE_DEFAULT_REGION - RECOVERY/RECALL, channel, IANA timezone);
rejected rows are written with their line number and reason to `<name>.rejected.csv` beside the input (that file
holds the rows, for the operator; logs carry only line numbers). Re-running is safe: patients are found by email
(else phone) and a campaign is skipped when the patient already has an active one of that type.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from core.config import Settings
from core.container import Container
from core.errors import AppError
from domain.audit import Actor
from domain.campaign_start import ActiveCampaignExists, NewCampaign
from domain.campaigns import NewPatient
from domain.patient_rows import CsvFormatError, RowError, contact_row, read_csv, rejected_csv
from models.enums import CampaignType, Channel
from scripts.common import open_container

log = logging.getLogger("medcampaign.import")
REQUIRED_COLUMNS = ("name", "email", "phone", "campaign_type")
OPTIONAL_COLUMNS = ("channel", "timezone")
ACTOR = Actor("cli:import_patients", None)

app = typer.Typer(add_completion=False, help=__doc__)


@dataclass(frozen=True)
class PatientRow:
    """One valid row."""

    line: int
    name: str
    email: str | None
    phone: str | None
    campaign_type: CampaignType
    channel: Channel
    timezone: str | None

    @property
    def key(self) -> tuple[str, CampaignType]:
        """The patient (email, else phone) and campaign type this row asks for."""
        return (self.email or self.phone or "", self.campaign_type)


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    patients_created: int = 0
    campaigns_created: int = 0
    skipped_active: int = 0
    skipped_duplicate: int = 0
    rejected: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)


def validate_row(line: int, raw: dict[str, str], *, region: str) -> PatientRow:
    """A valid row (phone as E.164, national numbers read in `region`), or RowError with the reason."""
    values = {k: (v or "").strip() for k, v in raw.items() if k}
    contact = contact_row(values, region=region)
    email, phone = contact["email"], contact["phone"]
    try:
        campaign_type = CampaignType(values.get("campaign_type", "").upper())
    except ValueError:
        raise RowError("campaign_type must be RECOVERY or RECALL") from None
    try:
        channel = (
            Channel(values["channel"].lower()) if values.get("channel") else (Channel.EMAIL if email else Channel.SMS)
        )
    except ValueError:
        raise RowError("channel must be email, sms or call") from None
    if channel == Channel.EMAIL and not email:
        raise RowError("channel email needs an email address")
    if channel in (Channel.SMS, Channel.CALL) and not phone:
        raise RowError(f"channel {channel.value} needs a phone number")
    return PatientRow(line, contact["name"] or "", email, phone, campaign_type, channel, contact["timezone"])


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and (line number, row) pairs; CsvFormatError when required columns are missing."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return read_csv(handle, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)


async def import_rows(
    container: Container,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    progress: bool = True,
    dry_run: bool = False,
) -> ImportReport:
    """Validate and import rows one by one; returns the report."""
    service = container.campaign_admin()
    report = ImportReport()
    seen: set[tuple[str, CampaignType]] = set()
    items = list(rows)
    for line, raw in tqdm(items, desc="Importing", unit="row", disable=not progress):
        report.rows += 1
        try:
            row = validate_row(line, raw, region=container.settings.PHONE_DEFAULT_REGION)
        except RowError as exc:
            report.rejected.append((line, str(exc), raw))
            log.warning("row rejected", extra={"line": line, "reason": str(exc)})
            continue
        if row.key in seen:
            report.skipped_duplicate += 1
            continue
        seen.add(row.key)
        if dry_run:
            continue
        try:
            created = await service.create(
                ACTOR,
                NewCampaign(
                    campaign_type=row.campaign_type,
                    channel=row.channel,
                    patient=NewPatient(name=row.name, email=row.email, phone=row.phone, timezone=row.timezone),
                ),
            )
        except ActiveCampaignExists:
            report.skipped_active += 1
            continue
        except AppError as exc:
            report.rejected.append((line, exc.detail, raw))
            log.warning("row rejected", extra={"line": line, "reason": exc.error})
            continue
        report.campaigns_created += 1
        report.patients_created += int(created.patient_created)
    return report


def rejected_path(source: Path) -> Path:
    """`<name>.rejected.csv` beside the input."""
    return source.with_name(f"{source.stem}.rejected.csv")


def write_rejected(source: Path, header: list[str], rejected: list[tuple[int, str, dict[str, str]]]) -> Path | None:
    """Write the rejected rows (line, reason, the row) beside the input; None (and no file) when there are none."""
    target = rejected_path(source)
    if not rejected:
        target.unlink(missing_ok=True)
        return None
    target.write_text(rejected_csv(header, rejected), encoding="utf-8", newline="")
    return target


async def _run(settings: Settings, path: Path, *, dry_run: bool) -> tuple[ImportReport, Path | None]:
    header, rows = read_rows(path)
    async with open_container(settings) as container:
        report = await import_rows(container, rows, progress=True, dry_run=dry_run)
    return report, write_rejected(path, header, report.rejected)


@app.command()
def main(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV file to import.")],
    dry_run: Annotated[bool, typer.Option(help="Only validate; write nothing to the database.")] = False,
) -> None:
    """Import patients and campaigns from a CSV file."""
    try:
        report, rejected = asyncio.run(_run(Settings(), file, dry_run=dry_run))
    except CsvFormatError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"{report.rows} rows: {report.campaigns_created} campaigns created ({report.patients_created} new patients),"
        f" {report.skipped_active} skipped (active campaign of that type), {report.skipped_duplicate} duplicate"
        f" rows, {len(report.rejected)} rejected" + (" [dry run]" if dry_run else "")
    )
    if rejected:
        typer.echo(f"Rejected rows with reasons: {rejected}")


if __name__ == "__main__":
    app()
