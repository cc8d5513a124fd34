"""Checks on LLM output beyond its schema: plain text, only the booking link, KB ids from the given list."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from pydantic import ValidationError

from models.enums import Channel
from services.llm.port import LLMError
from services.llm.schemas import (
    BODY_MAX,
    SHORT_TEXT_MAX,
    SUBJECT_MAX,
    OutreachMessage,
    OutreachRequest,
    ReplyUnderstanding,
    SuggestedReply,
)

# Any scheme (http, https, ftp, ...), a www. host, or a bare domain with a common TLD (not an email address's);
# scanning left to right consumes "https://www.x.com/y" as one URL.
_URL = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[^\s<>\"'`]+"
    r"|(?<![@\w.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|biz|io|co|me|app|xyz|ly|link|click|online|site"
    r"|top|ru|cn|de|uk|us|ca|eu)\b(?:/[^\s<>\"'`]*)?",
    re.IGNORECASE,
)
_URL_TRAILING = ".,;:!?)]}"
_HTML_TAG = re.compile(r"</?\s*[a-z][a-z0-9-]*(?:\s[^<>]*)?/?>|&(?:[a-z]+|#\d+);", re.IGNORECASE)
_MARKDOWN_LINK = re.compile(r"\[[^\]\n]*\]\([^)\n]*\)")
_PLACEHOLDER = re.compile(
    r"\{\{?\s*[a-z_]+\s*\}?\}|\[(?:your |patient |first |clinic )?(?:name|first name|clinic|link|phone|date)[^\]]*\]",
    re.IGNORECASE,
)


def find_urls(text: str) -> list[str]:
    """Every URL-like string in `text` (http(s)://, other schemes, www.), trailing punctuation removed."""
    return [match.group(0).rstrip(_URL_TRAILING) for match in _URL.finditer(text)]


_LINK_SENTINEL = " \x00booking-link\x00 "


def _same_link(url: str, booking_link: str) -> bool:
    return url == booking_link or url.rstrip("/") == booking_link.rstrip("/")


def _model_text(text: str, req: OutreachRequest) -> str:
    """`text` with the booking link replaced by a sentinel and the request's own values blanked out."""
    text = text.replace(req.booking_link, _LINK_SENTINEL)
    # The request's own values are ours, not the model's: a clinic called "Smile.com" is not a foreign link.
    for value in sorted({req.first_name, req.clinic_name, req.clinic_phone}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", text)
    return text


def _foreign_urls(text: str, req: OutreachRequest) -> list[str]:
    return [url for url in find_urls(_model_text(text, req)) if not _same_link(url, req.booking_link)]


def _has_link(text: str, req: OutreachRequest) -> bool:
    scanned = _model_text(text, req)
    return _LINK_SENTINEL in scanned or any(_same_link(url, req.booking_link) for url in find_urls(scanned))


def _check_plain(name: str, text: str, limit: int, req: OutreachRequest) -> None:
    if not text.strip():
        raise LLMError(f"{name} is empty")
    if len(text) > limit:
        raise LLMError(f"{name} is longer than {limit} characters ({len(text)})")
    scanned = _model_text(text, req)
    if _HTML_TAG.search(scanned):
        raise LLMError(f"{name} contains HTML")
    if _MARKDOWN_LINK.search(scanned):
        raise LLMError(f"{name} contains a markdown link")
    if _PLACEHOLDER.search(scanned):
        raise LLMError(f"{name} contains an unfilled placeholder")
    if _foreign_urls(text, req):
        raise LLMError(f"{name} contains a link other than the booking link")


def validate_outreach(msg: OutreachMessage, req: OutreachRequest) -> OutreachMessage:
    """Return `msg` when it is safe to send for `req`, else raise LLMError."""
    _check_plain("subject", msg.subject, SUBJECT_MAX, req)
    if "\n" in msg.subject or "\r" in msg.subject:
        raise LLMError("subject spans several lines")
    if _has_link(msg.subject, req):
        raise LLMError("subject contains a link")
    _check_plain("body", msg.body, BODY_MAX, req)
    if not _has_link(msg.body, req):
        raise LLMError("body does not contain the booking link")
    _check_plain("short_text", msg.short_text, SHORT_TEXT_MAX, req)
    if req.channel == Channel.CALL and _has_link(msg.short_text, req):
        raise LLMError("short_text is read aloud on a call and must not contain a link")
    if req.channel == Channel.SMS and not _has_link(msg.short_text, req):
        raise LLMError("short_text for SMS does not contain the booking link")
    return msg


def validate_understanding(u: ReplyUnderstanding, kb_ids: Iterable[str]) -> ReplyUnderstanding:
    """Return `u` re-checked against its schema and the offered KB ids; a KB id outside them raises LLMError."""
    try:
        checked = ReplyUnderstanding.model_validate(u.model_dump())
    except ValidationError as exc:
        raise LLMError(f"reply understanding is invalid ({exc.error_count()} error(s))") from None
    if not math.isfinite(checked.confidence):
        raise LLMError("confidence is not a finite number")
    if checked.kb_article_id is not None and checked.kb_article_id not in set(kb_ids):
        raise LLMError("kb_article_id is not one of the offered knowledge-base articles")
    if checked.intent != "question" and checked.kb_article_id is not None:
        # Only a question is answered from the knowledge base; the id is meaningless for other intents.
        checked = checked.model_copy(update={"kb_article_id": None})
    return checked


def validate_suggestion(reply: SuggestedReply) -> SuggestedReply:
    """Return `reply` when it is plain text without any link (we add the booking link), else raise LLMError."""
    body = reply.body
    if _HTML_TAG.search(body):
        raise LLMError("body contains HTML")
    if _MARKDOWN_LINK.search(body):
        raise LLMError("body contains a markdown link")
    if _PLACEHOLDER.search(body):
        raise LLMError("body contains an unfilled placeholder")
    if find_urls(body):
        raise LLMError("body contains a link")
    return reply
