"""What reply nodes get from the runtime: settings, clock, repositories, the LLM and the reply sender."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from core.clock import Clock
from core.config import Settings
from db.repositories import Repositories
from models.system import KbArticle
from services.email.port import ReplySender
from services.llm.port import LLMPort


@dataclass(frozen=True)
class ReplyContext:
    """Dependencies of one reply run."""

    settings: Settings
    clock: Clock
    repos: Repositories
    llm: LLMPort | None  # None: no LLM configured, the templates' classifier reads replies
    templates: LLMPort
    sender: ReplySender
    open_slots: Callable[[], Awaitable[list[str]]]
    knowledge_base: Callable[[], Awaitable[list[KbArticle]]]
    owner: str
    reply_lease: timedelta
