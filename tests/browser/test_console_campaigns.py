"""Staff in a real browser: the campaign list and its filters, a campaign's conversation, pause and resume, and
starting a campaign from the patient card; axe and no sideways scroll on every page at both sizes."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Page, expect

from tests.api.admin_fixtures import campaign_doc, interaction_doc, patient_doc
from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.support import assert_accessible, assert_fits_width


async def seed(live_app: LiveApp) -> tuple[str, str]:
    """Ann's active recovery campaign with a two-message conversation, and others around it (one waiting for
    staff); the ids of Ann's campaign and of the handoff."""
    db = live_app.container.db
    now = live_app.container.clock.now()
    ann = patient_doc("Ann Lee", "ann.lee@example.com", at=now, phone="+4915112345678")
    others = [patient_doc(f"Other Patient {i}", f"other{i}@example.com", at=now) for i in range(3)]
    await db.patients.insert_many([ann, *others])
    campaign = campaign_doc(
        ann["_id"],
        "RECOVERY",
        "ATTEMPTING_RECOVERY",
        created_at=now - timedelta(days=3),
        engagement_summary="Asked about a cleaning",
        active_key=f"{ann['_id']}:RECOVERY",
    )
    rest = [campaign_doc(p["_id"], "RECALL", "ENGAGED", created_at=now - timedelta(days=1)) for p in others]
    rest[0].update(status="HANDOFF", handoff={"reason": "asked for a person", "at": now, "resolved_at": None})
    await db.campaigns.insert_many([campaign, *rest])
    await db.interactions.insert_many(
        [
            interaction_doc(
                campaign["_id"], ann["_id"], "outgoing", now - timedelta(days=2), "Dear Ann, time for a check-up."
            ),
            interaction_doc(
                campaign["_id"],
                ann["_id"],
                "incoming",
                now - timedelta(days=1),
                "Could I come on Tuesday morning?",
                intent="booking_request",
            ),
        ]
    )
    return str(campaign["_id"]), str(rest[0]["_id"])


async def checked(page: Page) -> None:
    """axe finds nothing and the page fits the viewport's width."""
    await assert_accessible(page)
    await assert_fits_width(page)


async def test_staff_filter_read_a_conversation_pause_resume_and_start_a_campaign(
    page: Page, live_app: LiveApp
) -> None:
    campaign_id, handoff_id = await seed(live_app)
    await sign_in(page, live_app)

    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Campaigns").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")
    await expect(page.locator("#total-count")).to_have_text("4")
    await checked(page)

    await page.get_by_label("Type").select_option("RECOVERY")
    await page.get_by_label("Patient name or email").fill("ann")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page.locator("#total-count")).to_have_text("1")
    assert "type=RECOVERY" in page.url and "q=ann" in page.url
    await expect(page.get_by_label("Patient name or email")).to_have_value("ann")
    await checked(page)

    await page.get_by_role("link", name="Ann Lee").click()
    await expect(page).to_have_url(live_app.link(f"/console/campaigns/{campaign_id}"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ann Lee: Recovery campaign")
    turns = page.locator("#timeline > li")
    await expect(turns).to_have_count(2)
    await expect(turns.nth(0).get_by_role("heading")).to_contain_text("To the patient, by email")
    await expect(turns.nth(1).get_by_role("heading")).to_contain_text("From the patient, by email")
    body = turns.nth(1).locator(".message-body")
    await expect(body).to_be_hidden()
    await turns.nth(1).get_by_text("Message", exact=True).click()
    await expect(body).to_have_text("Could I come on Tuesday morning?")
    await expect(turns.nth(1)).to_contain_text("Intent: booking request")
    await checked(page)

    await page.get_by_role("button", name="Pause outreach").click()
    await expect(page).to_have_url(live_app.link(f"/console/campaigns/{campaign_id}?done=paused"))
    await expect(page.get_by_role("status")).to_contain_text("The campaign is paused")
    await expect(page.locator("#campaign-status")).to_have_text("Paused")
    await checked(page)
    await page.get_by_role("button", name="Resume outreach").click()
    await expect(page.get_by_role("status")).to_contain_text("The campaign is resumed")
    await expect(page.locator("#campaign-status")).to_have_text("Contacting (recovery)")
    stored = await live_app.container.repos.campaigns.get(campaign_id)
    assert stored is not None and stored.status.value == "ATTEMPTING_RECOVERY"

    await page.get_by_role("link", name="Start a campaign for this patient").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New campaign")
    await expect(page.locator("#for-patient")).to_contain_text("For Ann Lee")
    await checked(page)
    await page.get_by_role("button", name="Start campaign").click()  # no type chosen
    await expect(page.get_by_role("alert")).to_contain_text("Please choose the type: recovery or recall.")
    await checked(page)
    await page.get_by_label("Recall").check()
    await page.get_by_role("button", name="Start campaign").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ann Lee: Recall campaign")
    await expect(page.get_by_role("status")).to_contain_text("The campaign is started")

    await page.goto(f"/console/campaigns/{handoff_id}")
    await expect(page.locator("#campaign-status")).to_have_text("Waiting for staff (handoff)")
    await checked(page)
    await page.get_by_label("Note").fill("Called them; they will book online.")
    await page.get_by_label("Close the campaign (declined)").check()
    await page.get_by_role("button", name="Resolve handoff").click()
    await expect(page.get_by_role("status")).to_contain_text("The handoff is resolved")
    await expect(page.locator("#campaign-handoff-note")).to_have_text("Called them; they will book online.")
    await expect(page.locator("#campaign-status")).to_have_text("Declined")
