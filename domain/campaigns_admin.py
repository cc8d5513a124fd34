"""Staff campaign use cases: list, detail with conversation, create, pause/resume, handoff queue and resolution.

Every read or write of patient data is written to the audit trail (actor, action, resource, patient, time,
address, outcome), failures included. Status changes are compare-and-set writes that also respect a worker's
lease, and they mark the dashboard snapshot stale.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound, Unprocessable
from core.phone import phone_field
from db.repositories import Repositories
from db.repositories.campaigns import ActiveKeyTaken, CampaignQuery
from domain.audit import Actor, AuditTrail
from domain.campaign_start import ActiveCampaignExists, NewCampaign, first_attempt, start_campaign
from domain.campaigns import attempting_status, becoming_engaged
from domain.slots import local_midnight_utc
from models.campaign import Campaign, CampaignDetail, CampaignSummary, Handoff, HandoffItem
from models.enums import ACTIVE_STATUSES, CampaignStatus, CampaignType, Channel
from models.patient import Patient

SORTS = ("-updated_at", "updated_at", "-created_at", "created_at")
ACTIVE_GROUP = "active"  # the status filter's group value: ATTEMPTING_*, ENGAGED or HANDOFF
StatusFilter = CampaignStatus | Literal["active"]


class InvalidTransition(Conflict):
    """409: the campaign is not in a state the action applies to (or a worker is contacting the patient)."""

    error = "invalid_transition"


@dataclass(frozen=True)
class CampaignFilters:
    """What staff filter the campaign list by (local dates, inclusive)."""

    campaign_type: CampaignType | None = None
    status: StatusFilter | None = None
    q: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    converted_from: date | None = None
    converted_to: date | None = None
    sort: str = "-updated_at"

    def statuses(self) -> tuple[CampaignStatus, ...]:
        """The statuses the filter stands for (none: any)."""
        if self.status == ACTIVE_GROUP:
            return ACTIVE_STATUSES
        return (CampaignStatus(self.status),) if self.status else ()


@dataclass(frozen=True)
class CreatedCampaign:
    """A new campaign, its patient, and whether the patient was created too."""

    campaign: Campaign
    patient: Patient
    patient_created: bool


class CampaignAdminService:
    """Staff views and lifecycle actions on campaigns, all audited."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        repos: Repositories,
        on_change: Callable[[], None] | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.audit = AuditTrail(repo=repos.audit, clock=clock)
        self._on_change = on_change or (lambda: None)

    def _audited(
        self, actor: Actor, action: str, resource: str, patient_id: str | None = None
    ) -> AbstractAsyncContextManager[dict[str, str | None]]:
        """Record the action with its outcome: success, or failure when an expected error ends it."""
        return self.audit.audited(actor, action, resource, patient_id)

    # ---- reads ----------------------------------------------------------------------------------------------

    async def list_campaigns(
        self, actor: Actor, filters: CampaignFilters, *, page: int, page_size: int
    ) -> tuple[list[CampaignSummary], int]:
        """Campaigns by type, status (or the active group), patient, local creation/conversion days; paged, audited."""
        if filters.sort not in SORTS:
            raise Unprocessable(f"sort must be one of {', '.join(SORTS)}", error="invalid_sort")
        zone = self.settings.zone

        def start(day: date | None) -> datetime | None:
            return local_midnight_utc(zone, day) if day else None

        def end(day: date | None) -> datetime | None:
            return local_midnight_utc(zone, day + timedelta(days=1)) if day else None

        async with self._audited(actor, "campaigns.list", "campaigns"):
            patient_ids = await self.repos.patients.search_ids(filters.q) if filters.q else None
            query = CampaignQuery(
                campaign_type=filters.campaign_type,
                statuses=filters.statuses(),
                patient_ids=patient_ids,
                created_from=start(filters.created_from),
                created_to=end(filters.created_to),
                converted_from=start(filters.converted_from),
                converted_to=end(filters.converted_to),
                sort=filters.sort,
            )
            return await self.repos.campaigns.page(query, skip=(page - 1) * page_size, limit=page_size)

    async def detail(self, actor: Actor, campaign_id: str) -> CampaignDetail:
        """A campaign with its patient and whole conversation, oldest first; audited."""
        async with self._audited(actor, "campaigns.read", f"campaigns/{campaign_id}") as subject:
            found = await self.repos.campaigns.detail(campaign_id)
            if found is None:
                raise NotFound("Campaign not found", error="campaign_not_found")
            subject["patient_id"] = found.campaign.patient_id
            return found

    async def patient(self, actor: Actor, patient_id: str) -> Patient:
        """One patient (to start a campaign for them); audited."""
        async with self._audited(actor, "patients.read", f"patients/{patient_id}", patient_id):
            patient = await self.repos.patients.get(patient_id)
            if patient is None:
                raise NotFound("Patient not found", error="patient_not_found")
            return patient

    async def handoffs(self, actor: Actor, *, page: int, page_size: int) -> tuple[list[HandoffItem], int]:
        """Campaigns waiting for staff, longest waiting first, with reason and last incoming message; audited."""
        async with self._audited(actor, "handoffs.list", "campaigns?status=HANDOFF"):
            return await self.repos.campaigns.handoffs(skip=(page - 1) * page_size, limit=page_size)

    # ---- writes ---------------------------------------------------------------------------------------------

    async def _patient(self, new: NewCampaign, now: datetime) -> tuple[Patient, bool]:
        if new.patient_id:
            patient = await self.repos.patients.get(new.patient_id)
            if patient is None:
                raise NotFound("Patient not found", error="patient_not_found")
            return patient, False
        if new.patient is None or not (new.patient.email or new.patient.phone):
            raise Unprocessable("Give patient_id, or a patient with an email or a phone", error="patient_required")
        given = new.patient
        phone = phone_field(given.phone, region=self.settings.PHONE_DEFAULT_REGION, field="patient.phone")
        return await self.repos.patients.find_or_create(
            name=given.name, email=given.email, phone=phone, timezone=given.timezone, now=now
        )

    async def create(self, actor: Actor, new: NewCampaign) -> CreatedCampaign:
        """Create an active campaign (first attempt now or at the given time); 409 when one of that type is active."""
        now = self.clock.now()
        async with self._audited(actor, "campaigns.create", "campaigns", new.patient_id) as subject:
            first_attempt(new.first_attempt_at, now)  # refused before the patient is touched
            patient, created = await self._patient(new, now)
            subject["patient_id"] = patient.id
            if new.channel == Channel.EMAIL and not patient.email:
                raise Unprocessable("The patient has no email address for an email campaign", error="no_contact")
            if new.channel in (Channel.SMS, Channel.CALL) and not patient.phone:
                raise Unprocessable("The patient has no phone number for an SMS or call campaign", error="no_contact")
            try:
                campaign = await start_campaign(self.repos, new, settings=self.settings, patient_id=patient.id, now=now)
            except ActiveCampaignExists as exc:
                active = await self.repos.campaigns.active_of_type(patient.id, new.campaign_type)
                exc.campaign_id = active.id if active else None
                raise
        self._on_change()
        return CreatedCampaign(campaign, patient, created)

    async def _transition(
        self,
        actor: Actor,
        action: str,
        campaign_id: str,
        *,
        from_statuses: tuple[CampaignStatus, ...],
        changes: Callable[[Campaign], dict[str, object]],
        unchanged: Callable[[Campaign], bool] = lambda _: False,
    ) -> Campaign:
        now = self.clock.now()
        async with self._audited(actor, action, f"campaigns/{campaign_id}") as subject:
            current = await self.repos.campaigns.get(campaign_id)
            if current is None:
                raise NotFound("Campaign not found", error="campaign_not_found")
            subject["patient_id"] = current.patient_id
            if unchanged(current):
                return current
            try:
                changed = await self.repos.campaigns.transition(
                    campaign_id, from_statuses=from_statuses, now=now, changes=changes(current)
                )
            except ActiveKeyTaken as exc:
                raise ActiveCampaignExists(
                    f"The patient already has another active {current.campaign_type.value} campaign"
                ) from exc
            if changed is None:
                raise InvalidTransition(
                    f"The campaign is {current.status.value} or is being worked on right now; reload and retry"
                )
        self._on_change()
        return changed

    async def pause(self, actor: Actor, campaign_id: str) -> Campaign:
        """Stop outreach for now (from any active state); pausing a paused campaign changes nothing."""
        return await self._transition(
            actor,
            "campaigns.pause",
            campaign_id,
            from_statuses=ACTIVE_STATUSES,
            changes=lambda _: {"status": CampaignStatus.PAUSED.value, "follow_up_details.next_follow_up_at": None},
            unchanged=lambda c: c.status == CampaignStatus.PAUSED,
        )

    async def resume(self, actor: Actor, campaign_id: str) -> Campaign:
        """Back to ATTEMPTING_<type> with the next attempt due now; 409 if another campaign of that type is active."""
        return await self._transition(
            actor,
            "campaigns.resume",
            campaign_id,
            from_statuses=(CampaignStatus.PAUSED,),
            changes=lambda c: {
                "status": attempting_status(c.campaign_type).value,
                "follow_up_details.next_follow_up_at": self.clock.now(),
            },
            unchanged=lambda c: c.status == attempting_status(c.campaign_type),
        )

    async def resolve_handoff(
        self, actor: Actor, campaign_id: str, *, note: str, outcome: Literal["engaged", "closed"]
    ) -> Campaign:
        """Staff took over: back to ENGAGED, or closed as DECLINED; records the note and the resolution time."""

        def changes(current: Campaign) -> dict[str, object]:
            now = self.clock.now()
            handoff = current.handoff or Handoff(reason="unspecified", at=now)
            resolved = handoff.model_copy(update={"resolved_at": now, "note": note}).model_dump()
            if outcome == "engaged":
                # Engaged afresh from now: its own nudge and hand-off if no booking follows.
                return {**becoming_engaged(now, nudge_days=self.settings.ENGAGED_NUDGE_DAYS), "handoff": resolved}
            return {
                "status": CampaignStatus.DECLINED.value,
                "handoff": resolved,
                "follow_up_details.next_follow_up_at": None,
            }

        return await self._transition(
            actor,
            f"campaigns.resolve_handoff.{outcome}",
            campaign_id,
            from_statuses=(CampaignStatus.HANDOFF,),
            changes=changes,
        )
