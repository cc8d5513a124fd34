"""Console campaign pages: the filtered list (the dashboard's links among them), a campaign with its conversation,
pause / resume / resolve handoff, and starting a campaign; every change audited, every error a page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from core.container import Container
from models.enums import AuditOutcome, CampaignStatus, Role
from tests.api.admin_fixtures import campaign_doc, interaction_doc, patient_doc
from tests.web.conftest import Clinic
from tests.web.console import signed_in
from tests.web.pages import Page, html_page

LIST = "/console/campaigns"
UTC_NOW = datetime(2030, 12, 2, 7, 0, tzinfo=UTC)  # the clinic fixture's clock: Monday 2 December 2030, 08:00 Berlin


def total(page: Page) -> int:
    """The list's total as shown."""
    found = re.search(r'id="total-count">(\d+)<', page.html)
    assert found, "no total shown"
    return int(found.group(1))


def row_ids(page: Page) -> list[str]:
    """The campaign ids of the list's rows, in order."""
    return re.findall(r'<tr id="row-([0-9a-f]{24})"', page.html)


def text_of(page: Page, element_id: str) -> str:
    """The text inside the element with this id (its first text, tags removed)."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page.html, re.S)
    assert found, element_id
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


async def seed(container: Container) -> dict[str, Any]:
    """Patients and campaigns in every state; two conversions either side of the local month's start."""
    day = timedelta(days=1)
    ann = patient_doc("Ann Lee", "ann.lee@example.com", at=UTC_NOW - 30 * day, phone="+4915112345678")
    ann.update(
        timezone="Europe/Paris",
        opted_out_channels=["sms"],
        consent={
            "email": {"status": "granted", "source": "intake form", "at": datetime(2030, 11, 1, 9, 15, tzinfo=UTC)},
            "sms": {"status": "revoked", "source": "STOP reply", "at": datetime(2030, 11, 20, 18, 30, tzinfo=UTC)},
            "call": {"status": "unknown", "source": None, "at": None},
        },
    )
    bob = patient_doc("Bob Stone", "bob@example.org", at=UTC_NOW - 30 * day)
    cara = patient_doc("Cara Diaz", "cara@example.net", at=UTC_NOW - 30 * day)
    dan = patient_doc("Dan Wu", "dan@example.net", at=UTC_NOW - 30 * day)
    await container.db.patients.insert_many([ann, bob, cara, dan])

    def make(patient: dict[str, Any], kind: str, status: str, days_ago: int, **extra: Any) -> dict[str, Any]:
        return campaign_doc(patient["_id"], kind, status, created_at=UTC_NOW - days_ago * day, **extra)

    handoff = {"reason": "asked for a person", "at": UTC_NOW - day, "resolved_at": None, "note": None}
    docs = {
        "ann_recovery": make(ann, "RECOVERY", "ATTEMPTING_RECOVERY", 12, engagement_summary="Wants a cleaning"),
        "ann_recall": make(ann, "RECALL", "ENGAGED", 11),
        "bob_recovery": make(bob, "RECOVERY", "HANDOFF", 10, handoff=handoff),
        "bob_recall": make(bob, "RECALL", "ATTEMPTING_RECALL", 9),
        "cara_engaged": make(cara, "RECOVERY", "ENGAGED", 8),
        # 1 December 00:30 in Berlin is still 30 November in UTC: this month's conversion.
        "cara_december": make(
            cara, "RECOVERY", "BOOKING_COMPLETED", 7, converted_at=datetime(2030, 11, 30, 23, 30, tzinfo=UTC)
        ),
        # 30 November 23:30 in Berlin: last month's.
        "cara_november": make(
            cara, "RECOVERY", "BOOKING_COMPLETED", 40, converted_at=datetime(2030, 11, 30, 22, 30, tzinfo=UTC)
        ),
        "dan_recall_booked": make(dan, "RECALL", "BOOKING_COMPLETED", 6, converted_at=UTC_NOW - day),
        "dan_paused": make(dan, "RECOVERY", "PAUSED", 5),
        "dan_failed": make(dan, "RECALL", "FAILED", 4, failure_reason="no reply after 3 attempts"),
    }
    for key, doc in docs.items():
        doc["updated_at"] = doc["created_at"] + timedelta(hours=1)
        if doc["status"] in ("ATTEMPTING_RECOVERY", "ATTEMPTING_RECALL", "ENGAGED", "HANDOFF"):
            doc["active_key"] = f"{doc['patient_id']}:{doc['campaign_type']}"
        docs[key] = doc
    await container.db.campaigns.insert_many(list(docs.values()))
    ann_id, recovery_id = ann["_id"], docs["ann_recovery"]["_id"]
    await container.db.interactions.insert_many(
        [  # stored newest first: the page shows them oldest first
            interaction_doc(
                recovery_id,
                ann_id,
                "incoming",
                datetime(2030, 11, 28, 13, 5, tzinfo=UTC),
                "Yes please, Tuesday works.\nThanks, Ann",
                intent="booking_request",
                summary="Ann wants Tuesday",
            ),
            interaction_doc(
                recovery_id,
                ann_id,
                "outgoing",
                datetime(2030, 11, 27, 8, 0, tzinfo=UTC),
                "Dear Ann, time for your check-up.",
                summary="First outreach",
            ),
        ]
    )
    return {"ids": {key: str(doc["_id"]) for key, doc in docs.items()}, "ann": str(ann_id)}


async def status_of(container: Container, campaign_id: str) -> str:
    """The stored status of a campaign."""
    doc = await container.db.campaigns.find_one({"_id": ObjectId(campaign_id)})
    assert doc is not None
    return str(doc["status"])


async def audit_actions(container: Container) -> list[tuple[str, str, AuditOutcome, str | None]]:
    """Every audit record as (action, actor, outcome, patient id)."""
    records, _ = await container.repos.audit.page(skip=0, limit=500)
    return [(r.action, r.actor, r.outcome, r.patient_id) for r in records]


# ---- the list -------------------------------------------------------------------------------------------------


async def test_the_dashboards_links_list_exactly_the_kpis_campaigns(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed(container)
    await signed_in(http, container)
    kpis = (await container.dashboard().compute()).kpis
    ids = seeded["ids"]
    expected = {
        "?type=RECOVERY&status=active": (
            kpis.active_recovery,
            {ids["ann_recovery"], ids["bob_recovery"], ids["cara_engaged"]},
        ),
        "?type=RECALL&status=active": (kpis.active_recall, {ids["ann_recall"], ids["bob_recall"]}),
        "?status=ENGAGED": (kpis.engaged_leads, {ids["ann_recall"], ids["cara_engaged"]}),
        "?type=RECOVERY&status=BOOKING_COMPLETED&converted_from=2030-12-01&converted_to=2030-12-31": (
            kpis.recoveries_this_month,
            {ids["cara_december"]},
        ),
    }
    for query, (kpi, campaigns) in expected.items():
        page = html_page(await http.get(LIST + query), 200)
        assert total(page) == kpi == len(campaigns), query
        assert set(row_ids(page)) == campaigns, query
        assert page.ids["nav-campaigns"]["aria-current"] == "page"
    everything = html_page(await http.get(LIST), 200)
    assert total(everything) == len(ids) and "times in Europe/Berlin" in everything.html


async def test_filters_by_status_type_search_and_local_dates(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    ids = (await seed(container))["ids"]
    await signed_in(http, container)

    async def listed(query: str) -> set[str]:
        return set(row_ids(html_page(await http.get(LIST + query), 200)))

    assert await listed("?status=PAUSED") == {ids["dan_paused"]}
    assert await listed("?type=RECALL&status=FAILED") == {ids["dan_failed"]}
    assert await listed("?q=ANN.LEE") == {ids["ann_recovery"], ids["ann_recall"]}  # email, any case
    assert await listed("?q=stone&type=RECALL") == {ids["bob_recall"]}  # name
    assert await listed("?q=nobody") == set()
    assert await listed("?converted_from=2030-11-01&converted_to=2030-11-30") == {ids["cara_november"]}
    # created 4 and 5 days before 2 December 08:00 Berlin: 28 and 27 November
    assert await listed("?created_from=2030-11-27&created_to=2030-11-28") == {ids["dan_failed"], ids["dan_paused"]}
    page = html_page(await http.get(LIST + "?q=nobody&status=active"), 200)
    assert page.ids["no-campaigns"] and total(page) == 0
    assert page.value("q") == "nobody" and 'value="active" selected' in page.html  # the form keeps the filters


async def test_sorts_order_the_rows(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    ids = (await seed(container))["ids"]
    await signed_in(http, container)
    oldest_first = [ids["cara_november"], ids["ann_recovery"], ids["ann_recall"], ids["bob_recovery"]]
    assert row_ids(html_page(await http.get(LIST + "?sort=created_at"), 200))[:4] == oldest_first
    newest = row_ids(html_page(await http.get(LIST + "?sort=-created_at"), 200))
    assert newest[0] == ids["dan_failed"] and newest[-1] == ids["cara_november"]
    assert row_ids(html_page(await http.get(LIST + "?sort=updated_at"), 200))[0] == ids["cara_november"]
    assert row_ids(html_page(await http.get(LIST), 200))[0] == ids["dan_failed"]  # default: last updated first


async def test_pages_of_25_whose_links_keep_the_filters(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    patient = patient_doc("Many Times", "many@example.com", at=UTC_NOW)
    await container.db.patients.insert_one(patient)
    docs = [
        campaign_doc(patient["_id"], "RECALL", "ATTEMPTING_RECALL", created_at=UTC_NOW - timedelta(hours=i))
        for i in range(30)
    ]
    await container.db.campaigns.insert_many(
        [*docs, campaign_doc(patient["_id"], "RECOVERY", "ENGAGED", created_at=UTC_NOW)]
    )
    await signed_in(http, container)
    first = html_page(await http.get(LIST + "?type=RECALL&status=active&sort=-created_at"), 200)
    assert total(first) == 30 and len(row_ids(first)) == 25
    assert "page-previous" not in first.ids
    next_href = first.ids["page-next"]["href"]
    assert next_href == f"{LIST}?type=RECALL&status=active&sort=-created_at&page=2"
    second = html_page(await http.get(next_href), 200)
    assert row_ids(second) == [str(d["_id"]) for d in docs[25:]]
    assert "Page 2 of 2" in second.html and "page-next" not in second.ids
    assert second.ids["page-previous"]["href"] == f"{LIST}?type=RECALL&status=active&sort=-created_at&page=1"
    past = html_page(await http.get(f"{LIST}?type=RECALL&page=3"), 200)
    assert row_ids(past) == [] and "Page 3 is past the last page of these campaigns (2)." in past.html


async def test_bad_filter_values_are_a_422_page_saying_what_is_wrong(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    await seed(container)
    await signed_in(http, container)
    query = "?type=OTHER&status=nope&created_from=2030-13-01&converted_from=2030-12-10&converted_to=2030-12-01"
    page = html_page(await http.get(LIST + query + "&sort=name&page=0&q=" + "x" * 101), 422)
    for sentence in (
        "Type must be RECOVERY or RECALL.",
        "Status must be active or one of ATTEMPTING_RECOVERY",
        "Created from must be a date like 2030-12-02.",
        "Converted to must not be before converted from.",
        "Sort must be one of -updated_at, updated_at, -created_at, created_at.",
        "The page must be a whole number from 1 to 10000.",
        "The search must be at most 100 characters.",
    ):
        assert sentence in page.html, sentence
    assert page.ids["form-alert"]["role"] == "alert" and page.ids["type"]["aria-invalid"] == "true"
    assert row_ids(page) == [] and "total-count" not in page.ids
    assert page.value("created_from") == "2030-13-01"  # what was typed is shown again
    assert await container.repos.audit.count({"action": "campaigns.list"}) == 0  # nothing was read


async def test_the_list_needs_a_session_and_is_audited(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    await seed(container)
    response = await http.get(LIST + "?status=ENGAGED")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/campaigns%3Fstatus%3DENGAGED"
    await signed_in(http, container)
    html_page(await http.get(LIST), 200)
    assert ("campaigns.list", "staff@clinic.test", AuditOutcome.SUCCESS, None) in await audit_actions(container)


# ---- one campaign ---------------------------------------------------------------------------------------------


async def test_the_campaign_page_shows_the_patient_consent_and_the_conversation_in_clinic_time(
    clinic: Clinic,
) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed(container)
    campaign_id = seeded["ids"]["ann_recovery"]
    await signed_in(http, container)
    listed = html_page(await http.get(LIST + "?q=ann&type=RECOVERY"), 200)
    href = listed.ids[f"open-{campaign_id}"]["href"]
    assert href == f"{LIST}/{campaign_id}"

    page = html_page(await http.get(href), 200)
    assert page.h1 == "Ann Lee: Recovery campaign"
    assert text_of(page, "patient-email") == "ann.lee@example.com"
    assert text_of(page, "patient-phone") == "+4915112345678"
    assert text_of(page, "patient-timezone") == "Europe/Paris"
    assert text_of(page, "patient-opted-out") == "SMS"
    consent = re.search(r'id="consent-sms">(.*?)</tr>', page.html, re.S)
    assert consent and "revoked" in consent.group(1) and "STOP reply" in consent.group(1)
    assert "2030-11-20 19:30" in consent.group(1) and "Yes, opted out" in consent.group(1)  # Berlin time
    email_consent = re.search(r'id="consent-email">(.*?)</tr>', page.html, re.S)
    assert email_consent and "granted" in email_consent.group(1) and "2030-11-01 10:15" in email_consent.group(1)
    assert text_of(page, "campaign-status-detail") == "Contacting (recovery)"
    assert text_of(page, "campaign-summary") == "Wants a cleaning"
    assert text_of(page, "campaign-attempts") == "1 of 3"
    assert page.ids["start-for-patient"]["href"] == f"{LIST}/new?patient_id={seeded['ann']}"

    timeline = page.html[page.html.index('id="timeline"') :]
    first, second = timeline.index("To the patient"), timeline.index("From the patient")
    assert first < second  # oldest first
    assert "To the patient, by email, <time>2030-11-27 09:00</time>" in timeline
    assert "From the patient, by email, <time>2030-11-28 14:05</time>" in timeline
    assert "Intent: booking request" in timeline and "Ann wants Tuesday" in timeline
    assert "<details" in timeline and "Yes please, Tuesday works.\nThanks, Ann</pre>" in timeline
    assert ("campaigns.read", "staff@clinic.test", AuditOutcome.SUCCESS, seeded["ann"]) in await audit_actions(
        container
    )


async def test_handoff_details_and_the_actions_that_apply(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    ids = (await seed(container))["ids"]
    await signed_in(http, container)
    handoff = html_page(await http.get(f"{LIST}/{ids['bob_recovery']}"), 200)
    assert "asked for a person (since 2030-12-01 08:00)" in text_of(handoff, "campaign-handoff")
    assert "resolve-form" in handoff.ids and "pause-button" in handoff.ids and "resume-button" not in handoff.ids
    assert handoff.ids["answer-link"]["href"] == f"/console/handoffs/{ids['bob_recovery']}"
    paused = html_page(await http.get(f"{LIST}/{ids['dan_paused']}"), 200)
    assert "resume-button" in paused.ids and "pause-button" not in paused.ids and "resolve-form" not in paused.ids
    assert "answer-link" not in paused.ids
    failed = html_page(await http.get(f"{LIST}/{ids['dan_failed']}"), 200)
    assert failed.ids["no-actions"] and text_of(failed, "campaign-failure") == "no reply after 3 attempts"


@pytest.mark.parametrize(
    ("path", "audited"),
    [("0123456789abcdef01234567", 1), ("not-an-id", 0), ("NEW", 0), ("0123456789ABCDEF01234567", 0), ("a" * 300, 0)],
)
async def test_an_unknown_or_malformed_campaign_is_a_404_page(clinic: Clinic, path: str, audited: int) -> None:
    http, container = clinic.http, clinic.container
    await signed_in(http, container)
    page = html_page(await http.get(f"{LIST}/{path}"), 404)
    assert page.h1 == "Page not found" and page.ids["error-message"]
    # A malformed id is refused before the use case: it never reaches the audit trail.
    failures = {"action": "campaigns.read", "outcome": AuditOutcome.FAILURE.value}
    assert await container.repos.audit.count(failures) == audited


# ---- actions --------------------------------------------------------------------------------------------------


async def test_pause_then_resume_redirects_with_a_notice_and_is_audited(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed(container)
    campaign_id = seeded["ids"]["ann_recovery"]
    csrf = await signed_in(http, container)

    response = await http.post(f"{LIST}/{campaign_id}/pause", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"] == f"{LIST}/{campaign_id}?done=paused"
    assert await status_of(container, campaign_id) == "PAUSED"
    page = html_page(await http.get(response.headers["location"]), 200)
    assert page.ids["notice"]["role"] == "status" and "The campaign is paused" in page.html
    assert text_of(page, "campaign-status") == "Paused" and "resume-button" in page.ids

    response = await http.post(f"{LIST}/{campaign_id}/resume", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"].endswith("?done=resumed")
    assert await status_of(container, campaign_id) == "ATTEMPTING_RECOVERY"
    doc = await container.db.campaigns.find_one({"_id": ObjectId(campaign_id)})
    assert doc is not None and doc["follow_up_details"]["next_follow_up_at"].replace(tzinfo=UTC) == UTC_NOW
    actions = await audit_actions(container)
    for action in ("campaigns.pause", "campaigns.resume"):
        assert (action, "staff@clinic.test", AuditOutcome.SUCCESS, seeded["ann"]) in actions


@pytest.mark.parametrize("data", [{}, {"csrf_token": ""}, {"csrf_token": "forged"}])
async def test_an_action_without_the_csrf_token_is_refused_and_changes_nothing(
    clinic: Clinic, data: dict[str, str]
) -> None:
    http, container = clinic.http, clinic.container
    ids = (await seed(container))["ids"]
    await signed_in(http, container)
    for path, campaign_id in (
        ("pause", ids["ann_recovery"]),
        ("resume", ids["dan_paused"]),
        ("resolve-handoff", ids["bob_recovery"]),
    ):
        form = {**data, "note": "Called her", "outcome": "closed"}
        assert html_page(await http.post(f"{LIST}/{campaign_id}/{path}", data=form), 403).h1 == "Not allowed"
    assert await status_of(container, ids["ann_recovery"]) == "ATTEMPTING_RECOVERY"
    assert await status_of(container, ids["dan_paused"]) == "PAUSED"
    assert await status_of(container, ids["bob_recovery"]) == "HANDOFF"
    new = {**data, "name": "Zed Ray", "email": "zed@example.com", "campaign_type": "RECALL", "channel": "email"}
    assert (await http.post(f"{LIST}/new", data=new)).status_code == 403
    assert await container.repos.patients.get_by_email("zed@example.com") is None
    assert not [a for a in await audit_actions(container) if a[0].startswith("campaigns.") and a[0] != "campaigns.read"]


async def test_an_action_that_does_not_apply_is_a_409_page_explaining_it(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed(container)
    failed = seeded["ids"]["dan_failed"]
    csrf = await signed_in(http, container)
    page = html_page(await http.post(f"{LIST}/{failed}/pause", data={"csrf_token": csrf}), 409)
    assert "The campaign is FAILED or is being worked on right now; reload and retry." in page.html
    assert page.ids["form-alert"]["role"] == "alert" and page.h1 == "Dan Wu: Recall campaign"
    engaged = seeded["ids"]["ann_recall"]
    resumed = html_page(await http.post(f"{LIST}/{engaged}/resume", data={"csrf_token": csrf}), 409)
    assert "The campaign is ENGAGED" in resumed.html
    assert await status_of(container, failed) == "FAILED" and await status_of(container, engaged) == "ENGAGED"
    actions = await audit_actions(container)
    dan = await patient_of(container, failed)
    assert ("campaigns.pause", "staff@clinic.test", AuditOutcome.FAILURE, dan) in actions
    assert ("campaigns.resume", "staff@clinic.test", AuditOutcome.FAILURE, seeded["ann"]) in actions


async def patient_of(container: Container, campaign_id: str) -> str:
    """The stored patient id of a campaign."""
    doc = await container.db.campaigns.find_one({"_id": ObjectId(campaign_id)})
    assert doc is not None
    return str(doc["patient_id"])


@pytest.mark.parametrize(("outcome", "status"), [("engaged", "ENGAGED"), ("closed", "DECLINED")])
async def test_resolving_a_handoff_records_the_note_and_the_outcome(clinic: Clinic, outcome: str, status: str) -> None:
    http, container = clinic.http, clinic.container
    campaign_id = (await seed(container))["ids"]["bob_recovery"]
    csrf = await signed_in(http, container)
    response = await http.post(
        f"{LIST}/{campaign_id}/resolve-handoff",
        data={"csrf_token": csrf, "note": "  Called Bob, he will book online  ", "outcome": outcome},
    )
    assert response.status_code == 303 and response.headers["location"].endswith(f"?done={outcome}")
    doc = await container.db.campaigns.find_one({"_id": ObjectId(campaign_id)})
    assert doc is not None and doc["status"] == status
    assert doc["handoff"]["note"] == "Called Bob, he will book online" and doc["handoff"]["resolved_at"] is not None
    page = html_page(await http.get(response.headers["location"]), 200)
    assert text_of(page, "campaign-handoff-note") == "Called Bob, he will book online"
    assert page.ids["notice"]["role"] == "status"
    actions = await audit_actions(container)
    assert (f"campaigns.resolve_handoff.{outcome}", "staff@clinic.test", AuditOutcome.SUCCESS) in [
        a[:3] for a in actions
    ]


async def test_resolving_without_a_note_or_outcome_is_a_422_page_and_changes_nothing(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    campaign_id = (await seed(container))["ids"]["bob_recovery"]
    csrf = await signed_in(http, container)
    page = html_page(
        await http.post(
            f"{LIST}/{campaign_id}/resolve-handoff", data={"csrf_token": csrf, "note": "   ", "outcome": "maybe"}
        ),
        422,
    )
    assert "Please write a note on how the handoff was resolved." in page.html
    assert "Please choose how it goes on" in page.html and page.ids["note"]["aria-invalid"] == "true"
    kept = html_page(
        await http.post(f"{LIST}/{campaign_id}/resolve-handoff", data={"csrf_token": csrf, "note": "Kept text"}), 422
    )
    assert "Kept text</textarea>" in kept.html
    assert await status_of(container, campaign_id) == "HANDOFF"


# ---- new campaign ---------------------------------------------------------------------------------------------


async def test_starting_a_campaign_for_a_new_patient(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    form = html_page(await http.get(f"{LIST}/new"), 200)
    assert form.h1 == "New campaign" and form.hidden["csrf_token"] == csrf and "patient_id" not in form.hidden
    response = await http.post(
        f"{LIST}/new",
        data={
            "csrf_token": csrf,
            "name": "Zed Ray",
            "email": "Zed@Example.com",
            "phone": "",
            "campaign_type": "RECALL",
            "channel": "email",
            "max_attempts": "5",
        },
    )
    assert response.status_code == 303
    location = response.headers["location"]
    found = re.fullmatch(rf"{LIST}/([0-9a-f]{{24}})\?done=created", location)
    assert found, location
    patient = await container.repos.patients.get_by_email("zed@example.com")
    campaign = await container.repos.campaigns.get(found.group(1))
    assert patient is not None and campaign is not None and campaign.patient_id == patient.id
    assert campaign.status == CampaignStatus.ATTEMPTING_RECALL and campaign.follow_up_details.max_attempts == 5
    page = html_page(await http.get(location), 200)
    assert "The campaign is started" in page.html and page.h1 == "Zed Ray: Recall campaign"
    assert ("campaigns.create", "staff@clinic.test", AuditOutcome.SUCCESS, patient.id) in await audit_actions(container)


async def test_the_new_campaign_form_shows_its_errors_and_keeps_what_was_typed(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    data = {"csrf_token": csrf, "name": "", "email": "not-an-email", "phone": "call me", "max_attempts": "11"}
    page = html_page(await http.post(f"{LIST}/new", data={**data, "channel": "fax"}), 422)
    for sentence in (
        "The name must not be blank.",
        "Please enter a valid email address, like name@example.com.",
        "Please enter a phone number with digits only",
        "Please choose the type: recovery or recall.",
        "Please choose the channel: email, SMS or phone call.",
        "Max attempts must be a whole number from 1 to 10 (or left empty).",
    ):
        assert sentence in page.html, sentence
    assert page.ids["form-alert"]["role"] == "alert" and 'href="#email"' in page.html
    assert page.value("email") == "not-an-email" and page.value("phone") == "call me"
    assert page.value("max_attempts") == "11" and page.ids["email"]["aria-invalid"] == "true"
    nothing = {**data, "name": "Zed Ray", "email": "", "phone": "", "max_attempts": "", "campaign_type": "RECALL"}
    page = html_page(await http.post(f"{LIST}/new", data=nothing), 422)
    assert "Please enter an email address or a phone number." in page.html and page.value("name") == "Zed Ray"
    sms = {**nothing, "email": "zed@example.com", "channel": "sms"}
    page = html_page(await http.post(f"{LIST}/new", data=sms), 422)
    assert "The patient has no phone number for an SMS or call campaign." in page.html
    assert await container.repos.campaigns.count() == 0


async def test_a_second_active_campaign_of_a_type_is_a_409_linking_to_the_active_one(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed(container)
    csrf = await signed_in(http, container)
    detail = html_page(await http.get(f"{LIST}/{seeded['ids']['ann_recall']}"), 200)
    form = html_page(await http.get(detail.ids["start-for-patient"]["href"]), 200)
    assert form.hidden["patient_id"] == seeded["ann"] and "For Ann Lee (ann.lee@example.com)" in form.html
    assert "name" not in form.ids
    before = await container.repos.campaigns.count()
    data = {"csrf_token": csrf, "patient_id": seeded["ann"], "campaign_type": "RECALL", "channel": "email"}
    page = html_page(await http.post(f"{LIST}/new", data=data), 409)
    assert "The patient already has an active RECALL campaign." in page.html
    assert page.ids["active-campaign-link"]["href"] == f"{LIST}/{seeded['ids']['ann_recall']}"
    assert page.hidden["patient_id"] == seeded["ann"]
    assert await container.repos.campaigns.count() == before
    unknown = {**data, "patient_id": "0123456789abcdef01234567"}
    assert html_page(await http.post(f"{LIST}/new", data=unknown), 404).h1 == "Page not found"
    for bad in ("nope", seeded["ann"] + "ff"):
        assert html_page(await http.get(f"{LIST}/new?patient_id={bad}"), 404).h1 == "Page not found"


async def test_admins_use_the_same_pages(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    ids = (await seed(container))["ids"]
    csrf = await signed_in(http, container, "admin@clinic.test", role=Role.ADMIN)
    assert total(html_page(await http.get(LIST + "?status=HANDOFF"), 200)) == 1
    response = await http.post(f"{LIST}/{ids['bob_recall']}/pause", data={"csrf_token": csrf})
    assert response.status_code == 303 and await status_of(container, ids["bob_recall"]) == "PAUSED"
