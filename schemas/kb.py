"""Knowledge-base API schemas: articles, and the preview of which article would answer a message."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.knowledge_base import MAX_ANSWER, MAX_MESSAGE, MAX_TAG, MAX_TAGS, MAX_TITLE, Outcome
from models.enums import Intent

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG, pattern=r"^[^,]+$")]


class KbArticleCreate(BaseModel):
    """A new article: the patient's question as the title, the approved answer, optional tags."""

    title: str = Field(min_length=1, max_length=MAX_TITLE, description="the question, on one line")
    answer: str = Field(min_length=1, max_length=MAX_ANSWER, description="plain text sent to patients as written")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS, description="lowercased, repeats dropped")


class KbArticleUpdate(KbArticleCreate):
    """The article rewritten; with `version`, refused (409) when someone changed it since that version was read."""

    version: int | None = Field(default=None, ge=0, description="the version the edit is based on")


class KbArticleRead(BaseModel):
    """An article as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    answer: str
    tags: list[str]
    updated_at: datetime
    updated_by: str | None
    version: int


class KbArticlePage(BaseModel):
    """A page of articles, by title."""

    items: list[KbArticleRead]
    total: int
    page: int
    page_size: int


class KbPreviewCreate(BaseModel):
    """A patient's message to preview the reply agent's answer to."""

    text: str = Field(min_length=1, max_length=MAX_MESSAGE)


class KbCandidateRead(BaseModel):
    """An article sharing words with the message, and its word-overlap score (title words count double)."""

    article: KbArticleRead
    score: float


class KbPreviewRead(BaseModel):
    """How the reply agent would read the message and the article it would answer with (null: none)."""

    source: Literal["llm", "offline"] = Field(description="the configured LLM, or the offline classifier")
    outcome: Outcome = Field(
        description="answer: sent the article; no_article: a question no article answers (staff follow up); "
        "not_a_question / unsure / opt_out / reading_failed: no article is sent"
    )
    intent: Intent | None
    confidence: float
    summary: str
    article: KbArticleRead | None
    candidates: list[KbCandidateRead]
