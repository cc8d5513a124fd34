"""Gmail and reply API schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from models.enums import CampaignStatus, Intent


class WatchRead(BaseModel):
    """A started Gmail watch."""

    history_id: int
    expiration: datetime


class ReplyRequest(BaseModel):
    """A reply to run through the agent by hand."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    thread_id: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    from_: EmailStr | None = Field(default=None, alias="from")
    message_id: str | None = Field(default=None, max_length=500)


class ReplyRead(BaseModel):
    """What the agent did."""

    intent: Intent | None
    action: str
    reply_sent: bool
    campaign_status: CampaignStatus | None
