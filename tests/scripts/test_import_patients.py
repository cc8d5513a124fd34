"""The CSV patient import: validation, rejected-rows report, no duplicates on re-run, no PHI in logs."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from typer.testing import CliRunner

from core.container import Container
from scripts import import_patients
from scripts.import_patients import CsvFormatError, import_rows, read_rows, rejected_path, write_rejected

CSV = """name,email,phone,campaign_type,channel,timezone
Ada Lovelace,ada@example.com,+15550000001,RECALL,,Europe/London
Bob Builder,BOB@Example.com,,recovery,email,
Cyd Charisse,,+15550000003,RECOVERY,sms,
Ada Lovelace,ada@example.com,+15550000001,RECOVERY,,
Not An Email,not-an-email,,RECALL,,
Bad Phone,bad@example.com,555-1234,RECALL,,
,nameless@example.com,,RECALL,,
Wrong Type,wt@example.com,,WINBACK,,
Sms No Phone,snp@example.com,,RECALL,sms,
Mars Person,mars@example.com,,RECALL,,Mars/Olympus
Ada Lovelace,ada@example.com,,RECALL,,

Dup Bob,bob@example.com,,RECOVERY,,
"""
PHI = ("Ada", "Lovelace", "ada@example.com", "not-an-email", "555-1234", "nameless", "+1555")


def write(tmp_path: Path, text: str = CSV) -> Path:
    path = tmp_path / "patients.csv"
    path.write_text(text, encoding="utf-8")
    return path


async def test_import_validates_reports_and_is_idempotent(
    container: Container, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path)
    header, rows = read_rows(path)
    assert header == ["name", "email", "phone", "campaign_type", "channel", "timezone"]
    assert [line for line, _ in rows][:3] == [2, 3, 4] and rows[-1][0] == 14  # blank line 13 skipped
    with caplog.at_level(logging.INFO):
        report = await import_rows(container, rows, progress=False)
    assert report.rows == 12
    assert report.campaigns_created == 4 and report.patients_created == 3
    assert report.skipped_duplicate == 2 and report.skipped_active == 0
    assert [(line, reason) for line, reason, _ in report.rejected] == [
        (6, "email is not a valid address"),
        (7, "phone is not a valid phone number (give the country code, e.g. +15551234567)"),
        (8, "name is empty"),
        (9, "campaign_type must be RECOVERY or RECALL"),
        (10, "channel sms needs a phone number"),
        (11, "timezone is not an IANA name (e.g. Europe/Berlin)"),
    ]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "row rejected" in logged
    assert not [word for word in PHI if word in logged]
    db = container.db
    assert await db.patients.count_documents({}) == 3 and await db.campaigns.count_documents({}) == 4
    ada = await db.patients.find_one({"email": "ada@example.com"})
    assert ada is not None and ada["timezone"] == "Europe/London" and ada["phone"] == "+15550000001"
    assert {c["status"] async for c in db.campaigns.find({"patient_id": ada["_id"]})} == {
        "ATTEMPTING_RECALL",
        "ATTEMPTING_RECOVERY",
    }
    cyd = await db.patients.find_one({"phone": "+15550000003"})
    assert cyd is not None and cyd["email"] is None
    assert await db.audit_log.count_documents({"actor": "cli:import_patients", "action": "campaigns.create"}) == 4

    target = write_rejected(path, header, report.rejected)
    assert target == rejected_path(path) == tmp_path / "patients.rejected.csv"
    with target.open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [r["line"] for r in lines] == ["6", "7", "8", "9", "10", "11"]
    assert lines[0]["email"] == "not-an-email" and lines[0]["reason"] == "email is not a valid address"

    again = await import_rows(container, rows, progress=False)
    assert again.campaigns_created == 0 and again.patients_created == 0 and again.skipped_active == 4
    assert await db.patients.count_documents({}) == 3 and await db.campaigns.count_documents({}) == 4


def test_missing_columns_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="campaign_type"):
        read_rows(write(tmp_path, "name,email,phone\nA,a@example.com,\n"))


def test_cli_imports_and_writes_the_rejected_report(
    tmp_path: Path, mongo_uri: str, db_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "MONGO_URI": mongo_uri,
        "MONGO_DB_NAME": db_name,
        "ENVIRONMENT": "test",
        "TZ": "Europe/Berlin",
    }.items():
        monkeypatch.setenv(key, value)
    path = write(tmp_path)
    try:
        result = CliRunner().invoke(import_patients.app, [str(path)])
        assert result.exit_code == 0, result.output
        assert "4 campaigns created (3 new patients)" in result.output and "6 rejected" in result.output
        assert rejected_path(path).exists()
        again = CliRunner().invoke(import_patients.app, [str(path)])
        assert again.exit_code == 0 and "0 campaigns created" in again.output and "4 skipped" in again.output
        bad = CliRunner().invoke(import_patients.app, [str(write(tmp_path, "name\nx\n"))])
        assert bad.exit_code == 2
    finally:
        with MongoClient[dict[str, Any]](mongo_uri) as cleanup:
            cleanup.drop_database(db_name)


async def test_import_stores_phones_as_e164_and_refuses_link_names(container: Container, tmp_path: Path) -> None:
    text = (
        "name,email,phone,campaign_type,channel,timezone\n"
        "Dee National,,(555) 000-0009,RECALL,sms,\n"
        "Dee Again,,+1 555 000 0009,RECALL,sms,\n"
        "Visit evil.example,link@example.com,,RECALL,,\n"
    )
    _, rows = read_rows(write(tmp_path, text))
    report = await import_rows(container, rows, progress=False)
    assert report.campaigns_created == 1 and report.skipped_duplicate == 1
    assert [line for line, _, _ in report.rejected] == [4]
    assert len(await container.repos.patients.ids_by_phone("+15550000009")) == 1
    assert await container.db.patients.count_documents({}) == 1
