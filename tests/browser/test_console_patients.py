"""Staff in a real browser: search patients, open one, record SMS consent, import a CSV with a bad row and download
the rejected rows; axe and no sideways scroll on every page at both sizes."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

from playwright.async_api import Page, expect

from tests.api.admin_fixtures import patient_doc
from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.support import assert_accessible, assert_fits_width

CSV = (
    "name,email,phone,timezone,email_consent,sms_consent,call_consent\n"
    "Cyd Charisse,cyd@example.com,(212) 555-0103,,granted,granted,\n"
    "Bad Phone,bad@example.com,555-12,,,,\n"
)


async def checked(page: Page) -> None:
    """axe finds nothing and the page fits the viewport's width."""
    await assert_accessible(page)
    await assert_fits_width(page)


async def test_staff_search_open_a_patient_record_consent_and_import_a_csv(page: Page, live_app: LiveApp) -> None:
    now = live_app.container.clock.now()
    ann = patient_doc("Ann Lee", "ann.lee@example.com", at=now, phone="+12125550101")
    await live_app.container.db.patients.insert_many([ann, patient_doc("Bob Stone", "bob@example.org", at=now)])
    await sign_in(page, live_app)

    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Patients").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    await expect(page.locator("#total-count")).to_have_text("2")
    await checked(page)
    await page.get_by_label("Name, email or phone").fill("555-0101")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#total-count")).to_have_text("1")
    await page.get_by_role("link", name="Ann Lee").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ann Lee")
    await checked(page)

    await page.get_by_label("SMS consent").select_option("granted")
    await page.locator("#sms-source").fill("phone call")
    await page.get_by_role("button", name="Record SMS consent").click()
    await expect(page.locator("#notice")).to_have_text("The consent is recorded.")
    await expect(page.locator("#consent-sms-status")).to_have_text("granted")
    await expect(page.locator("#consent-sms-by")).to_have_text("staff@clinic.test")
    await checked(page)
    stored = await live_app.container.repos.patients.get(str(ann["_id"]))
    assert stored is not None and stored.consent.sms.source == "phone call"

    await page.get_by_role("link", name="Back to patients").click()
    await page.get_by_role("link", name="Import a CSV file").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Import patients")
    await checked(page)
    await page.get_by_label("CSV file").set_input_files(
        {"name": "patients.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
    )
    await page.get_by_role("button", name="Import").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Import report")
    await expect(page.locator("#count-imported")).to_have_text("1")
    await expect(page.locator("#count-rejected")).to_have_text("1")
    await checked(page)
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    download = await download_info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["line", "reason", "name", "email", "phone"]
    assert [r[0] for r in rows[1:]] == ["3"] and rows[1][2] == "Bad Phone"
    cyd = await live_app.container.repos.patients.get_by_email("cyd@example.com")
    assert cyd is not None and cyd.phone == "+12125550103"
