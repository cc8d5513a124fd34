"""Staff campaign list, detail with conversation, creation, lifecycle actions, handoff queue, audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from bson import ObjectId

from core.container import Container
from models.enums import Role
from tests.api.admin_fixtures import campaign_doc, interaction_doc, patient_doc

BERLIN = ZoneInfo("Europe/Berlin")
CAMPAIGNS = "/api/v1/admin/campaigns"


@pytest.fixture
async def staff(login: Callable[..., Any]) -> dict[str, str]:
    """Headers of a logged-in staff member."""
    headers: dict[str, str] = await login(Role.STAFF)
    return headers


async def seed_list(container: Container) -> dict[str, Any]:
    """Three patients and 30 campaigns with known types, statuses, creation and update times."""
    now = datetime.now(UTC).replace(microsecond=0)
    ada = patient_doc("Ada Lovelace", "ada@analytical.org", at=now)
    bob = patient_doc("Bob Builder", "bob@build.example", at=now)
    cyd = patient_doc("Cyd Charisse", "cyd@dance.example", at=now)
    await container.db.patients.insert_many([ada, bob, cyd])
    docs = []
    for i in range(30):
        patient = (ada, bob, cyd)[i % 3]
        docs.append(
            campaign_doc(
                patient["_id"],
                "RECOVERY" if i % 2 else "RECALL",
                ("ENGAGED", "FAILED", "HANDOFF", "PAUSED", "DECLINED")[i % 5],
                created_at=now - timedelta(days=i),
                updated_at=now - timedelta(minutes=7 * i + (i % 4)),
            )
        )
    await container.db.campaigns.insert_many(docs)
    return {"now": now, "patients": (ada, bob, cyd), "campaigns": docs}


async def test_list_defaults_to_latest_update_first_with_patient_name_and_email(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    data = await seed_list(container)
    response = await client.get(CAMPAIGNS, headers=staff, params={"page_size": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 30 and body["page"] == 1 and body["page_size"] == 7 and len(body["items"]) == 7
    expected = sorted(data["campaigns"], key=lambda c: c["updated_at"], reverse=True)
    assert [i["id"] for i in body["items"]] == [str(c["_id"]) for c in expected[:7]]
    names = {str(p["_id"]): (p["name"], p["email"]) for p in data["patients"]}
    for item in body["items"]:
        assert (item["patient_name"], item["patient_email"]) == names[item["patient_id"]]
    last = await client.get(CAMPAIGNS, headers=staff, params={"page_size": 7, "page": 5})
    assert [i["id"] for i in last.json()["items"]] == [str(c["_id"]) for c in expected[28:]]
    assert last.json()["total"] == 30
    oldest = await client.get(CAMPAIGNS, headers=staff, params={"sort": "created_at", "page_size": 3})
    assert [i["id"] for i in oldest.json()["items"]] == [
        str(c["_id"]) for c in sorted(data["campaigns"], key=lambda c: c["created_at"])[:3]
    ]


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"type": "RECALL"}, lambda c, p: c["campaign_type"] == "RECALL"),
        ({"status": "HANDOFF"}, lambda c, p: c["status"] == "HANDOFF"),
        (
            {"type": "RECOVERY", "status": "FAILED"},
            lambda c, p: c["campaign_type"] == "RECOVERY" and c["status"] == "FAILED",
        ),
        ({"q": "LOVELACE"}, lambda c, p: p["name"] == "Ada Lovelace"),
        ({"q": "build.EXAMPLE"}, lambda c, p: p["email"] == "bob@build.example"),
        (
            {"q": "example", "status": "ENGAGED"},
            lambda c, p: p["email"].endswith(".example") and c["status"] == "ENGAGED",
        ),
        ({"q": "nobody-matches"}, lambda c, p: False),
        ({"status": "active"}, lambda c, p: c["status"] in ("ENGAGED", "HANDOFF")),
        (
            {"type": "RECALL", "status": "active"},
            lambda c, p: c["campaign_type"] == "RECALL" and c["status"] in ("ENGAGED", "HANDOFF"),
        ),
    ],
)
async def test_list_filters_and_search(
    client: httpx.AsyncClient,
    container: Container,
    staff: dict[str, str],
    params: dict[str, str],
    predicate: Callable[[dict[str, Any], dict[str, Any]], bool],
) -> None:
    data = await seed_list(container)
    patients = {p["_id"]: p for p in data["patients"]}
    wanted = [c for c in data["campaigns"] if predicate(c, patients[c["patient_id"]])]
    response = await client.get(CAMPAIGNS, headers=staff, params={**params, "page_size": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(wanted)
    wanted.sort(key=lambda c: c["updated_at"], reverse=True)
    assert [i["id"] for i in body["items"]] == [str(c["_id"]) for c in wanted[:4]]


async def test_list_created_range_uses_local_days(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    data = await seed_list(container)
    day_from = (data["now"] - timedelta(days=9)).astimezone(BERLIN).date()
    day_to = (data["now"] - timedelta(days=3)).astimezone(BERLIN).date()
    wanted = [c for c in data["campaigns"] if day_from <= c["created_at"].astimezone(BERLIN).date() <= day_to]
    response = await client.get(
        CAMPAIGNS,
        headers=staff,
        params={
            "created_from": day_from.isoformat(),
            "created_to": day_to.isoformat(),
            "page_size": 100,
        },
    )
    assert response.status_code == 200
    assert response.json()["total"] == len(wanted) == 7
    assert {i["id"] for i in response.json()["items"]} == {str(c["_id"]) for c in wanted}


async def test_list_converted_range_uses_local_days(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    patient = patient_doc("Ada Lovelace", "ada@analytical.org", at=datetime.now(UTC))
    await container.db.patients.insert_one(patient)
    # 00:30 on 1 March in Berlin is still 28 February in UTC; 23:30 on 28 February in Berlin is not March.
    march = campaign_doc(
        patient["_id"],
        "RECOVERY",
        "BOOKING_COMPLETED",
        created_at=datetime(2030, 2, 1, tzinfo=UTC),
        converted_at=datetime(2030, 2, 28, 23, 30, tzinfo=UTC),
    )
    february = campaign_doc(
        patient["_id"],
        "RECOVERY",
        "BOOKING_COMPLETED",
        created_at=datetime(2030, 2, 1, tzinfo=UTC),
        converted_at=datetime(2030, 2, 28, 22, 30, tzinfo=UTC),
    )
    await container.db.campaigns.insert_many([march, february])
    params = {
        "type": "RECOVERY",
        "status": "BOOKING_COMPLETED",
        "converted_from": "2030-03-01",
        "converted_to": "2030-03-31",
    }
    response = await client.get(CAMPAIGNS, headers=staff, params=params)
    assert response.status_code == 200, response.text
    assert [i["id"] for i in response.json()["items"]] == [str(march["_id"])] and response.json()["total"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"converted_to": "2025-13-01"},
        {"status": "ACTIVE"},
        {"type": "OTHER"},
        {"status": "nope"},
        {"page": 0},
        {"page_size": 500},
        {"created_from": "2025-02-30"},
        {"sort": "name"},
    ],
)
async def test_list_bad_query_is_422(client: httpx.AsyncClient, staff: dict[str, str], params: dict[str, Any]) -> None:
    response = await client.get(CAMPAIGNS, headers=staff, params=params)
    assert response.status_code == 422 and response.json()["error"] == "validation_error"


async def test_detail_has_campaign_fields_patient_and_conversation_oldest_first(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    patient = patient_doc("Grace Hopper", "grace@navy.example", at=now, phone="+15551230000")
    campaign = campaign_doc(
        patient["_id"],
        "RECOVERY",
        "ENGAGED",
        created_at=now - timedelta(days=5),
        engagement_summary="asked about prices",
    )
    other = campaign_doc(patient["_id"], "RECALL", "FAILED", created_at=now)
    times = [now - timedelta(hours=h) for h in (1, 50, 3, 20, 2)]
    conversation = [
        interaction_doc(
            campaign["_id"],
            patient["_id"],
            "incoming" if k % 2 else "outgoing",
            at,
            f"message {k}",
            intent="question" if k % 2 else None,
        )
        for k, at in enumerate(times)
    ]
    noise = [interaction_doc(other["_id"], patient["_id"], "outgoing", now, "other campaign")]
    await container.db.patients.insert_one(patient)
    await container.db.campaigns.insert_many([campaign, other])
    await container.db.interactions.insert_many(conversation + noise)
    response = await client.get(f"{CAMPAIGNS}/{campaign['_id']}", headers=staff)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(campaign["_id"]) and body["campaign_type"] == "RECOVERY" and body["status"] == "ENGAGED"
    assert body["engagement_summary"] == "asked about prices" and body["patient_id"] == str(patient["_id"])
    assert body["follow_up_details"]["max_attempts"] == 3
    assert body["patient"]["name"] == "Grace Hopper" and body["patient"]["phone"] == "+15551230000"
    ordered = sorted(conversation, key=lambda i: i["timestamp"])
    assert [m["id"] for m in body["conversation"]] == [str(i["_id"]) for i in ordered]
    first = body["conversation"][0]
    assert set(first) >= {"direction", "channel", "timestamp", "body", "summary", "intent"}
    assert first["body"] == "message 1" and first["direction"] == "incoming" and first["intent"] == "question"
    assert datetime.fromisoformat(first["timestamp"]) == ordered[0]["timestamp"]


async def test_detail_unknown_is_404_and_malformed_is_422(client: httpx.AsyncClient, staff: dict[str, str]) -> None:
    missing = await client.get(f"{CAMPAIGNS}/{ObjectId()}", headers=staff)
    assert missing.status_code == 404 and missing.json()["error"] == "campaign_not_found"
    for bad in ("123", "zzzzzzzzzzzzzzzzzzzzzzzz", "6" * 25):
        response = await client.get(f"{CAMPAIGNS}/{bad}", headers=staff)
        assert response.status_code == 422, bad
        assert response.json()["error"] == "validation_error"
    for action in ("pause", "resume"):
        assert (await client.post(f"{CAMPAIGNS}/{ObjectId()}/{action}", headers=staff)).status_code == 404
        assert (await client.post(f"{CAMPAIGNS}/abc/{action}", headers=staff)).status_code == 422


# ---- create ----------------------------------------------------------------------------------------------------


def new_campaign(**extra: Any) -> dict[str, Any]:
    return {
        "patient": {"name": "Nora New", "email": "Nora@Example.com", "phone": "+15550001111"},
        "campaign_type": "RECALL",
        **extra,
    }


async def test_create_for_new_patient_schedules_the_first_attempt_now(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = await client.post(CAMPAIGNS, headers=staff, json=new_campaign(max_attempts=4))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "ATTEMPTING_RECALL" and body["campaign_type"] == "RECALL" and body["channel"] == "email"
    assert body["follow_up_details"]["max_attempts"] == 4 and body["follow_up_details"]["attempts_made"] == 0
    due = datetime.fromisoformat(body["follow_up_details"]["next_follow_up_at"])
    assert before <= due <= datetime.now(UTC) + timedelta(seconds=1)
    assert body["patient"]["email"] == "nora@example.com" and body["conversation"] == []
    stored = await container.db.campaigns.find_one({"_id": ObjectId(body["id"])})
    assert stored is not None and stored["active_key"] == f"{body['patient_id']}:RECALL"
    assert await container.db.patients.count_documents({}) == 1


async def test_create_for_existing_patient_by_id_or_email_and_at_a_given_time(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    first = (await client.post(CAMPAIGNS, headers=staff, json=new_campaign())).json()
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    by_email = await client.post(
        CAMPAIGNS,
        headers=staff,
        json=new_campaign(campaign_type="RECOVERY", channel="sms", first_attempt_at=later.isoformat()),
    )
    assert by_email.status_code == 201, by_email.text
    assert by_email.json()["patient_id"] == first["patient_id"] and by_email.json()["status"] == "ATTEMPTING_RECOVERY"
    assert datetime.fromisoformat(by_email.json()["follow_up_details"]["next_follow_up_at"]) == later
    assert await container.db.patients.count_documents({}) == 1
    phone_only = await client.post(
        CAMPAIGNS,
        headers=staff,
        json={
            "patient": {"name": "Phone Only", "phone": "+15559998888"},
            "campaign_type": "RECOVERY",
            "channel": "sms",
        },
    )
    assert phone_only.status_code == 201
    again = await client.post(
        CAMPAIGNS,
        headers=staff,
        json={"patient_id": phone_only.json()["patient_id"], "campaign_type": "RECALL", "channel": "call"},
    )
    assert again.status_code == 201 and again.json()["patient"]["name"] == "Phone Only"
    assert await container.db.patients.count_documents({}) == 2


async def test_create_refuses_a_second_active_campaign_of_the_type(
    client: httpx.AsyncClient, staff: dict[str, str]
) -> None:
    assert (await client.post(CAMPAIGNS, headers=staff, json=new_campaign())).status_code == 201
    again = await client.post(CAMPAIGNS, headers=staff, json=new_campaign())
    assert again.status_code == 409 and again.json()["error"] == "active_campaign_exists"
    other_type = await client.post(CAMPAIGNS, headers=staff, json=new_campaign(campaign_type="RECOVERY"))
    assert other_type.status_code == 201


async def test_concurrent_creates_for_one_patient_and_type_make_exactly_one(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    responses = await asyncio.gather(*(client.post(CAMPAIGNS, headers=staff, json=new_campaign()) for _ in range(12)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 11
    assert await container.db.campaigns.count_documents({}) == 1
    assert await container.db.patients.count_documents({}) == 1


async def test_existing_active_campaign_without_marker_also_blocks(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    patient = patient_doc("Old Timer", "old@example.com", at=datetime.now(UTC))
    await container.db.patients.insert_one(patient)
    await container.db.campaigns.insert_one(
        campaign_doc(patient["_id"], "RECALL", "HANDOFF", created_at=datetime.now(UTC))
    )
    response = await client.post(
        CAMPAIGNS, headers=staff, json={"patient_id": str(patient["_id"]), "campaign_type": "RECALL"}
    )
    assert response.status_code == 409


async def test_a_marker_left_on_a_closed_campaign_does_not_block(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    created = (await client.post(CAMPAIGNS, headers=staff, json=new_campaign())).json()
    # Another writer (e.g. the outreach worker) closed it without clearing the marker.
    await container.db.campaigns.update_one({"_id": ObjectId(created["id"])}, {"$set": {"status": "FAILED"}})
    again = await client.post(CAMPAIGNS, headers=staff, json=new_campaign())
    assert again.status_code == 201
    closed = await container.db.campaigns.find_one({"_id": ObjectId(created["id"])})
    assert closed is not None and "active_key" not in closed


async def test_booking_conversion_clears_the_marker(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    created = (await client.post(CAMPAIGNS, headers=staff, json=new_campaign())).json()
    converted = await container.repos.campaigns.mark_converted(
        patient_id=created["patient_id"], campaign_id=None, now=datetime.now(UTC)
    )
    assert converted == [created["id"]]
    stored = await container.db.campaigns.find_one({"_id": ObjectId(created["id"])})
    assert stored is not None and stored["status"] == "BOOKING_COMPLETED" and "active_key" not in stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"campaign_type": "RECALL"}, "body"),
        ({**new_campaign(), "patient_id": str(ObjectId())}, "body"),
        (new_campaign(campaign_type="OTHER"), "campaign_type"),
        (new_campaign(max_attempts=0), "max_attempts"),
        ({"patient": {"name": "X", "email": "not-an-email"}, "campaign_type": "RECALL"}, "patient.email"),
        ({"patient": {"name": "X", "phone": "555-1234"}, "campaign_type": "RECALL"}, "patient.phone"),
        (
            {"patient": {"name": "X", "email": "x@example.com", "timezone": "Mars/Olympus"}, "campaign_type": "RECALL"},
            "patient.timezone",
        ),
        ({"patient": {"name": "X"}, "campaign_type": "RECALL"}, "patient"),
        (new_campaign(first_attempt_at="2030-01-01T10:00:00"), "first_attempt_at"),
        (new_campaign(channel="fax"), "channel"),
    ],
)
async def test_create_bad_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(CAMPAIGNS, headers=staff, json=body)
    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in response.json()["fields"]]
    assert await container.db.campaigns.count_documents({}) == 0


async def test_create_domain_refusals(client: httpx.AsyncClient, container: Container, staff: dict[str, str]) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    response = await client.post(CAMPAIGNS, headers=staff, json=new_campaign(first_attempt_at=past))
    assert response.status_code == 422 and response.json()["error"] == "first_attempt_in_past"
    no_phone = await client.post(
        CAMPAIGNS,
        headers=staff,
        json={
            "patient": {"name": "Mail Only", "email": "mail@example.com"},
            "campaign_type": "RECALL",
            "channel": "sms",
        },
    )
    assert no_phone.status_code == 422 and no_phone.json()["error"] == "no_contact"
    unknown = await client.post(
        CAMPAIGNS, headers=staff, json={"patient_id": str(ObjectId()), "campaign_type": "RECALL"}
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "patient_not_found"
    assert await container.db.campaigns.count_documents({}) == 0


# ---- lifecycle -------------------------------------------------------------------------------------------------


async def test_pause_and_resume(client: httpx.AsyncClient, container: Container, staff: dict[str, str]) -> None:
    created = (
        await client.post(
            CAMPAIGNS,
            headers=staff,
            json=new_campaign(first_attempt_at=(datetime.now(UTC) + timedelta(days=3)).isoformat()),
        )
    ).json()
    url = f"{CAMPAIGNS}/{created['id']}"
    paused = await client.post(f"{url}/pause", headers=staff)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "PAUSED" and paused.json()["follow_up_details"]["next_follow_up_at"] is None
    assert "active_key" not in (await container.db.campaigns.find_one({"_id": ObjectId(created["id"])}) or {})
    assert (await client.post(f"{url}/pause", headers=staff)).json()["status"] == "PAUSED"  # idempotent
    before = datetime.now(UTC) - timedelta(seconds=1)
    resumed = await client.post(f"{url}/resume", headers=staff)
    assert resumed.status_code == 200 and resumed.json()["status"] == "ATTEMPTING_RECALL"
    assert datetime.fromisoformat(resumed.json()["follow_up_details"]["next_follow_up_at"]) >= before
    # While paused, a new campaign of the type may start; resuming the old one then conflicts.
    await client.post(f"{url}/pause", headers=staff)
    assert (await client.post(CAMPAIGNS, headers=staff, json=new_campaign())).status_code == 201
    conflict = await client.post(f"{url}/resume", headers=staff)
    assert conflict.status_code == 409 and conflict.json()["error"] == "active_campaign_exists"


async def test_actions_refuse_wrong_states_and_leased_campaigns(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    patient = patient_doc("Lee Sed", "lee@example.com", at=now)
    failed = campaign_doc(patient["_id"], "RECALL", "FAILED", created_at=now)
    leased = campaign_doc(
        patient["_id"],
        "RECOVERY",
        "ENGAGED",
        created_at=now,
        lease={"owner": "worker-1", "until": now + timedelta(minutes=5)},
    )
    await container.db.campaigns.insert_many([failed, leased])
    for action, campaign in (("pause", failed), ("resume", failed), ("pause", leased), ("resume", leased)):
        response = await client.post(f"{CAMPAIGNS}/{campaign['_id']}/{action}", headers=staff)
        assert response.status_code == 409, (action, response.text)
        assert response.json()["error"] == "invalid_transition"
    handoff = await client.post(
        f"{CAMPAIGNS}/{failed['_id']}/resolve-handoff", headers=staff, json={"note": "n", "outcome": "engaged"}
    )
    assert handoff.status_code == 409


async def handoff_campaigns(container: Container) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(microsecond=0)
    patient = patient_doc("Hand Off", "hand@example.com", at=now)
    docs = [
        campaign_doc(
            patient["_id"],
            "RECALL" if i % 2 else "RECOVERY",
            "HANDOFF",
            created_at=now - timedelta(days=9),
            handoff={"reason": f"reason {i}", "at": now - timedelta(hours=h), "resolved_at": None, "note": None},
        )
        for i, h in enumerate((5, 30, 1, 12))
    ]
    docs.append(campaign_doc(patient["_id"], "RECALL", "ENGAGED", created_at=now))
    await container.db.patients.insert_one(patient)
    await container.db.campaigns.insert_many(docs)
    target = docs[1]
    await container.db.interactions.insert_many(
        [
            interaction_doc(target["_id"], patient["_id"], "incoming", now - timedelta(hours=40), "first question"),
            interaction_doc(
                target["_id"], patient["_id"], "incoming", now - timedelta(hours=31), "can I speak to a human"
            ),
            interaction_doc(target["_id"], patient["_id"], "outgoing", now - timedelta(hours=30), "our answer"),
        ]
    )
    return docs


async def test_handoff_queue_oldest_first_with_reason_and_last_incoming_message(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    docs = await handoff_campaigns(container)
    response = await client.get("/api/v1/admin/handoffs", headers=staff)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 4
    assert [i["campaign_id"] for i in body["items"]] == [str(docs[k]["_id"]) for k in (1, 3, 0, 2)]
    first = body["items"][0]
    assert first["reason"] == "reason 1" and first["patient_name"] == "Hand Off"
    assert first["last_incoming"]["body"] == "can I speak to a human"
    assert body["items"][1]["last_incoming"] is None
    paged = (await client.get("/api/v1/admin/handoffs", headers=staff, params={"page": 2, "page_size": 3})).json()
    assert [i["campaign_id"] for i in paged["items"]] == [str(docs[2]["_id"])] and paged["total"] == 4


async def test_resolve_handoff_back_to_engaged_or_closed(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    docs = await handoff_campaigns(container)
    engaged = await client.post(
        f"{CAMPAIGNS}/{docs[0]['_id']}/resolve-handoff",
        headers=staff,
        json={"note": "Called the patient, questions answered", "outcome": "engaged"},
    )
    assert engaged.status_code == 200, engaged.text
    body = engaged.json()
    assert body["status"] == "ENGAGED" and body["handoff"]["note"] == "Called the patient, questions answered"
    assert body["handoff"]["resolved_at"] is not None and body["handoff"]["reason"] == "reason 0"
    closed = await client.post(
        f"{CAMPAIGNS}/{docs[1]['_id']}/resolve-handoff",
        headers=staff,
        json={"note": "Not interested", "outcome": "closed"},
    )
    assert closed.status_code == 200 and closed.json()["status"] == "DECLINED"
    assert (await client.get("/api/v1/admin/handoffs", headers=staff)).json()["total"] == 2
    again = await client.post(
        f"{CAMPAIGNS}/{docs[1]['_id']}/resolve-handoff", headers=staff, json={"note": "x", "outcome": "closed"}
    )
    assert again.status_code == 409
    bad = await client.post(
        f"{CAMPAIGNS}/{docs[2]['_id']}/resolve-handoff", headers=staff, json={"note": "", "outcome": "maybe"}
    )
    assert bad.status_code == 422


# ---- access and audit ------------------------------------------------------------------------------------------


ROUTES = [
    ("GET", "/api/v1/admin/dashboard-stats", None),
    ("GET", CAMPAIGNS, None),
    ("POST", CAMPAIGNS, new_campaign()),
    ("GET", f"{CAMPAIGNS}/{'a' * 24}", None),
    ("POST", f"{CAMPAIGNS}/{'a' * 24}/pause", None),
    ("POST", f"{CAMPAIGNS}/{'a' * 24}/resume", None),
    ("POST", f"{CAMPAIGNS}/{'a' * 24}/resolve-handoff", {"note": "n", "outcome": "closed"}),
    ("GET", "/api/v1/admin/handoffs", None),
    ("GET", "/api/v1/admin/audit", None),
]


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
async def test_every_admin_route_needs_a_token(
    client: httpx.AsyncClient, container: Container, method: str, url: str, body: dict[str, Any] | None
) -> None:
    response = await client.request(method, url, json=body)
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"
    assert await container.db.campaigns.count_documents({}) == 0


async def test_audit_log_is_admin_only_and_newest_first(client: httpx.AsyncClient, login: Callable[..., Any]) -> None:
    staff = await login(Role.STAFF)
    denied = await client.get("/api/v1/admin/audit", headers=staff)
    assert denied.status_code == 403 and denied.json()["error"] == "insufficient_role"
    admin = await login(Role.ADMIN)
    response = await client.get("/api/v1/admin/audit", headers=admin, params={"page_size": 100})
    assert response.status_code == 200
    items = response.json()["items"]
    assert items and [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    assert {i["action"] for i in items} == {"login"}


async def test_reads_and_writes_of_patient_data_are_audited(
    client: httpx.AsyncClient, container: Container, login: Callable[..., Any]
) -> None:
    admin_email = "auditor@clinic.test"
    admin = await login(Role.ADMIN, email=admin_email)
    created = (await client.post(CAMPAIGNS, headers=admin, json=new_campaign())).json()
    patient_id, campaign_id = created["patient_id"], created["id"]
    await client.get(CAMPAIGNS, headers=admin, params={"q": "nora"})
    await client.get(f"{CAMPAIGNS}/{campaign_id}", headers=admin)
    await client.get(f"{CAMPAIGNS}/{ObjectId()}", headers=admin)
    await client.post(f"{CAMPAIGNS}/{campaign_id}/pause", headers=admin)
    await client.post(f"{CAMPAIGNS}/{campaign_id}/resume", headers=admin)
    await client.get("/api/v1/admin/handoffs", headers=admin)
    await client.post(CAMPAIGNS, headers=admin, json=new_campaign())  # 409, audited as a failure
    response = await client.get("/api/v1/admin/audit", headers=admin, params={"actor": admin_email})
    assert response.status_code == 200
    records = response.json()["items"][::-1]  # oldest first
    got = [(r["action"], r["outcome"], r["patient_id"]) for r in records if r["action"] != "login"]
    assert got == [
        ("campaigns.create", "success", patient_id),
        ("campaigns.list", "success", None),
        ("campaigns.read", "success", patient_id),
        ("campaigns.read", "failure", None),
        ("campaigns.pause", "success", patient_id),
        ("campaigns.resume", "success", patient_id),
        ("handoffs.list", "success", None),
        ("campaigns.create", "failure", patient_id),
    ]
    read = next(r for r in records if r["action"] == "campaigns.read")
    assert read["actor"] == admin_email and read["resource"] == f"campaigns/{campaign_id}" and read["ip"]
    assert read["at"] and read["id"]
    stored = await container.db.audit_log.count_documents({"actor": admin_email})
    assert stored == response.json()["total"]


async def test_dashboard_snapshot_is_marked_stale_by_staff_changes(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    await client.get("/api/v1/admin/dashboard-stats", headers=staff)
    assert container.dashboard_snapshot.computations == 1
    created = (await client.post(CAMPAIGNS, headers=staff, json=new_campaign())).json()
    await client.get("/api/v1/admin/dashboard-stats", headers=staff)  # served, refresh starts behind it
    await container.dashboard_snapshot.idle()
    body = (await client.get("/api/v1/admin/dashboard-stats", headers=staff)).json()
    assert container.dashboard_snapshot.computations == 2 and body["kpis"]["active_recall"] == 1
    assert created["status"] == "ATTEMPTING_RECALL"


async def test_agent_trigger_for_a_new_patient_takes_the_same_one_active_campaign_guard(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    body = {"patient": {"name": "Tia Trigger", "email": "tia@example.com"}, "campaign": {"campaign_type": "RECALL"}}
    first = await client.post("/agent/trigger", headers=staff, json=body)
    assert first.status_code == 200, first.text
    campaign_id = first.json()["campaign_id"]
    stored = await container.db.campaigns.find_one({"_id": ObjectId(campaign_id)})
    assert stored is not None and stored["active_key"] == f"{stored['patient_id']}:RECALL"
    again = await client.post("/agent/trigger", headers=staff, json=body)
    assert again.status_code == 200 and again.json()["campaign_id"] == campaign_id
    await container.db.campaigns.update_one({"_id": ObjectId(campaign_id)}, {"$set": {"status": "HANDOFF"}})
    waiting = await client.post("/agent/trigger", headers=staff, json=body)
    assert waiting.status_code == 409, waiting.text
    assert await container.db.campaigns.count_documents({}) == 1
    racing = {**body, "patient": {"name": "Ray Race", "email": "ray@example.com"}}
    responses = await asyncio.gather(*(client.post("/agent/trigger", headers=staff, json=racing) for _ in range(6)))
    assert {r.status_code for r in responses} <= {200, 409} and 200 in {r.status_code for r in responses}
    ray = await container.db.patients.find_one({"email": "ray@example.com"})
    assert ray is not None and await container.db.campaigns.count_documents({"patient_id": ray["_id"]}) == 1
