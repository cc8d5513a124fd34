"""Every admin query is served by an index: the commands the admin reads send are re-run under explain.

The commands are captured with a pymongo CommandListener while the real repository methods run, so the test
checks exactly what production sends. A command the server cannot explain (or explains without a plan) fails
the test under CI (CI=true), where the suite's own server must explain them all; elsewhere (e.g. MONGO_TEST_URI
pointing at a server without explain) the test is skipped with the list of unchecked commands.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pymongo import monitoring
from pymongo.errors import OperationFailure

from core.config import Settings
from core.container import Container
from core.snapshot import Snapshot
from db.client import make_client
from db.repositories import Repositories
from db.repositories.audit import AuditQuery
from db.repositories.campaigns import CampaignQuery
from domain.audit import Actor
from domain.campaigns_admin import CampaignAdminService, CampaignFilters
from domain.dashboard import DashboardService
from domain.users_admin import AuditFilters, UserAdminService
from models.enums import CampaignStatus, CampaignType
from tests.api.admin_fixtures import appointment_doc, campaign_doc, interaction_doc, patient_doc

EXPLAINABLE = {"find", "aggregate", "count"}
INDEX_STAGES = {"IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "EXPRESS_CLUSTERED_IXSCAN", "COUNT_SCAN", "DISTINCT_SCAN"}


class Recorder(monitoring.CommandListener):
    """Keeps the read commands the driver sends."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in EXPLAINABLE:
            command = {k: v for k, v in event.command.items() if not k.startswith("$") and k != "lsid"}
            self.commands.append(command)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def stages(plan: Any, found: list[str]) -> list[str]:
    """Every stage name under the winning plans of an explain answer (rejected plans ignored)."""
    if isinstance(plan, dict):
        if isinstance(plan.get("stage"), str):
            found.append(plan["stage"])
        for key, value in plan.items():
            if key not in ("rejectedPlans", "command"):
                stages(value, found)
    elif isinstance(plan, list):
        for value in plan:
            stages(value, found)
    return found


async def seed(container: Container) -> str:
    now = datetime.now(UTC)
    patients = [patient_doc(f"P {i}", f"p{i}@example.com", at=now) for i in range(20)]
    campaigns = [
        campaign_doc(
            p["_id"],
            "RECALL" if i % 2 else "RECOVERY",
            ("HANDOFF", "ENGAGED", "FAILED")[i % 3],
            created_at=now - timedelta(days=i),
            handoff={"reason": "r", "at": now, "resolved_at": None, "note": None},
        )
        for i, p in enumerate(patients)
    ]
    await container.db.patients.insert_many(patients)
    await container.db.campaigns.insert_many(campaigns)
    await container.db.interactions.insert_many(
        [interaction_doc(c["_id"], c["patient_id"], "incoming", now, "hi") for c in campaigns]
    )
    await container.db.appointments.insert_many(
        [appointment_doc(p["_id"], now - timedelta(days=i * 9), "booked") for i, p in enumerate(patients)]
    )
    return str(campaigns[0]["_id"])


async def test_every_admin_read_is_an_index_scan(container: Container, make_settings: Callable[..., Settings]) -> None:
    campaign_id = await seed(container)
    settings = make_settings()
    recorder = Recorder()
    client = make_client(settings, event_listeners=[recorder])
    try:
        db = client[settings.MONGO_DB_NAME]
        repos = Repositories.over(db)
        admin = CampaignAdminService(settings=settings, clock=container.clock, repos=repos)
        actor = Actor("explain@clinic.test", None)
        today = datetime.now(UTC).date()
        for filters in (
            CampaignFilters(),
            CampaignFilters(sort="created_at"),
            CampaignFilters(campaign_type=CampaignType.RECALL),
            CampaignFilters(status=CampaignStatus.HANDOFF),
            CampaignFilters(campaign_type=CampaignType.RECOVERY, status=CampaignStatus.FAILED),
            CampaignFilters(q="p1"),
            CampaignFilters(q="example.com", status=CampaignStatus.ENGAGED),
            CampaignFilters(created_from=today - timedelta(days=5), created_to=today),
            CampaignFilters(created_from=date(2020, 1, 1), status=CampaignStatus.ENGAGED),
            CampaignFilters(campaign_type=CampaignType.RECOVERY, status="active"),
            CampaignFilters(status="active"),
            CampaignFilters(
                campaign_type=CampaignType.RECOVERY,
                status=CampaignStatus.BOOKING_COMPLETED,
                converted_from=today.replace(day=1),
                converted_to=today,
            ),
            CampaignFilters(converted_from=today - timedelta(days=30)),
        ):
            await admin.list_campaigns(actor, filters, page=1, page_size=5)
        await admin.detail(actor, campaign_id)
        await admin.handoffs(actor, page=1, page_size=5)
        users = UserAdminService(settings=settings, clock=container.clock, repos=repos, passwords=container.passwords)
        for audit_filters in (
            AuditFilters(),
            AuditFilters(actor="explain@clinic.test"),
            AuditFilters(action="campaigns.list"),
            AuditFilters(action="campaigns.*"),
            AuditFilters(patient_id="0" * 24, action="patients.read"),
            AuditFilters(day_from=today - timedelta(days=1), day_to=today),
            AuditFilters(actor="explain@clinic.test", action="campaigns.*", day_from=today),
        ):
            await users.audit_log(audit_filters, page=1, page_size=5)
        await users.list_users(page=1, page_size=5)
        await repos.campaigns.active_of_type("0" * 24, CampaignType.RECALL)
        await DashboardService(settings=settings, clock=container.clock, repos=repos, snapshot=Snapshot()).compute()
        assert recorder.commands
        checked = 0
        unexplained: list[str] = []
        for command in recorder.commands:
            if command.get("count") and not command.get("query"):
                continue  # a count of the whole collection is answered from metadata, not by a scan
            name = f"{next(iter(command))} {command[next(iter(command))]}"
            try:
                answer = await db.command("explain", command, verbosity="queryPlanner")
            except OperationFailure as exc:
                unexplained.append(f"{name}: {exc}")
                continue
            found = stages(answer, [])
            if not found:
                unexplained.append(f"{name}: no plan reported")
                continue
            checked += 1
            assert "COLLSCAN" not in found, (command, found)
            assert INDEX_STAGES & set(found), (command, found)
        if unexplained:
            kinds = sorted(set(unexplained))
            message = f"{len(unexplained)} of {checked + len(unexplained)} admin reads unchecked: {kinds}"
            if os.environ.get("CI", "").lower() in ("true", "1"):
                pytest.fail(message)
            pytest.skip(message)
        assert checked >= len(recorder.commands) // 2  # most reads filter (the rest are whole-collection counts)
    finally:
        await client.close()


def test_query_hints_name_existing_indexes() -> None:
    from db.indexes import INDEXES

    names = {m.document["name"] for m in INDEXES["campaigns"]}
    for query in (
        CampaignQuery(),
        CampaignQuery(sort="-created_at"),
        CampaignQuery(patient_ids=[]),
        CampaignQuery(statuses=(CampaignStatus.ENGAGED,)),
        CampaignQuery(converted_to=datetime.now(UTC)),
        CampaignQuery(campaign_type=CampaignType.RECALL),
        CampaignQuery(created_from=datetime.now(UTC)),
    ):
        assert query.hint() in names
    assert {"dashboard", "status_handoff_at", "patient_type", "active_key_unique"} <= names
    audit_names = {m.document["name"] for m in INDEXES["audit_log"]}
    for audit in (
        AuditQuery(),
        AuditQuery(actor="a"),
        AuditQuery(action="a"),
        AuditQuery(action_prefix="a"),
        AuditQuery(patient_id="0" * 24),
        AuditQuery(at_from=datetime.now(UTC)),
    ):
        assert audit.hint() in audit_names


async def test_the_workers_due_query_is_an_index_scan(
    container: Container, make_settings: Callable[..., Settings]
) -> None:
    """The claim's candidate reads, engaged campaigns (with and without a schedule) included."""
    await seed(container)
    settings = make_settings()
    recorder = Recorder()
    client = make_client(settings, event_listeners=[recorder])
    try:
        db = client[settings.MONGO_DB_NAME]
        await Repositories.over(db).campaigns.claim_due(
            owner="explain", now=datetime.now(UTC), ttl=timedelta(seconds=30), limit=5
        )
        finds = [c for c in recorder.commands if c.get("find") == "campaigns" and "status" in c.get("filter", {})]
        assert sorted(c["filter"]["status"] for c in finds) == [
            "ATTEMPTING_RECALL",
            "ATTEMPTING_RECOVERY",
            "ENGAGED",
            "ENGAGED",
        ]
        for command in finds:
            try:
                answer = await db.command("explain", command, verbosity="queryPlanner")
            except OperationFailure as exc:
                pytest.skip(f"the server cannot explain the due query: {exc}")
            found = stages(answer, [])
            assert found and "COLLSCAN" not in found and INDEX_STAGES & set(found), (command, found)
    finally:
        await client.close()
