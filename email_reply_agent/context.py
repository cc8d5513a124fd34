"""What reply nodes get from the runtime: settings, clock, repositories, the LLM and the reply sender."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from core.clock import Clock
from core.config import Settings
from db.repositories import Repositories
from models.system import KbArticle
from services.llm.port import LLMPort


class ReplySender(Protocol):
    """Sends a reply in the patient's thread (Gmail when configured, else SMTP with threading headers)."""

    async def send_reply(
        self, *, to: str, subject: str, text: str, thread_id: str, in_reply_to: str | None, references: str | None
    ) -> str:
        """Send; returns the provider's id (Gmail id or Message-ID)."""
        ...


@dataclass(frozen=True)
class ReplyContext:
    """Dependencies of one reply run."""

    settings: Settings
    clock: Clock
    repos: Repositories
    llm: LLMPort
    templates: LLMPort
    sender: ReplySender
    open_slots: Callable[[], Awaitable[list[str]]]
    knowledge_base: Callable[[], Awaitable[list[KbArticle]]]
    owner: str
    reply_lease: timedelta
