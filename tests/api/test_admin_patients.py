"""Staff patients API: search, create and edit (E.164, duplicates 409), consent with who/when/source and the
opt-out rule, CSV import with its report and rejected rows; every call audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from core.container import Container
from domain.patients_admin import IMPORT_MAX_BYTES, IMPORT_MAX_ROWS
from models.enums import CampaignType, Channel, Role
from models.patient import Patient

PATIENTS = "/api/v1/admin/patients"
IMPORT = PATIENTS + "/import"
CSV = (
    "name,email,phone,timezone,email_consent,sms_consent,call_consent\n"
    "Ada Lovelace,ADA@example.com,(212) 555-0101,Europe/London,granted,granted,\n"
    "Bob Builder,bob@example.com,,,,,\n"
    "Bad Phone,bad@example.com,555-12,,,,\n"
    "Bad Consent,bc@example.com,,,,maybe,\n"
    "Cyd Charisse,,+12125550103,,,granted,revoked\n"
)


@pytest.fixture
async def staff(login: Callable[..., Any]) -> dict[str, str]:
    """Headers of a logged-in staff member (staff@clinic.test)."""
    headers: dict[str, str] = await login(Role.STAFF, email="staff@clinic.test")
    return headers


async def create(client: httpx.AsyncClient, staff: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(PATIENTS, headers=staff, json=body)


async def audit_actions(container: Container) -> list[tuple[str, str | None, str]]:
    """(action, patient id, outcome) of every audit record, oldest first."""
    cursor = container.db.audit_log.find({}).sort("at", 1)
    return [(d["action"], str(d["patient_id"]) if d.get("patient_id") else None, d["outcome"]) async for d in cursor]


def upload(text: str | bytes, name: str = "patients.csv") -> dict[str, Any]:
    data = text.encode() if isinstance(text, str) else text
    return {"files": {"file": (name, data, "text/csv")}}


async def test_staff_only(client: httpx.AsyncClient) -> None:
    for method, path in (("GET", PATIENTS), ("POST", PATIENTS), ("POST", IMPORT)):
        response = await client.request(method, path)
        assert response.status_code == 401 and response.json()["error"] == "not_authenticated"


async def test_create_normalises_phone_to_e164_and_email_and_is_audited(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    response = await create(client, staff, name="Ada Lovelace", email="Ada@Example.com", phone="(212) 555-0101")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["phone"] == "+12125550101" and body["email"] == "ada@example.com"
    assert body["consent"]["sms"] == {"status": "unknown", "source": None, "by": None, "at": None}
    assert (await audit_actions(container))[-1] == ("patients.create", body["id"], "success")


async def test_duplicates_are_refused_with_409(client: httpx.AsyncClient, staff: dict[str, str]) -> None:
    first = (await create(client, staff, name="Ada Lovelace", email="ada@example.com", phone="+12125550101")).json()
    same_email = await create(client, staff, name="Ada Again", email="ADA@example.com")
    assert same_email.status_code == 409 and same_email.json()["error"] == "duplicate_patient"
    assert "email" in same_email.json()["detail"]
    same_phone = await create(client, staff, name="Someone Else", email="else@example.com", phone="212-555-0101")
    assert same_phone.status_code == 409 and "phone" in same_phone.json()["detail"]
    other = (await create(client, staff, name="Bob Builder", email="bob@example.com")).json()
    taken = await client.patch(f"{PATIENTS}/{other['id']}", headers=staff, json={"email": "ada@example.com"})
    assert taken.status_code == 409 and taken.json()["error"] == "duplicate_patient"
    # Keeping one's own email is no duplicate.
    own = await client.patch(f"{PATIENTS}/{first['id']}", headers=staff, json={"email": "ada@example.com"})
    assert own.status_code == 200


async def test_bad_fields_are_422_and_nothing_is_written(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    assert (await create(client, staff, name="No Contact")).status_code == 422
    bad = await create(client, staff, name="Ada", email="ada@example.com", phone="555-12")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_phone"
    assert await container.repos.patients.count() == 0


async def test_edit_changes_given_fields_normalising_the_phone(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    ada = (await create(client, staff, name="Ada Lovelace", email="ada@example.com")).json()
    response = await client.patch(
        f"{PATIENTS}/{ada['id']}", headers=staff, json={"phone": "212 555 0199", "timezone": "America/New_York"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phone"] == "+12125550199" and body["timezone"] == "America/New_York" and body["name"] == "Ada Lovelace"
    assert (await audit_actions(container))[-1] == ("patients.update", ada["id"], "success")
    emptied = await client.patch(f"{PATIENTS}/{ada['id']}", headers=staff, json={"email": None, "phone": None})
    assert emptied.status_code == 422 and emptied.json()["error"] == "contact_required"
    zone = await client.patch(f"{PATIENTS}/{ada['id']}", headers=staff, json={"timezone": "Mars/Olympus"})
    assert zone.status_code == 422
    unknown = await client.patch(f"{PATIENTS}/{'0' * 24}", headers=staff, json={"name": "X Y"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "patient_not_found"


async def test_search_by_name_email_or_phone_paged_and_audited(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    for i, name in enumerate(("Ada Lovelace", "Bob Builder", "Cyd Charisse", "Dan Brown")):
        await create(client, staff, name=name, email=f"{name.split()[0].lower()}@example.com", phone=f"+1212555010{i}")
    by_name = (await client.get(PATIENTS, headers=staff, params={"q": "lovel"})).json()
    assert [p["name"] for p in by_name["items"]] == ["Ada Lovelace"] and by_name["total"] == 1
    by_email = (await client.get(PATIENTS, headers=staff, params={"q": "bob@"})).json()
    assert [p["name"] for p in by_email["items"]] == ["Bob Builder"]
    by_phone = (await client.get(PATIENTS, headers=staff, params={"q": "555-0102"})).json()
    assert [p["name"] for p in by_phone["items"]] == ["Cyd Charisse"]
    paged = (await client.get(PATIENTS, headers=staff, params={"page_size": 3, "page": 2})).json()
    assert paged["total"] == 4 and [p["name"] for p in paged["items"]] == ["Dan Brown"]
    assert (await audit_actions(container))[-1] == ("patients.list", None, "success")


async def test_detail_has_consent_and_campaigns(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    ada = (await create(client, staff, name="Ada Lovelace", email="ada@example.com")).json()
    started = await client.post(
        "/api/v1/admin/campaigns", headers=staff, json={"patient_id": ada["id"], "campaign_type": "RECALL"}
    )
    assert started.status_code == 201, started.text
    detail = await client.get(f"{PATIENTS}/{ada['id']}", headers=staff)
    assert detail.status_code == 200
    assert [c["campaign_type"] for c in detail.json()["campaigns"]] == [CampaignType.RECALL.value]
    assert (await audit_actions(container))[-1] == ("patients.read", ada["id"], "success")
    assert (await client.get(f"{PATIENTS}/nope", headers=staff)).status_code == 422


async def test_consent_records_who_when_source_and_an_opt_out_is_lifted_only_deliberately(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    ada = (await create(client, staff, name="Ada Lovelace", email="ada@example.com", phone="+12125550101")).json()
    path = f"{PATIENTS}/{ada['id']}/consent/sms"
    granted = await client.put(path, headers=staff, json={"status": "granted", "source": "phone call"})
    assert granted.status_code == 200, granted.text
    sms = granted.json()["consent"]["sms"]
    assert sms["status"] == "granted" and sms["source"] == "phone call" and sms["by"] == "staff@clinic.test"
    assert sms["at"] is not None
    assert (await audit_actions(container))[-1] == ("patients.consent", ada["id"], "success")

    revoked = (await client.put(path, headers=staff, json={"status": "revoked", "source": "asked by phone"})).json()
    assert revoked["opted_out_channels"] == ["sms"]
    again = await client.put(path, headers=staff, json={"status": "granted", "source": "phone call"})
    assert again.status_code == 409 and again.json()["error"] == "opted_out"
    stored = await container.repos.patients.get(ada["id"])
    assert stored is not None and stored.consent.sms.status == "revoked" and stored.opted_out_channels == [Channel.SMS]
    assert (await audit_actions(container))[-1] == ("patients.consent", ada["id"], "failure")
    lifted = await client.put(
        path, headers=staff, json={"status": "granted", "source": "patient asked", "over_opt_out": True}
    )
    assert lifted.status_code == 200
    assert lifted.json()["opted_out_channels"] == [] and lifted.json()["consent"]["sms"]["status"] == "granted"

    assert (await client.put(f"{PATIENTS}/{ada['id']}/consent/fax", headers=staff, json={})).status_code == 422
    no_source = await client.put(path, headers=staff, json={"status": "granted", "source": ""})
    assert no_source.status_code == 422


async def imported(container: Container) -> dict[str, Patient]:
    return {p.name: p for p in (await container.repos.patients.page(None, skip=0, limit=100))[0]}


async def test_import_reports_rejects_and_is_idempotent(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    response = await client.post(IMPORT, headers=staff, **upload(CSV))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["imported"], report["updated"], report["unchanged"]) == (5, 3, 0, 0)
    assert [(r["line"], r["reason"]) for r in report["rejected"]] == [
        (4, "phone is not a valid phone number (give the country code, e.g. +15551234567)"),
        (5, "sms_consent must be one of granted, unknown, revoked (or empty)"),
    ]
    patients = await imported(container)
    ada = patients["Ada Lovelace"]
    assert ada.email == "ada@example.com" and ada.phone == "+12125550101" and ada.timezone == "Europe/London"
    assert ada.consent.sms.status == "granted" and ada.consent.sms.source == "csv_import"
    assert ada.consent.sms.by == "staff@clinic.test" and ada.consent.sms.at is not None
    assert patients["Cyd Charisse"].opted_out_channels == [Channel.CALL]

    download = await client.get(report["rejected_csv_url"], headers=staff)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == [
        "line",
        "reason",
        "name",
        "email",
        "phone",
        "timezone",
        "email_consent",
        "sms_consent",
        "call_consent",
    ]
    assert [r[:3] for r in rows[1:]] == [["4", rows[1][1], "Bad Phone"], ["5", rows[2][1], "Bad Consent"]]

    again = (await client.post(IMPORT, headers=staff, **upload(CSV))).json()
    assert (again["imported"], again["updated"], again["unchanged"], len(again["rejected"])) == (0, 0, 3, 2)
    assert await container.repos.patients.count() == 3

    changed = CSV.replace("Bob Builder,bob@example.com,,,,,", "Bob Builder,bob@example.com,,,revoked,,")
    third = (await client.post(IMPORT, headers=staff, **upload(changed))).json()
    assert (third["imported"], third["updated"], third["unchanged"]) == (0, 1, 2)
    actions = [a for a, _, _ in await audit_actions(container)]
    assert actions.count("patients.import") == 3 and actions.count("patients.create") == 3


async def test_import_never_lifts_an_opt_out(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    await client.post(IMPORT, headers=staff, **upload(CSV))
    # The row also revokes email (allowed alone): refused as a whole, nothing of it is written.
    regrant = CSV.replace("+12125550103,,,granted,revoked", "+12125550103,,revoked,granted,granted")
    report = (await client.post(IMPORT, headers=staff, **upload(regrant))).json()
    assert report["updated"] == 0 and report["rejected"][-1]["line"] == 6
    assert "cannot lift the patient's opt-out of call" in report["rejected"][-1]["reason"]
    cyd = (await imported(container))["Cyd Charisse"]
    assert cyd.consent.call.status == "revoked" and cyd.consent.email.status == "unknown"


async def test_rejected_rows_are_the_uploaders_only(
    client: httpx.AsyncClient, staff: dict[str, str], login: Callable[..., Any]
) -> None:
    report = (await client.post(IMPORT, headers=staff, **upload(CSV))).json()
    other = await login(Role.STAFF, email="other@clinic.test")
    response = await client.get(report["rejected_csv_url"], headers=other)
    assert response.status_code == 404 and response.json()["error"] == "import_not_found"


async def test_import_refuses_bad_files_whole(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    missing = await client.post(IMPORT, headers=staff, **upload("name,email\nAda,ada@example.com\n"))
    assert (
        missing.status_code == 422 and missing.json()["error"] == "invalid_csv" and "phone" in missing.json()["detail"]
    )
    not_utf8 = await client.post(
        IMPORT, headers=staff, **upload("name,email,phone\nJos\xe9,j@example.com,\n".encode("latin-1"))
    )
    assert not_utf8.status_code == 422 and "UTF-8" in not_utf8.json()["detail"]
    many = "name,email,phone\n" + "".join(f"P{i} Q,p{i}@example.com,\n" for i in range(IMPORT_MAX_ROWS + 1))
    too_many = await client.post(IMPORT, headers=staff, **upload(many))
    assert too_many.status_code == 422 and str(IMPORT_MAX_ROWS) in too_many.json()["detail"]
    big = "name,email,phone\n" + "x" * IMPORT_MAX_BYTES
    too_big = await client.post(IMPORT, headers=staff, **upload(big))
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    far_too_big = await client.post(IMPORT, headers=staff, **upload("x" * (3 * IMPORT_MAX_BYTES)))
    assert far_too_big.status_code == 413
    assert await container.repos.patients.count() == 0
