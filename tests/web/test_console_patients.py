"""Console patient pages: search, create and edit (E.164, duplicates 409), consent with who/when/source and the
opt-out rule, CSV import with its report and rejected rows; every change audited, every error a page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.container import Container
from domain.patients_admin import IMPORT_MAX_BYTES
from models.enums import Channel
from tests.web.conftest import Clinic
from tests.web.console import signed_in
from tests.web.pages import Page, html_page

LIST = "/console/patients"
IMPORT = LIST + "/import"
CSV = (
    "name,email,phone,timezone,email_consent,sms_consent,call_consent\n"
    "Ada Lovelace,ada@example.com,(212) 555-0101,,granted,granted,\n"
    "Bad Email,not-an-email,,,,,\n"
    "Cyd Charisse,,+12125550103,,,granted,\n"
)


def text_of(page: Page, element_id: str) -> str:
    """The text inside the element with this id (tags removed)."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page.html, re.S)
    assert found, element_id
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


async def add(http: httpx.AsyncClient, csrf: str, **fields: str) -> httpx.Response:
    return await http.post(f"{LIST}/new", data={"csrf_token": csrf, **fields})


async def added(http: httpx.AsyncClient, csrf: str, **fields: str) -> str:
    """Add a patient through the form; their id."""
    response = await add(http, csrf, **fields)
    assert response.status_code == 303, response.text
    found = re.match(rf"{LIST}/([0-9a-f]{{24}})\?done=created$", response.headers["location"])
    assert found
    return found.group(1)


async def last_audit(container: Container) -> dict[str, Any]:
    doc = await container.db.audit_log.find_one({}, sort=[("at", -1), ("_id", -1)])
    assert doc is not None
    return doc


async def upload(http: httpx.AsyncClient, csrf: str, text: str | bytes) -> httpx.Response:
    data = text.encode() if isinstance(text, str) else text
    return await http.post(IMPORT, data={"csrf_token": csrf}, files={"file": ("patients.csv", data, "text/csv")})


async def test_add_normalises_the_phone_and_shows_the_patient(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    patient_id = await added(http, csrf, name="Ada Lovelace", email="Ada@Example.com", phone="(212) 555-0101")
    page = html_page(await http.get(f"{LIST}/{patient_id}?done=created"), 200)
    assert page.h1 == "Ada Lovelace" and text_of(page, "notice") == "The patient is added."
    assert text_of(page, "patient-phone") == "+12125550101" and text_of(page, "patient-email") == "ada@example.com"
    start = page.ids["start-campaign"]["href"]
    assert start == f"/console/campaigns/new?patient_id={patient_id}"
    audit = await last_audit(container)
    assert audit["action"] == "patients.read" and str(audit["patient_id"]) == patient_id
    assert (
        await container.db.audit_log.count_documents({"action": "patients.create", "actor": "staff@clinic.test"}) == 1
    )


async def test_a_bad_form_is_422_with_every_error_and_the_values_kept(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    page = html_page(await add(http, csrf, name="", email="not-an-email", phone="555-12", timezone="Mars/X"), 422)
    assert page.title.startswith("Error:")
    for name in ("name", "email", "phone", "timezone"):
        assert f'id="{name}-error"' in page.html, name
    assert page.value("email") == "not-an-email" and page.value("phone") == "555-12"
    assert await container.repos.patients.count() == 0


async def test_duplicates_are_a_409_page_linking_the_other_patient(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    ada = await added(http, csrf, name="Ada Lovelace", email="ada@example.com", phone="+12125550101")
    page = html_page(await add(http, csrf, name="Ada Twin", email="twin@example.com", phone="212 555 0101"), 409)
    assert "phone number" in text_of(page, "form-message")
    assert page.ids["existing-patient-link"]["href"] == f"{LIST}/{ada}"
    assert page.value("name") == "Ada Twin"
    bob = await added(http, csrf, name="Bob Builder", email="bob@example.com")
    edit = {"csrf_token": csrf, "name": "Bob Builder", "email": "ADA@example.com", "phone": "", "timezone": ""}
    html_page(await http.post(f"{LIST}/{bob}/edit", data=edit), 409)
    stored = await container.repos.patients.get(bob)
    assert stored is not None and stored.email == "bob@example.com"


async def test_edit_saves_the_details(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    ada = await added(http, csrf, name="Ada Lovelace", email="ada@example.com")
    form = html_page(await http.get(f"{LIST}/{ada}/edit"), 200)
    assert form.value("email") == "ada@example.com"
    data = {"csrf_token": csrf, "name": "Ada King", "email": "ada@example.com", "phone": "212-555-0199"}
    response = await http.post(f"{LIST}/{ada}/edit", data={**data, "timezone": "America/New_York"})
    assert response.status_code == 303 and response.headers["location"] == f"{LIST}/{ada}?done=updated"
    stored = await container.repos.patients.get(ada)
    assert stored is not None and (stored.name, stored.phone, stored.timezone) == (
        "Ada King",
        "+12125550199",
        "America/New_York",
    )
    assert (await last_audit(container))["action"] == "patients.update"


async def test_search_finds_by_name_email_or_phone_and_pages(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    for i in range(27):
        await added(http, csrf, name=f"Patient {i:02d}", email=f"p{i}@example.com", phone=f"+1212555{i:04d}")
    first = html_page(await http.get(LIST), 200)
    assert text_of(first, "total-count") == "27" and first.ids["page-next"]["href"] == f"{LIST}?page=2"
    second = html_page(await http.get(f"{LIST}?page=2"), 200)
    assert len(re.findall(r'<tr id="row-', second.html)) == 2
    by_phone = html_page(await http.get(f"{LIST}?q=555-0013"), 200)
    assert text_of(by_phone, "total-count") == "1" and "Patient 13" in by_phone.html
    by_email = html_page(await http.get(f"{LIST}?q=p7@"), 200)
    assert text_of(by_email, "total-count") == "1" and "Patient 07" in by_email.html
    assert (await last_audit(container))["action"] == "patients.list"
    html_page(await http.get(f"{LIST}?page=0"), 422)


async def test_consent_is_recorded_with_who_when_and_source(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    ada = await added(http, csrf, name="Ada Lovelace", email="ada@example.com", phone="+12125550101")
    data = {"csrf_token": csrf, "status": "granted", "source": "phone call"}
    response = await http.post(f"{LIST}/{ada}/consent/sms", data=data)
    assert response.status_code == 303 and response.headers["location"].startswith(f"{LIST}/{ada}?done=consent")
    page = html_page(await http.get(f"{LIST}/{ada}"), 200)
    assert text_of(page, "consent-sms-status") == "granted" and text_of(page, "consent-sms-source") == "phone call"
    assert text_of(page, "consent-sms-by") == "staff@clinic.test"
    assert text_of(page, "consent-sms-at") == "2030-12-02 08:00"  # the fixed clock, in clinic time
    stored = await container.repos.patients.get(ada)
    assert stored is not None and stored.consent.sms.by == "staff@clinic.test"
    audit = await container.db.audit_log.find_one({"action": "patients.consent"})
    assert audit is not None and str(audit["patient_id"]) == ada and audit["outcome"] == "success"
    missing = html_page(await http.post(f"{LIST}/{ada}/consent/sms", data={"csrf_token": csrf, "status": "x"}), 422)
    assert 'id="sms-status-error"' in missing.html and 'id="sms-source-error"' in missing.html
    html_page(await http.post(f"{LIST}/{ada}/consent/fax", data=data), 404)


async def test_an_opt_out_is_shown_and_lifted_only_with_the_tick_box(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    ada = await added(http, csrf, name="Ada Lovelace", email="ada@example.com", phone="+12125550101")
    revoke = {"csrf_token": csrf, "status": "revoked", "source": "asked by phone"}
    assert (await http.post(f"{LIST}/{ada}/consent/sms", data=revoke)).status_code == 303
    page = html_page(await http.get(f"{LIST}/{ada}"), 200)
    assert text_of(page, "patient-opted-out") == "SMS" and text_of(page, "consent-sms-opted-out") == "Yes, opted out"
    assert "sms-over" in page.ids
    grant = {"csrf_token": csrf, "status": "granted", "source": "phone call"}
    refused = html_page(await http.post(f"{LIST}/{ada}/consent/sms", data=grant), 409)
    assert "opted out of sms" in text_of(refused, "form-message")
    stored = await container.repos.patients.get(ada)
    assert stored is not None and stored.opted_out_channels == [Channel.SMS]
    lifted = await http.post(f"{LIST}/{ada}/consent/sms", data={**grant, "over_opt_out": "yes"})
    assert lifted.status_code == 303
    stored = await container.repos.patients.get(ada)
    assert stored is not None and stored.opted_out_channels == [] and stored.consent.sms.status == "granted"


@pytest.mark.parametrize("data", [{}, {"csrf_token": ""}, {"csrf_token": "forged"}])
async def test_posts_without_the_csrf_token_are_refused_and_change_nothing(
    clinic: Clinic, data: dict[str, str]
) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    ada = await added(http, csrf, name="Ada Lovelace", email="ada@example.com", phone="+12125550101")
    new = {**data, "name": "Bob Builder", "email": "bob@example.com"}
    assert html_page(await http.post(f"{LIST}/new", data=new), 403).h1 == "Not allowed"
    edit = {**data, "name": "Changed Name", "email": "ada@example.com"}
    html_page(await http.post(f"{LIST}/{ada}/edit", data=edit), 403)
    consent = {**data, "status": "granted", "source": "forged"}
    html_page(await http.post(f"{LIST}/{ada}/consent/sms", data=consent), 403)
    files = {"file": ("p.csv", CSV.encode(), "text/csv")}
    html_page(await http.post(IMPORT, data=data, files=files), 403)
    assert await container.repos.patients.count() == 1
    stored = await container.repos.patients.get(ada)
    assert stored is not None and stored.name == "Ada Lovelace" and stored.consent.sms.status == "unknown"


async def test_import_reports_rejected_rows_for_download_and_is_idempotent(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    html_page(await http.get(IMPORT), 200)
    response = await upload(http, csrf, CSV)
    assert response.status_code == 303, response.text
    report_path = response.headers["location"]
    report = html_page(await http.get(report_path), 200)
    assert (text_of(report, "count-rows"), text_of(report, "count-imported"), text_of(report, "count-rejected")) == (
        "3",
        "2",
        "1",
    )
    assert '<tr id="rejected-3"><td>3</td><td>email is not a valid address</td></tr>' in report.html
    download = await http.get(report.ids["download-rejected"]["href"])
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[1][:4] == ["3", "email is not a valid address", "Bad Email", "not-an-email"] and len(rows) == 2
    ada = await container.repos.patients.get_by_email("ada@example.com")
    assert ada is not None and ada.phone == "+12125550101"
    assert (ada.consent.sms.source, ada.consent.sms.by) == ("csv_import", "staff@clinic.test")

    again = html_page(await http.get((await upload(http, csrf, CSV)).headers["location"]), 200)
    assert (text_of(again, "count-imported"), text_of(again, "count-unchanged")) == ("0", "2")
    assert await container.repos.patients.count() == 2


async def test_the_rejected_rows_are_only_for_the_uploader(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    report_path = (await upload(http, csrf, CSV)).headers["location"]
    http.cookies.clear()
    await signed_in(http, container, "other@clinic.test")
    html_page(await http.get(report_path), 404)
    html_page(await http.get(report_path + "/rejected.csv"), 404)


async def test_the_rejected_rows_are_gone_once_expired(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    report_path = (await upload(http, csrf, CSV)).headers["location"]
    stored = await container.db.patient_imports.find_one({})
    assert stored is not None and stored["expires_at"] - container.clock.now() == timedelta(days=1)
    assert (await http.get(report_path + "/rejected.csv")).status_code == 200
    # The TTL monitor deletes expired reports only later: until then they are refused all the same.
    moment = container.clock.now() - timedelta(seconds=1)
    await container.db.patient_imports.update_one({"_id": stored["_id"]}, {"$set": {"expires_at": moment}})
    html_page(await http.get(report_path + "/rejected.csv"), 404)


async def test_bad_uploads_are_pages_saying_what_is_wrong(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    none = html_page(await http.post(IMPORT, data={"csrf_token": csrf}), 422)
    assert "choose a CSV file" in text_of(none, "form-message")
    columns = html_page(await upload(http, csrf, "name,email\nAda,ada@example.com\n"), 422)
    assert "missing column(s): phone" in text_of(columns, "form-message")
    big = html_page(await upload(http, csrf, "name,email,phone\n" + "x" * IMPORT_MAX_BYTES), 413)
    assert "larger than 2 MB" in text_of(big, "form-message")
    far_too_big = await upload(http, csrf, "x" * (3 * IMPORT_MAX_BYTES))
    assert far_too_big.status_code == 413 and far_too_big.headers["content-type"].startswith("text/html")
    assert await container.repos.patients.count() == 0


async def test_unknown_or_malformed_ids_are_404_pages(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    await signed_in(http, container)
    html_page(await http.get(f"{LIST}/{'0' * 24}"), 404)
    html_page(await http.get(f"{LIST}/not-an-id"), 404)
    html_page(await http.get(f"{IMPORT}/not-an-id"), 404)
