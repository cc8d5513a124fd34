"""Staff answer a handed-off patient in a real browser: queue, answer page, edited reply, one threaded email."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.support import assert_accessible, assert_fits_width
from tests.web.handoffs import QUESTION, SUBJECT, seed_handoff

ANSWER = "Of course, bring your daughter along: we will book two chairs side by side on the same morning."


async def test_staff_answer_a_handoff_in_the_patients_thread_exactly_once(page: Page, live_app: LiveApp) -> None:
    seeded = await seed_handoff(live_app.container)
    await sign_in(page, live_app)

    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Handoffs").click()
    await expect(page).to_have_url(live_app.link("/console/handoffs"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Handoffs")
    card = page.locator(f"#handoff-{seeded.campaign.id}")
    await expect(card).to_contain_text("The agent did not answer")
    await expect(card).to_contain_text(QUESTION[:40])
    await assert_accessible(page)
    await assert_fits_width(page)

    await card.get_by_role("link", name="Answer Ann Lee").click()
    await expect(page).to_have_url(live_app.link(f"/console/handoffs/{seeded.campaign.id}"))
    await expect(page.locator("#last-message")).to_have_text(QUESTION)
    reply = page.get_by_label("Reply to Ann")
    suggested = await reply.input_value()
    assert suggested.startswith("Hi Ann,") and "/book?c=" in suggested
    await assert_accessible(page)
    await assert_fits_width(page)

    # A second tab of the same staff member holds the same form, to be submitted after the first one.
    stale = await page.context.new_page()
    await stale.goto(f"/console/handoffs/{seeded.campaign.id}")

    edited = suggested.replace("Thank you for your message, and sorry to keep you waiting for an answer.", ANSWER)
    await reply.fill(edited)
    await page.get_by_role("button", name="Send reply").click()

    await expect(page).to_have_url(live_app.link("/console/handoffs?done=answered"))
    await expect(page.locator("#notice")).to_contain_text("Your answer was sent")
    await expect(page.locator(f"#handoff-{seeded.campaign.id}")).to_have_count(0)
    [message] = await live_app.smtp.arrival(1)
    assert message["To"] == "ann@example.com" and message["Subject"] == f"Re: {SUBJECT}"
    assert message["In-Reply-To"] == seeded.patient_message_id
    assert message["References"].split() == [seeded.outreach_id, seeded.patient_message_id]
    assert ANSWER in message.get_content()

    await stale.get_by_label("Reply to Ann").fill("A second answer from the other tab")
    await stale.get_by_role("button", name="Send reply").click()
    await expect(stale.get_by_role("heading", level=1)).to_have_text("Already answered or resolved")
    await expect(stale.locator("#error-message")).to_contain_text("already answered by staff@clinic.test")
    await assert_accessible(stale)
    await assert_fits_width(stale)

    await page.go_back()  # the answer page again: the handoff is closed now, so its form is gone
    await expect(page.get_by_role("heading", level=1)).to_have_text("Already answered or resolved")
    await asyncio.sleep(0.3)
    assert len(live_app.smtp.messages) == 1
