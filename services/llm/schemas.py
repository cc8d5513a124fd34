"""Typed inputs and outputs of the LLM port; every LLM answer is one of these models."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from models.enums import CampaignType, Channel, Intent

SUBJECT_MAX = 120
BODY_MAX = 1200
SHORT_TEXT_MAX = 300
SUMMARY_MAX = 400
REPLY_SUMMARY_MAX = 200
FIRST_NAME_MAX = 60

IntentName = Literal["booking_request", "service_denial", "irrelevant_confused", "question", "other"]
assert set(get_args(IntentName)) == {intent.value for intent in Intent}, "IntentName must mirror models.enums.Intent"


def _text(limit: int, *, one_line: bool = False) -> AfterValidator:
    """A string check: stripped, non-empty, at most `limit` characters, optionally on one line."""

    def check(value: str) -> str:
        value = value.strip()
        if one_line:
            value = " ".join(value.split())
        if not value:
            raise ValueError("must not be empty")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters, got {len(value)}")
        return value

    return AfterValidator(check)


# Length limits are enforced by validators rather than maxLength so the JSON schema sent to the model stays
# within what OpenAI's strict structured outputs accept; the descriptions tell the model the limits.
Subject = Annotated[str, _text(SUBJECT_MAX, one_line=True)]
Body = Annotated[str, _text(BODY_MAX)]
ShortText = Annotated[str, _text(SHORT_TEXT_MAX)]
Summary = Annotated[str, _text(SUMMARY_MAX)]
OneLine = Annotated[str, _text(REPLY_SUMMARY_MAX, one_line=True)]


class OutreachRequest(BaseModel):
    """What the LLM may know to write one outreach message: no medical details, no contact data."""

    model_config = ConfigDict(frozen=True)

    first_name: str = Field(min_length=1, max_length=FIRST_NAME_MAX)
    campaign_type: CampaignType
    attempt: int = Field(ge=1, description="1-based attempt number")
    channel: Channel
    clinic_name: str = Field(min_length=1, max_length=120)
    clinic_phone: str = Field(min_length=1, max_length=32)
    # Short enough that the minimal SMS ("Book: <link> or call <phone>") always fits in SHORT_TEXT_MAX.
    booking_link: str = Field(min_length=1, max_length=240)
    # engaged_nudge: the patient replied but has not booked; we follow up on their reply.
    purpose: Literal["outreach", "engaged_nudge"] = "outreach"


class OutreachMessage(BaseModel):
    """One outreach message: an email version and a short SMS/voice version."""

    subject: Subject = Field(description=f"Plain-text email subject, one line, at most {SUBJECT_MAX} characters.")
    body: Body = Field(
        description=f"Plain-text email body, at most {BODY_MAX} characters, with the booking link exactly once."
    )
    short_text: ShortText = Field(
        description=f"At most {SHORT_TEXT_MAX} characters for SMS or to be read aloud on a call.",
    )


class ConversationSummary(BaseModel):
    """A short neutral summary of a campaign's conversation so far."""

    summary: Summary = Field(description=f"One neutral paragraph, at most {SUMMARY_MAX} characters.")


class ReplyUnderstanding(BaseModel):
    """What a patient's email reply means, in the fixed intent set."""

    intent: IntentName = Field(description="Exactly one of the fixed intents.")
    confidence: float = Field(ge=0.0, le=1.0, description="Confidence in the intent, from 0 to 1.")
    summary: OneLine = Field(
        description=f"One neutral line, at most {REPLY_SUMMARY_MAX} characters, describing the reply."
    )
    kb_article_id: str | None = Field(
        description="For a question: the id of the listed knowledge-base article that answers it, else null.",
    )

    @property
    def intent_enum(self) -> Intent:
        """The intent as the shared enum."""
        return Intent(self.intent)


class SuggestedReply(BaseModel):
    """The middle of a reply staff may send to a patient's message (greeting, links and sign-off are added)."""

    body: Body = Field(
        description=f"Plain-text reply body, at most {BODY_MAX} characters, without greeting, sign-off or links."
    )


class KbCandidate(BaseModel):
    """A knowledge-base article offered to the classifier as a possible answer."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    answer: str
