"""Admin API: dashboard, campaigns with conversation history, lifecycle actions, handoff queue."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api.deps import (
    CampaignAdminServiceDep,
    ClientIP,
    CurrentStaff,
    DashboardServiceDep,
    StaffReplyServiceDep,
)
from domain.audit import Actor
from domain.campaign_start import NewCampaign
from domain.campaigns import NewPatient
from domain.campaigns_admin import CampaignFilters, CreatedCampaign, StatusFilter
from models.campaign import Campaign, CampaignDetail, CampaignSummary, HandoffItem
from models.enums import CampaignType
from schemas.admin import (
    CampaignCreate,
    CampaignDetailRead,
    CampaignListItem,
    CampaignPage,
    CampaignRead,
    DashboardRead,
    HandoffDraftRead,
    HandoffPage,
    HandoffRead,
    HandoffReplyCreate,
    HandoffResolve,
    InteractionRead,
    LastMessageRead,
    PatientRead,
)
from schemas.common import BODY_ERRORS, error_responses

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
CampaignIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="campaign id")]
Page = Annotated[int, Query(ge=1, le=10_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]
LIST_ERRORS = error_responses(401, 422, 503)
ITEM_ERRORS = error_responses(401, 404, 422, 503)
ACTION_ERRORS = error_responses(401, 404, 409, 422, 503)
BODY_ACTION_ERRORS = error_responses(*BODY_ERRORS, 401, 404, 409, 503)


def campaign_read(campaign: Campaign) -> CampaignRead:
    """A campaign's own fields."""
    return CampaignRead.model_validate(campaign)


def list_item(row: CampaignSummary) -> CampaignListItem:
    """A list row: the campaign and its patient's name and email."""
    return CampaignListItem(
        **campaign_read(row.campaign).model_dump(), patient_name=row.patient_name, patient_email=row.patient_email
    )


def detail_read(found: CampaignDetail) -> CampaignDetailRead:
    """The campaign with its patient and conversation."""
    return CampaignDetailRead(
        **campaign_read(found.campaign).model_dump(),
        patient=PatientRead.model_validate(found.patient) if found.patient else None,
        conversation=[InteractionRead.model_validate(i) for i in found.conversation],
    )


def handoff_read(item: HandoffItem) -> HandoffRead:
    """One entry of the handoff queue."""
    c = item.summary.campaign
    return HandoffRead(
        campaign_id=c.id,
        patient_id=c.patient_id,
        patient_name=item.summary.patient_name,
        patient_email=item.summary.patient_email,
        campaign_type=c.campaign_type,
        channel=c.channel,
        reason=c.handoff.reason if c.handoff else None,
        handoff_at=c.handoff.at if c.handoff else None,
        last_incoming=LastMessageRead.model_validate(item.last_incoming) if item.last_incoming else None,
    )


@router.get("/dashboard-stats", response_model=DashboardRead, responses=error_responses(401, 503))
async def dashboard_stats(_: CurrentStaff, dashboard: DashboardServiceDep) -> DashboardRead:
    """KPIs, conversion rates and charts (ARCHITECTURE §4) from a snapshot at most DASHBOARD_MAX_AGE_SECONDS old."""
    return DashboardRead.model_validate(await dashboard.stats())


@router.get("/campaigns", response_model=CampaignPage, responses=LIST_ERRORS)
async def list_campaigns(
    user: CurrentStaff,
    admin: CampaignAdminServiceDep,
    ip: ClientIP,
    campaign_type: Annotated[CampaignType | None, Query(alias="type")] = None,
    status: Annotated[
        StatusFilter | None, Query(description="a status, or `active` (ATTEMPTING_*, ENGAGED, HANDOFF)")
    ] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="patient name or email")] = None,
    created_from: Annotated[date | None, Query(description="first local day of creation, YYYY-MM-DD")] = None,
    created_to: Annotated[date | None, Query(description="last local day of creation, YYYY-MM-DD")] = None,
    converted_from: Annotated[date | None, Query(description="first local day of conversion, YYYY-MM-DD")] = None,
    converted_to: Annotated[date | None, Query(description="last local day of conversion, YYYY-MM-DD")] = None,
    sort: Literal["-updated_at", "updated_at", "-created_at", "created_at"] = "-updated_at",
    page: Page = 1,
    page_size: PageSize = 50,
) -> CampaignPage:
    """Campaigns with their patient's name and email, filtered, sorted (newest update first) and paged."""
    filters = CampaignFilters(
        campaign_type=campaign_type,
        status=status,
        q=q,
        created_from=created_from,
        created_to=created_to,
        converted_from=converted_from,
        converted_to=converted_to,
        sort=sort,
    )
    items, total = await admin.list_campaigns(Actor(user.email, ip), filters, page=page, page_size=page_size)
    return CampaignPage(items=[list_item(i) for i in items], total=total, page=page, page_size=page_size)


@router.post("/campaigns", response_model=CampaignDetailRead, status_code=201, responses=BODY_ACTION_ERRORS)
async def create_campaign(
    body: CampaignCreate, user: CurrentStaff, admin: CampaignAdminServiceDep, ip: ClientIP
) -> CampaignDetailRead:
    """Create a campaign for a new or existing patient with its first attempt scheduled; 409 if one is active."""
    patient = NewPatient(**body.patient.model_dump()) if body.patient else None
    created: CreatedCampaign = await admin.create(
        Actor(user.email, ip),
        NewCampaign(
            campaign_type=body.campaign_type,
            patient_id=body.patient_id,
            patient=patient,
            channel=body.channel,
            max_attempts=body.max_attempts,
            first_attempt_at=body.first_attempt_at,
        ),
    )
    return detail_read(CampaignDetail(created.campaign, created.patient, []))


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetailRead, responses=ITEM_ERRORS)
async def campaign_detail(
    campaign_id: CampaignIdPath, user: CurrentStaff, admin: CampaignAdminServiceDep, ip: ClientIP
) -> CampaignDetailRead:
    """The campaign's fields, its patient and its whole conversation, oldest first."""
    return detail_read(await admin.detail(Actor(user.email, ip), campaign_id))


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignRead, responses=ACTION_ERRORS)
async def pause_campaign(
    campaign_id: CampaignIdPath, user: CurrentStaff, admin: CampaignAdminServiceDep, ip: ClientIP
) -> CampaignRead:
    """Stop outreach until resumed."""
    return campaign_read(await admin.pause(Actor(user.email, ip), campaign_id))


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignRead, responses=ACTION_ERRORS)
async def resume_campaign(
    campaign_id: CampaignIdPath, user: CurrentStaff, admin: CampaignAdminServiceDep, ip: ClientIP
) -> CampaignRead:
    """Back to ATTEMPTING_<type> with the next attempt due now."""
    return campaign_read(await admin.resume(Actor(user.email, ip), campaign_id))


@router.post("/campaigns/{campaign_id}/resolve-handoff", response_model=CampaignRead, responses=BODY_ACTION_ERRORS)
async def resolve_handoff(
    campaign_id: CampaignIdPath,
    body: HandoffResolve,
    user: CurrentStaff,
    admin: CampaignAdminServiceDep,
    ip: ClientIP,
) -> CampaignRead:
    """Close a handoff: back to ENGAGED, or closed (DECLINED), with the staff note."""
    return campaign_read(
        await admin.resolve_handoff(Actor(user.email, ip), campaign_id, note=body.note, outcome=body.outcome)
    )


@router.get("/handoffs", response_model=HandoffPage, responses=LIST_ERRORS)
async def handoffs(
    user: CurrentStaff, admin: CampaignAdminServiceDep, ip: ClientIP, page: Page = 1, page_size: PageSize = 50
) -> HandoffPage:
    """Campaigns waiting for staff, longest waiting first, with the reason and the last incoming message."""
    items, total = await admin.handoffs(Actor(user.email, ip), page=page, page_size=page_size)
    return HandoffPage(items=[handoff_read(i) for i in items], total=total, page=page, page_size=page_size)


@router.get("/handoffs/{campaign_id}/draft", response_model=HandoffDraftRead, responses=ACTION_ERRORS)
async def handoff_draft(
    campaign_id: CampaignIdPath, user: CurrentStaff, replies: StaffReplyServiceDep, ip: ClientIP
) -> HandoffDraftRead:
    """A suggested answer to the patient's last message (the LLM's, or the template's); 409 if not in handoff."""
    draft = await replies.draft(Actor(user.email, ip), campaign_id)
    thread = draft.thread
    return HandoffDraftRead(
        campaign_id=thread.campaign.id,
        key=thread.key,
        text=draft.text,
        source=draft.source,
        acknowledged=thread.acknowledged,
    )


@router.post(
    "/handoffs/{campaign_id}/reply",
    response_model=CampaignRead,
    responses=error_responses(*BODY_ERRORS, 401, 404, 409, 502, 503, notes={502: "the mail service failed"}),
)
async def handoff_reply(
    campaign_id: CampaignIdPath,
    body: HandoffReplyCreate,
    user: CurrentStaff,
    replies: StaffReplyServiceDep,
    ip: ClientIP,
) -> CampaignRead:
    """Send staff's answer in the patient's thread once per handoff, record it and resolve the handoff."""
    answer = await replies.send(Actor(user.email, ip), campaign_id, text=body.text, key=body.key)
    return campaign_read(answer.campaign)
