"""Shared by the reply-agent tests: a patient we already emailed, and the clinic's knowledge base."""

from __future__ import annotations

from datetime import timedelta

from core.container import Container
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType, Channel, Direction
from models.interaction import Interaction
from models.patient import Patient
from models.system import KbArticle

KB = (
    ("Opening hours", "We are open Monday to Saturday, 9:00 to 20:30.", "hours"),
    ("Parking", "Free parking is available behind the building.", "parking"),
)


async def seed_conversation(
    container: Container,
    *,
    email: str = "ann@example.com",
    name: str = "Ann Lee",
    thread_id: str | None = None,
    message_id_header: str | None = None,
) -> tuple[Campaign, str]:
    """A patient in a recall campaign whose outreach email (returned Message-ID) can be replied to."""
    now = container.clock.now()
    patient = Patient(id=new_id(), name=name, email=email, created_at=now, updated_at=now)
    await container.repos.patients.insert(patient)
    campaign = Campaign(
        id=new_id(),
        patient_id=patient.id,
        campaign_type=CampaignType.RECALL,
        status=CampaignStatus.ATTEMPTING_RECALL,
        follow_up_details=FollowUpDetails(attempts_made=1, next_follow_up_at=now + timedelta(days=2)),
        created_at=now,
        updated_at=now,
    )
    await container.repos.campaigns.insert(campaign)
    header = message_id_header or f"<outreach-{new_id()}@brightsmiles.test>"
    await container.repos.interactions.insert(
        Interaction(
            id=new_id(),
            campaign_id=campaign.id,
            patient_id=patient.id,
            direction=Direction.OUTGOING,
            channel=Channel.EMAIL,
            timestamp=now - timedelta(hours=2),
            body="Time for your check-up",
            thread_id=thread_id,
            message_id_header=header,
            kind="outreach",
        )
    )
    if await container.repos.kb_articles.count() == 0:
        await container.repos.kb_articles.upsert_many(
            [
                KbArticle(id=new_id(), title=title, answer=answer, tags=[tag], updated_at=now)
                for title, answer, tag in KB
            ]
        )
    return campaign, header
