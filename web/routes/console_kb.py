"""The console's knowledge base: the articles the reply agent answers from, and which one would answer a message."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ClientIP, KnowledgeBaseServiceDep
from core.errors import Conflict, NotFound, Unprocessable
from domain.audit import Actor
from domain.console_sessions import SignedIn
from domain.knowledge_base import (
    MAX_ANSWER,
    MAX_MESSAGE,
    MAX_TAG,
    MAX_TAGS,
    MAX_TITLE,
    ArticleChanged,
    ArticleDraft,
    KnowledgeBaseService,
    Preview,
    check_draft,
)
from models.system import KbArticle
from web.console import ConsoleForm, ConsoleUser, console_page, is_id, pager
from web.forms import SEE_OTHER, FormText, bounded, sentence

router = APIRouter(include_in_schema=False)

LIST = "/console/kb"
NEW = LIST + "/new"
PREVIEW = LIST + "/preview"
PAGE_SIZE = 25
MAX_PAGE = 10_000
MAX_Q = 100
MAX_TAGS_TEXT = MAX_TAGS * (MAX_TAG + 2)
_PAGE = re.compile(r"^[0-9]{1,5}$")
_VERSION = re.compile(r"^[0-9]{1,9}$")

DONE_NOTICES = {
    "created": "The article is saved. The reply agent answers with it from now on.",
    "saved": "Your changes are saved. The reply agent answers with them from now on.",
    "deleted": "The article is deleted. The reply agent no longer answers with it.",
}
OUTCOMES = {
    "answer": "The reply agent would answer with this article.",
    "no_article": "This reads as a question, but no article answers it: the agent would tell the patient that staff "
    "will follow up, and hand the conversation to staff.",
    "not_a_question": "This does not read as a question, so the agent would not answer from the knowledge base.",
    "unsure": "The reading is too unsure, so the agent would hand the message to staff without replying.",
    "opt_out": "The patient asks to stop emails: the agent would opt them out and not reply.",
    "reading_failed": "The message could not be read automatically: the agent would hand it to staff.",
}
SOURCES = {
    "llm": "Read by the clinic's language model, as the reply agent reads replies.",
    "offline": "Read by the built-in offline classifier (no language model is configured), as the reply agent "
    "reads replies.",
}


def actor_of(user: SignedIn, ip: str | None) -> Actor:
    """Who acts, for the audit trail: the staff member's email and address."""
    return Actor(user.user.email, ip)


def article_path(article_id: str) -> str:
    """The article's edit page."""
    return f"{LIST}/{article_id}"


def article_id_path(article_id: str) -> str:
    """The path's article id when it has an id's shape (else the 404 page, before anything is read or audited)."""
    if not is_id(article_id):
        raise NotFound("There is no knowledge-base article at this address.", error="kb_article_not_found")
    return article_id


ArticleId = Annotated[str, Depends(article_id_path)]


def updated_text(article: KbArticle, service: KnowledgeBaseService) -> str:
    """'2030-12-02 09:30 by ann@clinic.test' in clinic time."""
    at = f"{article.updated_at.astimezone(service.settings.zone):%Y-%m-%d %H:%M}"
    return f"{at} by {article.updated_by}" if article.updated_by else at


# ---- the list -------------------------------------------------------------------------------------------------


@router.get(LIST, response_class=HTMLResponse)
async def articles(
    request: Request, user: ConsoleUser, kb: KnowledgeBaseServiceDep, ip: ClientIP, done: str | None = None
) -> HTMLResponse:
    """The articles by title, searched by `q` and paged; a bad search or page is a 422 page saying what is wrong."""
    params = request.query_params
    q = bounded(params.get("q"), MAX_Q)
    raw_page = (params.get("page") or "1").strip()
    page = int(raw_page) if _PAGE.match(raw_page) else 0
    errors: dict[str, str] = {}
    if len((params.get("q") or "").strip()) > MAX_Q:
        errors["q"] = f"The search must be at most {MAX_Q} characters."
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = f"The page must be a whole number from 1 to {MAX_PAGE}."
    context: dict[str, Any] = {
        "q": q,
        "errors": errors,
        "rows": [],
        "pager": None,
        "notice": DONE_NOTICES.get(done or ""),
        "zone": kb.settings.TZ,
    }
    if errors:
        return console_page(request, "console/kb.html", user, "kb", context, status_code=422)
    items, total = await kb.search(actor_of(user, ip), q=q, page=page, page_size=PAGE_SIZE)
    context["rows"] = [
        {
            "id": a.id,
            "href": article_path(a.id),
            "title": a.title,
            "tags": ", ".join(a.tags),
            "updated": updated_text(a, kb),
        }
        for a in items
    ]
    context["pager"] = pager(request, page=page, page_size=PAGE_SIZE, total=total)
    return console_page(request, "console/kb.html", user, "kb", context)


# ---- preview (before /{article_id}, which would take its path) ---------------------------------------------------


def preview_context(preview: Preview, kb: KnowledgeBaseService) -> dict[str, Any]:
    """What the page shows of a preview."""
    chosen = preview.article
    return {
        "outcome": preview.outcome,
        "outcome_text": OUTCOMES[preview.outcome],
        "source": SOURCES[preview.source],
        "intent": preview.intent.value.replace("_", " ") if preview.intent else "not read",
        "confidence": f"{preview.confidence:.2f}",
        "min_confidence": f"{kb.min_confidence:.2f}",
        "summary": preview.summary,
        "article": {"id": chosen.id, "href": article_path(chosen.id), "title": chosen.title, "answer": chosen.answer}
        if chosen
        else None,
        "candidates": [
            {
                "id": c.article.id,
                "href": article_path(c.article.id),
                "title": c.article.title,
                "score": f"{c.score:g}",
                "chosen": chosen is not None and c.article.id == chosen.id,
            }
            for c in preview.candidates
        ],
    }


def render_preview(
    request: Request,
    user: SignedIn,
    *,
    text: str = "",
    error: str | None = None,
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The preview form, with the message and (after a POST) what the agent would do with it."""
    context = {"text": text, "error": error, "result": result, "text_max": MAX_MESSAGE}
    return console_page(request, "console/kb_preview.html", user, "kb", context, status_code=status_code)


@router.get(PREVIEW, response_class=HTMLResponse)
async def preview_page(request: Request, user: ConsoleUser) -> HTMLResponse:
    """The form to paste a patient's message into."""
    return render_preview(request, user)


@router.post(PREVIEW, response_class=HTMLResponse)
async def preview(
    request: Request, user: ConsoleForm, kb: KnowledgeBaseServiceDep, ip: ClientIP, text: FormText = ""
) -> HTMLResponse:
    """Which article the reply agent would answer the message with, on the page (the message stays out of URLs)."""
    kept = text[:MAX_MESSAGE]
    if len(text) > MAX_MESSAGE:
        error = f"The message must be at most {MAX_MESSAGE} characters."
        return render_preview(request, user, text=kept, error=error, status_code=422)
    try:
        result = await kb.preview(actor_of(user, ip), text)
    except Unprocessable as exc:
        return render_preview(request, user, text=kept, error=sentence(exc.detail), status_code=422)
    return render_preview(request, user, text=kept, result=preview_context(result, kb))


# ---- new and edit ---------------------------------------------------------------------------------------------


@dataclass
class ArticleForm:
    """The editor as typed (kept for redisplay) and what is wrong with it."""

    title: str = ""
    answer: str = ""
    tags: str = ""
    version: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def read_form(title: str, answer: str, tags: str, version: str = "") -> tuple[ArticleForm, ArticleDraft]:
    """The form's values (bounded for redisplay) and the draft they make, checked by the use case's rules."""
    # Twice the limit is kept, so a text that is too long comes back whole enough to shorten.
    form = ArticleForm(
        title=bounded(title, 2 * MAX_TITLE),
        answer=(answer or "").strip()[: 2 * MAX_ANSWER],
        tags=bounded(tags, 2 * MAX_TAGS_TEXT),
        version=bounded(version, 12),
    )
    draft, form.errors = check_draft(title or "", answer or "", (tags or "").split(","))
    return form, draft


def render_editor(
    request: Request,
    user: SignedIn,
    form: ArticleForm,
    *,
    article: KbArticle | None = None,
    updated: str = "",
    message: str | None = None,
    notice: str | None = None,
    stored: KbArticle | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The new-article form, or the edit form of `article`, with what was entered (and, after a clash, what is
    stored now)."""
    context = {
        "form": form,
        "article": article,
        "stored": stored,
        "updated": updated,
        "message": message,
        "notice": notice,
        "limits": {"title": MAX_TITLE, "answer": MAX_ANSWER, "tags": MAX_TAGS, "tag": MAX_TAG},
        "action": article_path(article.id) if article else NEW,
    }
    return console_page(request, "console/kb_edit.html", user, "kb", context, status_code=status_code)


def form_of(article: KbArticle) -> ArticleForm:
    """The editor filled with the stored article."""
    return ArticleForm(article.title, article.answer, ", ".join(article.tags), str(article.version))


def refused(exc: Unprocessable | Conflict, form: ArticleForm) -> str | None:
    """A refusal of the use case: under its field when it names one, else the message above the form."""
    if isinstance(exc, Unprocessable) and exc.field in ("title", "answer", "tags"):
        form.errors[exc.field] = sentence(exc.detail)
        return None
    return sentence(exc.detail)


@router.get(NEW, response_class=HTMLResponse)
async def new_article_page(request: Request, user: ConsoleUser) -> HTMLResponse:
    """An empty editor."""
    return render_editor(request, user, ArticleForm())


@router.post(NEW, response_class=HTMLResponse)
async def new_article(
    request: Request,
    user: ConsoleForm,
    kb: KnowledgeBaseServiceDep,
    ip: ClientIP,
    title: FormText = "",
    answer: FormText = "",
    tags: FormText = "",
) -> Response:
    """Save a new article through the API's use case, then its page (303); 422/409 show the form again."""
    form, draft = read_form(title, answer, tags)
    if form.errors:
        return render_editor(request, user, form, status_code=422)
    try:
        article = await kb.create(actor_of(user, ip), draft)
    except (Unprocessable, Conflict) as exc:
        message = refused(exc, form)
        return render_editor(request, user, form, message=message, status_code=exc.status_code)
    return RedirectResponse(f"{article_path(article.id)}?done=created", status_code=SEE_OTHER)


@router.get(LIST + "/{article_id}", response_class=HTMLResponse)
async def article_page(
    request: Request,
    article_id: ArticleId,
    user: ConsoleUser,
    kb: KnowledgeBaseServiceDep,
    ip: ClientIP,
    done: str | None = None,
) -> HTMLResponse:
    """The editor of one article; `done` names what just happened."""
    article = await kb.get(actor_of(user, ip), article_id)
    notice = DONE_NOTICES.get(done or "")
    return render_editor(
        request, user, form_of(article), article=article, updated=updated_text(article, kb), notice=notice
    )


@router.post(LIST + "/{article_id}", response_class=HTMLResponse)
async def save_article(
    request: Request,
    article_id: ArticleId,
    user: ConsoleForm,
    kb: KnowledgeBaseServiceDep,
    ip: ClientIP,
    title: FormText = "",
    answer: FormText = "",
    tags: FormText = "",
    version: FormText = "",
) -> Response:
    """Save the edit based on the version the form was opened at (303); 422/409 show the form again."""
    actor = actor_of(user, ip)
    form, draft = read_form(title, answer, tags, version)
    current = await kb.get(actor, article_id)
    if not _VERSION.match(form.version):
        form.version = str(current.version)
        missing = "The form is missing the version it was opened at; check the text below and save again."
        return render_editor(
            request, user, form, article=current, updated=updated_text(current, kb), message=missing, status_code=422
        )
    if form.errors:
        return render_editor(request, user, form, article=current, updated=updated_text(current, kb), status_code=422)
    try:
        await kb.update(actor, article_id, draft, expected_version=int(form.version))
    except (Unprocessable, Conflict) as exc:
        message = refused(exc, form)
        latest = await kb.get(actor, article_id)
        changed = isinstance(exc, ArticleChanged)
        if changed:
            # Saving again then overwrites the other change knowingly: the page shows what is stored now.
            form.version = str(latest.version)
        return render_editor(
            request,
            user,
            form,
            article=latest,
            updated=updated_text(latest, kb),
            message=message,
            stored=latest if changed else None,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"{article_path(article_id)}?done=saved", status_code=SEE_OTHER)


# ---- delete ---------------------------------------------------------------------------------------------------


@router.get(LIST + "/{article_id}/delete", response_class=HTMLResponse)
async def delete_page(
    request: Request, article_id: ArticleId, user: ConsoleUser, kb: KnowledgeBaseServiceDep, ip: ClientIP
) -> HTMLResponse:
    """Ask before deleting."""
    article = await kb.get(actor_of(user, ip), article_id)
    return console_page(request, "console/kb_delete.html", user, "kb", {"article": article})


@router.post(LIST + "/{article_id}/delete", response_class=HTMLResponse)
async def delete_article(
    article_id: ArticleId, user: ConsoleForm, kb: KnowledgeBaseServiceDep, ip: ClientIP
) -> Response:
    """Delete the article, then the list (303); an article already gone is the 404 page."""
    await kb.delete(actor_of(user, ip), article_id)
    return RedirectResponse(f"{LIST}?done=deleted", status_code=SEE_OTHER)
