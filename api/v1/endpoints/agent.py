"""The product guide's agent endpoints (staff only)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ClientIP, CurrentStaff, OutreachServiceDep, ReplyServiceDep
from domain.audit import Actor
from domain.campaign_start import NewCampaign
from domain.outreach import RunResult, TriggerPatient
from schemas.agent import TriggerRead, TriggerRequest
from schemas.common import BODY_ERRORS, error_responses
from schemas.gmail import ReplyRead, ReplyRequest

router = APIRouter(prefix="/agent", tags=["agent"])
ERRORS = error_responses(*BODY_ERRORS, 401, 404, 409, 503)


def _read(result: RunResult) -> TriggerRead:
    return TriggerRead(
        campaign_id=result.campaign_id,
        interaction_id=result.interaction_id,
        channel=result.channel,
        status=result.status,
        next_follow_up_at=result.next_follow_up_at,
        action=result.action,
        detail=result.detail,
    )


@router.post("/trigger", response_model=TriggerRead, responses=ERRORS)
async def trigger(body: TriggerRequest, user: CurrentStaff, ip: ClientIP, outreach: OutreachServiceDep) -> TriggerRead:
    """Run the outreach graph once now for a campaign (created with its patient when new)."""
    actor = Actor(user.email, ip)
    if body.campaign_id:
        return _read(await outreach.trigger(body.campaign_id, actor=actor, ignore_quiet_hours=body.ignore_quiet_hours))
    assert body.patient and body.campaign
    patient, campaign = body.patient, body.campaign
    result = await outreach.trigger_new(
        TriggerPatient(
            name=patient.name,
            email=str(patient.email) if patient.email else None,
            phone=patient.phone,
            timezone=patient.timezone,
            sms_consent=patient.sms_consent,
            call_consent=patient.call_consent,
        ),
        NewCampaign(
            campaign_type=campaign.campaign_type,
            channel=campaign.channel,
            attempts_made=campaign.follow_up_details.attempts_made,
            max_attempts=campaign.follow_up_details.max_attempts,
        ),
        actor=actor,
        ignore_quiet_hours=body.ignore_quiet_hours,
    )
    return _read(result)


@router.post("/reply", response_model=ReplyRead, responses=ERRORS)
async def reply(body: ReplyRequest, user: CurrentStaff, ip: ClientIP, replies: ReplyServiceDep) -> ReplyRead:
    """Run the reply agent on a message (manual use and testing)."""
    outcome = await replies.manual(
        Actor(user.email, ip),
        thread_id=body.thread_id,
        body=body.body,
        from_address=str(body.from_) if body.from_ else None,
        message_id=body.message_id,
    )
    return ReplyRead(
        intent=outcome.intent,
        action=outcome.action,
        reply_sent=outcome.reply_sent,
        campaign_status=outcome.campaign_status,
    )
