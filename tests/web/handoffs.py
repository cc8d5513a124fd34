"""Seeded handoffs as the reply agent leaves them: outreach sent, the patient's reply recorded, staff needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.container import Container
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails, Handoff
from models.enums import CampaignStatus, CampaignType, Channel, Direction, Intent
from models.interaction import Interaction
from models.patient import Patient

SUBJECT = "Time for your check-up"
QUESTION = "Can I bring my daughter to the same appointment? She is 7 and has never been to a dentist."


@dataclass(frozen=True)
class SeededHandoff:
    """A campaign in HANDOFF and the Message-IDs of our outreach and the patient's reply."""

    campaign: Campaign
    patient: Patient
    outreach_id: str
    patient_message_id: str
    thread_id: str


async def seed_handoff(
    container: Container,
    *,
    name: str = "Ann Lee",
    email: str = "ann@example.com",
    text: str = QUESTION,
    reason: str = "unsure what the patient wants",
    waiting: timedelta = timedelta(hours=3),
    acknowledged: bool = False,
    thread_id: str | None = None,
) -> SeededHandoff:
    """Outreach email, the patient's answer in its thread, a handoff `waiting` ago (and the agent's ack if asked)."""
    now = container.clock.now()
    handed_at = now - waiting
    patient = Patient(id=new_id(), name=name, email=email, created_at=now, updated_at=now)
    await container.repos.patients.insert(patient)
    campaign = Campaign(
        id=new_id(),
        patient_id=patient.id,
        campaign_type=CampaignType.RECALL,
        status=CampaignStatus.HANDOFF,
        follow_up_details=FollowUpDetails(attempts_made=1),
        engagement_summary="Patient replied (other)",
        handoff=Handoff(reason=reason, at=handed_at),
        created_at=now - timedelta(days=3),
        updated_at=handed_at,
    )
    await container.repos.campaigns.insert(campaign)
    thread = thread_id or f"thread-{new_id()}"
    outreach_id = f"<outreach-{new_id()}@clinic.test>"
    patient_message_id = f"<patient-{new_id()}@example.com>"
    interactions = container.repos.interactions
    await interactions.insert(
        Interaction(
            id=new_id(),
            campaign_id=campaign.id,
            patient_id=patient.id,
            direction=Direction.OUTGOING,
            channel=Channel.EMAIL,
            timestamp=now - timedelta(days=3),
            body=f"{SUBJECT}\n\nHi {name.split()[0]}, your regular check-up is due.",
            summary="Outreach attempt 1 by email",
            provider_message_id=outreach_id,
            message_id_header=outreach_id,
            kind="outreach",
        )
    )
    await interactions.insert(
        Interaction(
            id=new_id(),
            campaign_id=campaign.id,
            patient_id=patient.id,
            direction=Direction.INCOMING,
            channel=Channel.EMAIL,
            timestamp=handed_at,
            body=f"Re: {SUBJECT}\n\n{text}",
            summary="No clear intent",
            intent=Intent.OTHER,
            thread_id=thread,
            message_id_header=patient_message_id,
            kind="patient_reply",
        )
    )
    if acknowledged:
        await interactions.insert(
            Interaction(
                id=new_id(),
                campaign_id=campaign.id,
                patient_id=patient.id,
                direction=Direction.OUTGOING,
                channel=Channel.EMAIL,
                timestamp=handed_at + timedelta(seconds=5),
                body=f"Re: {SUBJECT}\n\nThank you for your message. We have passed it to our team.",
                summary="Automatic reply: summary_handoff",
                thread_id=thread,
                kind="auto_reply",
            )
        )
    return SeededHandoff(campaign, patient, outreach_id, patient_message_id, thread)
