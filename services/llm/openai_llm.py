"""OpenAILLM: the LLM port over langchain-openai's ChatOpenAI with JSON-schema structured output."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import openai
from langchain_core.exceptions import ModelRefusalError
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from openai.lib._pydantic import to_strict_json_schema  # the SDK's own strict-schema builder
from pydantic import BaseModel, SecretStr, ValidationError

from models.enums import CampaignType
from services.llm import prompts
from services.llm.offline import OfflineLLM
from services.llm.port import LLMError, LLMPort
from services.llm.schemas import (
    ConversationSummary,
    KbCandidate,
    OutreachMessage,
    OutreachRequest,
    ReplyUnderstanding,
    SuggestedReply,
)
from services.llm.validation import validate_outreach, validate_suggestion, validate_understanding

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from core.config import Settings

logger = logging.getLogger(__name__)

TEMPERATURE = 0.2
MAX_RETRIES = 1
# Slack for the SDK's back-off between attempts, on top of one timeout per attempt.
DEADLINE_SLACK_SECONDS = 3.0

M = TypeVar("M", bound=BaseModel)


def _as_llm_error(exc: Exception) -> LLMError:
    """Map any failure of one call to LLMError; the message names the type only (inputs may hold PHI)."""
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return LLMError("LLM call timed out", reason="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("LLM endpoint unreachable", reason="transport")
    if isinstance(exc, openai.APIStatusError):
        return LLMError(f"LLM endpoint answered HTTP {exc.status_code}", reason="transport")
    if isinstance(exc, ModelRefusalError):
        return LLMError("LLM refused to answer", reason="refused")
    return LLMError(f"LLM output is invalid ({type(exc).__name__})", reason="invalid_output")


def _kb_json(kb: list[KbCandidate]) -> str:
    """The offered articles as the JSON the prompts show between their markers."""
    return json.dumps(
        [{"id": a.id, "title": a.title, "answer": a.answer[: prompts.KB_ANSWER_PREVIEW]} for a in kb],
        ensure_ascii=False,
        indent=1,
    )


class OpenAILLM(LLMPort):
    """One ChatOpenAI structured-output call per method; outputs validated, every failure an LLMError."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 20.0,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self._http = httpx.AsyncClient(timeout=timeout)
        self.chat = ChatOpenAI(
            model=model,
            api_key=SecretStr(api_key),
            base_url=base_url or None,
            timeout=timeout,
            max_retries=max_retries,
            temperature=TEMPERATURE,
            http_async_client=self._http,
        )
        self._deadline = timeout * (max_retries + 1) + DEADLINE_SLACK_SECONDS
        self._outreach = self._structured(OutreachMessage)
        self._summary = self._structured(ConversationSummary)
        self._understanding = self._structured(ReplyUnderstanding)
        self._suggestion = self._structured(SuggestedReply)

    def _structured(self, model: type[BaseModel]) -> Runnable[Any, Any]:
        """ChatOpenAI answering in `model`'s strict JSON schema, computed once here.

        Given the class itself, the SDK rebuilds the schema from the model on every call (a tenth of a reply's
        CPU); the answer is validated against the class in `_call` instead.
        """
        schema = {**to_strict_json_schema(model), "title": model.__name__}
        return self.chat.with_structured_output(schema, method="json_schema", strict=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAILLM:
        """Build from OPENAI_API_KEY, OPENAI_MODEL, OPENAI_BASE_URL and LLM_TIMEOUT_SECONDS."""
        return cls(
            api_key=settings.OPENAI_API_KEY,
            model=settings.OPENAI_MODEL,
            base_url=settings.OPENAI_BASE_URL or None,
            timeout=settings.LLM_TIMEOUT_SECONDS,
        )

    async def _call(self, runnable: Runnable[Any, Any], model: type[M], system: str, user: str, task: str) -> M:
        try:
            async with asyncio.timeout(self._deadline):
                result = await runnable.ainvoke([SystemMessage(system), HumanMessage(user)])
        except Exception as exc:
            error = _as_llm_error(exc)
            logger.warning("llm %s failed: %s", task, error, extra={"llm_task": task, "reason": error.reason})
            raise error from exc
        try:
            return model.model_validate(result)
        except ValidationError as exc:
            logger.warning("llm %s failed: invalid output", task, extra={"llm_task": task, "reason": "invalid_output"})
            raise LLMError(f"LLM output is invalid (not a {model.__name__})", reason="invalid_output") from exc

    async def write_outreach(self, req: OutreachRequest) -> OutreachMessage:
        """Write one outreach message from the request's fields only (no other patient data)."""
        user = prompts.OUTREACH_USER.format(request_json=json.dumps(req.model_dump(mode="json"), ensure_ascii=False))
        message = await self._call(self._outreach, OutreachMessage, prompts.OUTREACH_SYSTEM, user, "outreach")
        return validate_outreach(message, req)

    async def summarize(self, *, campaign_type: CampaignType, turns: list[tuple[str, str, str]]) -> ConversationSummary:
        """Summarise the turns, passed to the model as delimited data."""
        lines = [
            " | ".join((str(direction), str(channel), " ".join(text.split())[: prompts.TURN_MAX_CHARS]))
            for direction, channel, text in turns
        ]
        user = prompts.SUMMARY_USER.format(
            campaign_type=CampaignType(campaign_type).value,
            turns=prompts.neutralise_markers("\n".join(lines)) or "(no turns yet)",
        )
        return await self._call(self._summary, ConversationSummary, prompts.SUMMARY_SYSTEM, user, "summary")

    async def understand_reply(self, *, email_text: str, kb: list[KbCandidate]) -> ReplyUnderstanding:
        """Classify the email, given as untrusted data, against the fixed intents and the offered KB ids."""
        user = prompts.UNDERSTAND_USER.format(
            kb_json=prompts.neutralise_markers(_kb_json(kb)),
            email=prompts.neutralise_markers(email_text[: prompts.EMAIL_MAX_CHARS]),
        )
        result = await self._call(
            self._understanding, ReplyUnderstanding, prompts.UNDERSTAND_SYSTEM, user, "understanding"
        )
        return validate_understanding(result, [article.id for article in kb])

    async def draft_reply(self, *, email_text: str, kb: list[KbCandidate]) -> SuggestedReply:
        """Suggest a staff answer to the email, given as untrusted data, from the offered approved answers only."""
        user = prompts.DRAFT_USER.format(
            kb_json=prompts.neutralise_markers(_kb_json(kb)),
            email=prompts.neutralise_markers(email_text[: prompts.EMAIL_MAX_CHARS]),
        )
        result = await self._call(self._suggestion, SuggestedReply, prompts.DRAFT_SYSTEM, user, "draft")
        return validate_suggestion(result)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()


def build_llm(settings: Settings) -> LLMPort:
    """OpenAILLM when OPENAI_API_KEY is set, else the deterministic OfflineLLM."""
    if settings.OPENAI_API_KEY:
        return OpenAILLM.from_settings(settings)
    return OfflineLLM()
