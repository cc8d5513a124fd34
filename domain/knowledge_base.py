"""Knowledge-base use cases: list, read, write and delete the articles the reply agent answers from, and preview
which article would answer a patient's message, read the way the reply agent reads it.

Every use is audited (kb.list, kb.read, kb.create, kb.update, kb.delete, kb.preview). Every write calls `on_change`
(the container forgets its cached copy of the knowledge base, so the next reply on this instance sees the change).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound, Unprocessable
from db.repositories.kb_articles import KbArticleRepository
from domain.audit import Actor, AuditTrail
from models.base import new_id
from models.enums import Intent
from models.system import KbArticle
from services.llm.classifier import score_article, strip_quoted, tokenise
from services.llm.port import LLMError, LLMPort
from services.llm.schemas import KbCandidate

MAX_TITLE = 200
MAX_ANSWER = 2000
MAX_TAGS = 10
MAX_TAG = 40
MAX_MESSAGE = 20_000  # as long as a reply the agent reads (POST /agent/reply)
MAX_CANDIDATES = 5
RESOURCE = "kb_articles"

Outcome = Literal["answer", "no_article", "not_a_question", "unsure", "opt_out", "reading_failed"]


class ArticleNotFound(NotFound):
    """404: no article with this id."""

    error = "kb_article_not_found"


class TitleTaken(Conflict):
    """409: another article already has this title."""

    error = "kb_title_taken"


class ArticleChanged(Conflict):
    """409: the article was changed since the editor read it."""

    error = "kb_article_changed"


@dataclass(frozen=True)
class ArticleDraft:
    """What staff write: a title (the patient's question), the approved answer, and tags."""

    title: str
    answer: str
    tags: tuple[str, ...] = ()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def check_draft(title: str, answer: str, tags: Sequence[str]) -> tuple[ArticleDraft, dict[str, str]]:
    """The draft cleaned (title on one line, tags lowercase without repeats) and a sentence per wrong field."""
    clean_title = _one_line(title)
    clean_answer = answer.replace("\r\n", "\n").strip()
    clean_tags = tuple(dict.fromkeys(tag for tag in (_one_line(t).lower() for t in tags) if tag))
    errors: dict[str, str] = {}
    if not clean_title:
        errors["title"] = "Please write the question the article answers."
    elif len(clean_title) > MAX_TITLE:
        errors["title"] = f"The title must be at most {MAX_TITLE} characters."
    if not clean_answer:
        errors["answer"] = "Please write the answer patients are sent."
    elif len(clean_answer) > MAX_ANSWER:
        errors["answer"] = f"The answer must be at most {MAX_ANSWER} characters."
    if len(clean_tags) > MAX_TAGS:
        errors["tags"] = f"Give at most {MAX_TAGS} tags."
    elif any(len(tag) > MAX_TAG or "," in tag for tag in clean_tags):
        errors["tags"] = f"Each tag must be at most {MAX_TAG} characters, without commas."
    return ArticleDraft(clean_title, clean_answer, clean_tags), errors


@dataclass(frozen=True)
class Candidate:
    """An article and how many of the message's words it shares (title words count double)."""

    article: KbArticle
    score: float


@dataclass(frozen=True)
class Preview:
    """How the reply agent would read a message, and the article it would answer with (None: no article)."""

    source: Literal["llm", "offline"]
    outcome: Outcome
    intent: Intent | None
    confidence: float
    summary: str
    article: KbArticle | None
    candidates: list[Candidate] = field(default_factory=list)


def ranked(text: str, articles: Sequence[KbArticle], *, limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """The articles sharing words with the message's own text, best first (the offline retrieval's score)."""
    query = tokenise(strip_quoted(text))
    scored = [
        Candidate(article, score_article(query, KbCandidate(id=article.id, title=article.title, answer=article.answer)))
        for article in articles
    ]
    return sorted((c for c in scored if c.score > 0), key=lambda c: -c.score)[:limit]


class KnowledgeBaseService:
    """The clinic's approved answers, edited by staff, and the reply agent's choice among them, previewed."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        articles: KbArticleRepository,
        audit: AuditTrail,
        knowledge_base: Callable[[], Awaitable[list[KbArticle]]],
        llm: LLMPort | None,
        templates: LLMPort,
        wants_opt_out: Callable[[str], bool],
        on_change: Callable[[], None],
    ):
        self.settings = settings
        self.clock = clock
        self.articles = articles
        self.audit = audit
        self.knowledge_base = knowledge_base  # the reply agent's own (cached) view of the articles
        self.llm = llm
        self.templates = templates
        self.min_confidence = settings.REPLY_MIN_CONFIDENCE  # the reply agent's bar for acting on a reading
        self.wants_opt_out = wants_opt_out
        self.on_change = on_change

    # ---- reads ----------------------------------------------------------------------------------------------

    async def search(self, actor: Actor, *, q: str | None, page: int, page_size: int) -> tuple[list[KbArticle], int]:
        """Articles by title, optionally those whose title, answer or a tag contains `q`; paged, audited."""
        async with self.audit.audited(actor, "kb.list", RESOURCE):
            return await self.articles.page(q=q or None, skip=(page - 1) * page_size, limit=page_size)

    async def get(self, actor: Actor, article_id: str) -> KbArticle:
        """One article; audited."""
        async with self.audit.audited(actor, "kb.read", f"{RESOURCE}/{article_id}"):
            return await self._existing(article_id)

    async def _existing(self, article_id: str) -> KbArticle:
        article = await self.articles.get(article_id)
        if article is None:
            raise ArticleNotFound("There is no knowledge-base article with this id")
        return article

    # ---- writes ---------------------------------------------------------------------------------------------

    async def _checked(self, draft: ArticleDraft, *, except_id: str | None = None) -> ArticleDraft:
        clean, errors = check_draft(draft.title, draft.answer, draft.tags)
        if errors:
            name, sentence = next(iter(errors.items()))
            raise Unprocessable(sentence, field=name)
        key = clean.title.casefold()
        if any(a.title.casefold() == key and a.id != except_id for a in await self.articles.all()):
            raise TitleTaken(f"Another article already has the title {clean.title!r}")
        return clean

    async def create(self, actor: Actor, draft: ArticleDraft) -> KbArticle:
        """A new article, by this staff member, now; 422 for a bad field, 409 for a title already used."""
        async with self.audit.audited(actor, "kb.create", RESOURCE):
            clean = await self._checked(draft)
            article = KbArticle(
                id=new_id(),
                title=clean.title,
                answer=clean.answer,
                tags=list(clean.tags),
                updated_at=self.clock.now(),
                updated_by=actor.email,
                version=1,
            )
            await self.articles.insert(article)
        self.on_change()
        return article

    async def update(
        self, actor: Actor, article_id: str, draft: ArticleDraft, *, expected_version: int | None = None
    ) -> KbArticle:
        """The article rewritten; 409 when `expected_version` (the one the editor read) is no longer current."""
        async with self.audit.audited(actor, "kb.update", f"{RESOURCE}/{article_id}"):
            current = await self._existing(article_id)
            if expected_version is not None and expected_version != current.version:
                raise ArticleChanged(self._changed_since(current))
            clean = await self._checked(draft, except_id=article_id)
            article = current.model_copy(
                update={
                    "title": clean.title,
                    "answer": clean.answer,
                    "tags": list(clean.tags),
                    "updated_at": self.clock.now(),
                    "updated_by": actor.email,
                    "version": current.version + 1,
                }
            )
            if not await self.articles.replace_at_version(article, expected_version=current.version):
                latest = await self._existing(article_id)
                raise ArticleChanged(self._changed_since(latest))
        self.on_change()
        return article

    @staticmethod
    def _changed_since(article: KbArticle) -> str:
        who = f" by {article.updated_by}" if article.updated_by else ""
        return f"The article was changed{who} since it was opened; reload it and make the change again"

    async def delete(self, actor: Actor, article_id: str) -> None:
        """Remove the article: the reply agent stops answering with it."""
        async with self.audit.audited(actor, "kb.delete", f"{RESOURCE}/{article_id}"):
            if not await self.articles.delete(article_id):
                raise ArticleNotFound("There is no knowledge-base article with this id")
        self.on_change()

    # ---- preview --------------------------------------------------------------------------------------------

    async def preview(self, actor: Actor, text: str) -> Preview:
        """Which article the reply agent would answer `text` with: the same articles, model and rules it uses."""
        async with self.audit.audited(actor, "kb.preview", RESOURCE):
            if not strip_quoted(text[:MAX_MESSAGE]):
                raise Unprocessable("Paste the patient's message (its own words, not only quoted text)", field="text")
            return await self._read(text[:MAX_MESSAGE])

    async def _read(self, text: str) -> Preview:
        articles = await self.knowledge_base()
        source: Literal["llm", "offline"] = "llm" if self.llm is not None else "offline"
        candidates = ranked(text, articles)

        def verdict(outcome: Outcome, intent: Intent | None, confidence: float, summary: str) -> Preview:
            return Preview(source, outcome, intent, confidence, summary, None, candidates)

        if self.wants_opt_out(text):
            return verdict("opt_out", Intent.SERVICE_DENIAL, 1.0, "Patient asked to stop emails")
        kb = [KbCandidate(id=a.id, title=a.title, answer=a.answer) for a in articles]
        model = self.llm if self.llm is not None else self.templates
        try:
            reading = await model.understand_reply(email_text=text, kb=kb)
        except LLMError:
            return verdict("reading_failed", None, 0.0, "Automatic reading failed")
        intent = reading.intent_enum
        if reading.confidence < self.min_confidence:
            return verdict("unsure", intent, reading.confidence, reading.summary)
        if intent != Intent.QUESTION:
            return verdict("not_a_question", intent, reading.confidence, reading.summary)
        article = next((a for a in articles if a.id == reading.kb_article_id), None)
        if article is None:
            return verdict("no_article", intent, reading.confidence, reading.summary)
        return Preview(source, "answer", intent, reading.confidence, reading.summary, article, candidates)
