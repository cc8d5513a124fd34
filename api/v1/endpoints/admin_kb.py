"""Admin API: the knowledge base the reply agent answers from, and which article would answer a message."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import ClientIP, CurrentStaff, KnowledgeBaseServiceDep
from domain.audit import Actor
from domain.knowledge_base import ArticleDraft, Candidate, Preview
from schemas.common import BODY_ERRORS, error_responses
from schemas.kb import (
    KbArticleCreate,
    KbArticlePage,
    KbArticleRead,
    KbArticleUpdate,
    KbCandidateRead,
    KbPreviewCreate,
    KbPreviewRead,
)

router = APIRouter(prefix="/api/v1/admin/kb", tags=["admin", "knowledge base"])
ArticleIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="article id")]
Page = Annotated[int, Query(ge=1, le=10_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]


def draft_of(body: KbArticleCreate) -> ArticleDraft:
    """The article as the use case takes it."""
    return ArticleDraft(title=body.title, answer=body.answer, tags=tuple(body.tags))


def preview_read(preview: Preview) -> KbPreviewRead:
    """The preview with its articles."""

    def candidate(c: Candidate) -> KbCandidateRead:
        return KbCandidateRead(article=KbArticleRead.model_validate(c.article), score=c.score)

    return KbPreviewRead(
        source=preview.source,
        outcome=preview.outcome,
        intent=preview.intent,
        confidence=preview.confidence,
        summary=preview.summary,
        article=KbArticleRead.model_validate(preview.article) if preview.article else None,
        candidates=[candidate(c) for c in preview.candidates],
    )


@router.get("", response_model=KbArticlePage, responses=error_responses(401, 422, 503))
async def list_articles(
    user: CurrentStaff,
    kb: KnowledgeBaseServiceDep,
    ip: ClientIP,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="in the title, answer or tags")] = None,
    page: Page = 1,
    page_size: PageSize = 50,
) -> KbArticlePage:
    """Articles by title, optionally only those containing `q` (any case)."""
    items, total = await kb.search(Actor(user.email, ip), q=q, page=page, page_size=page_size)
    return KbArticlePage(
        items=[KbArticleRead.model_validate(a) for a in items], total=total, page=page, page_size=page_size
    )


@router.post("", response_model=KbArticleRead, status_code=201, responses=error_responses(*BODY_ERRORS, 401, 409, 503))
async def create_article(
    body: KbArticleCreate, user: CurrentStaff, kb: KnowledgeBaseServiceDep, ip: ClientIP
) -> KbArticleRead:
    """A new article; 409 `kb_title_taken` when another article has the same title (any case)."""
    return KbArticleRead.model_validate(await kb.create(Actor(user.email, ip), draft_of(body)))


@router.post("/preview", response_model=KbPreviewRead, responses=error_responses(*BODY_ERRORS, 401, 503))
async def preview(
    body: KbPreviewCreate, user: CurrentStaff, kb: KnowledgeBaseServiceDep, ip: ClientIP
) -> KbPreviewRead:
    """Which article the reply agent would answer this message with (its model, articles and rules)."""
    return preview_read(await kb.preview(Actor(user.email, ip), body.text))


@router.get("/{article_id}", response_model=KbArticleRead, responses=error_responses(401, 404, 422, 503))
async def get_article(
    article_id: ArticleIdPath, user: CurrentStaff, kb: KnowledgeBaseServiceDep, ip: ClientIP
) -> KbArticleRead:
    """One article."""
    return KbArticleRead.model_validate(await kb.get(Actor(user.email, ip), article_id))


@router.put("/{article_id}", response_model=KbArticleRead, responses=error_responses(*BODY_ERRORS, 401, 404, 409, 503))
async def update_article(
    article_id: ArticleIdPath, body: KbArticleUpdate, user: CurrentStaff, kb: KnowledgeBaseServiceDep, ip: ClientIP
) -> KbArticleRead:
    """Rewrite the article; 409 `kb_article_changed` when `version` is not the current one, `kb_title_taken`."""
    article = await kb.update(Actor(user.email, ip), article_id, draft_of(body), expected_version=body.version)
    return KbArticleRead.model_validate(article)


@router.delete("/{article_id}", status_code=204, responses=error_responses(401, 404, 422, 503))
async def delete_article(
    article_id: ArticleIdPath, user: CurrentStaff, kb: KnowledgeBaseServiceDep, ip: ClientIP
) -> Response:
    """Delete the article: the reply agent no longer answers with it."""
    await kb.delete(Actor(user.email, ip), article_id)
    return Response(status_code=204)
