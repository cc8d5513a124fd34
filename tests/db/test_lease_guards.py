"""Lease guards on campaigns and outbound sends, driven by explicit times: whoever holds a live lease is alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.container import Container
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType, Channel, OutboundStatus

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=2)


async def due_campaign(container: Container) -> Campaign:
    campaign = Campaign(
        id=new_id(),
        patient_id=new_id(),
        campaign_type=CampaignType.RECALL,
        status=CampaignStatus.ATTEMPTING_RECALL,
        follow_up_details=FollowUpDetails(next_follow_up_at=NOW - timedelta(minutes=1)),
        created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
    )
    await container.repos.campaigns.insert(campaign)
    return campaign


async def test_a_manual_claim_waits_for_another_workers_live_lease(container: Container) -> None:
    campaigns = container.repos.campaigns
    campaign = await due_campaign(container)
    [held] = await campaigns.claim_due(owner="worker-a", now=NOW, ttl=TTL, limit=1)
    assert held.id == campaign.id
    assert await campaigns.claim(campaign.id, owner="worker-b", now=NOW + timedelta(seconds=30), ttl=TTL) is None
    taken = await campaigns.claim(campaign.id, owner="worker-b", now=NOW + TTL + timedelta(seconds=1), ttl=TTL)
    assert taken is not None and taken.lease is not None and taken.lease.owner == "worker-b"


async def test_only_the_live_lease_holder_commits_a_run(container: Container) -> None:
    campaigns = container.repos.campaigns
    campaign = await due_campaign(container)
    await campaigns.claim_due(owner="worker-a", now=NOW, ttl=TTL, limit=1)
    later = NOW + TTL + timedelta(seconds=1)
    # worker-a stalled past its lease and worker-b took the campaign over: a's late result is refused.
    assert await campaigns.claim(campaign.id, owner="worker-b", now=later, ttl=TTL) is not None
    fields = {"status": CampaignStatus.FAILED.value}
    assert await campaigns.commit(campaign.id, owner="worker-a", now=later, fields=fields) is False
    assert await campaigns.commit(campaign.id, owner="worker-c", now=later, fields=fields) is False
    stored = await campaigns.get(campaign.id)
    assert stored is not None and stored.status == CampaignStatus.ATTEMPTING_RECALL
    assert await campaigns.commit(campaign.id, owner="worker-b", now=later, fields=fields) is True
    # Nor does a holder whose own lease has run out.
    other = await due_campaign(container)
    await campaigns.claim(other.id, owner="worker-a", now=NOW, ttl=TTL)
    assert await campaigns.commit(other.id, owner="worker-a", now=NOW + TTL, fields=fields) is False


async def test_a_send_in_flight_is_never_marked_unknown(container: Container) -> None:
    outbound = container.repos.outbound_messages
    won, row = await outbound.claim(
        campaign_id=new_id(), attempt=1, channel=Channel.EMAIL, owner="worker-a", now=NOW, ttl=TTL
    )
    assert won
    assert await outbound.mark_unknown_if_stale(row.id, now=NOW + TTL - timedelta(seconds=1)) is False
    assert (await outbound.get(row.id)).status == OutboundStatus.CLAIMED  # type: ignore[union-attr]
    assert await outbound.mark_unknown_if_stale(row.id, now=NOW + TTL + timedelta(seconds=1)) is True
    assert (await outbound.get(row.id)).status == OutboundStatus.UNKNOWN  # type: ignore[union-attr]
