"""The unsubscribe link of an email, opened and used in a real browser at phone and desktop sizes."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from domain.consent import unsubscribe_url
from models.enums import Channel, ConsentStatus
from tests.browser.conftest import LiveApp
from tests.browser.support import assert_accessible, assert_fits_width


async def test_a_patient_unsubscribes_from_the_emailed_link(page: Page, live_app: LiveApp) -> None:
    container = live_app.container
    now = container.clock.now()
    patient, _ = await container.repos.patients.find_or_create(
        name="Ada Example", email="ada@example.test", phone=None, now=now
    )
    link = unsubscribe_url(live_app.settings, patient.id, now=now)

    response = await page.goto(link)
    assert response is not None and response.status == 200
    await expect(page.get_by_role("heading", level=1)).to_contain_text(live_app.settings.CLINIC_NAME)
    await assert_accessible(page)
    await assert_fits_width(page)
    stored = await container.repos.patients.get(patient.id)
    assert stored is not None and Channel.EMAIL not in stored.opted_out_channels  # GET changes nothing

    await page.get_by_role("button", name=re.compile("unsubscribe", re.IGNORECASE)).click()

    await expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("unsubscribed", re.IGNORECASE))
    await assert_accessible(page)
    await assert_fits_width(page)
    stored = await container.repos.patients.get(patient.id)
    assert stored is not None
    assert Channel.EMAIL in stored.opted_out_channels
    assert stored.consent.email.status == ConsentStatus.REVOKED
