"""What outreach nodes get from the runtime: settings, clock, repositories and the outside-world ports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.clock import Clock
from core.config import Settings
from db.repositories import Repositories
from services.email.port import EmailPort
from services.llm.port import LLMPort
from services.sms.port import SmsPort


@dataclass(frozen=True)
class OutreachContext:
    """Dependencies of one outreach run (never module globals)."""

    settings: Settings
    clock: Clock
    repos: Repositories
    email: EmailPort
    sms: SmsPort | None
    llm: LLMPort | None  # None: no LLM configured, the templates write everything
    templates: LLMPort
    owner: str
    lease_ttl: timedelta
