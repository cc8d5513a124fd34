"""RFC 2822 in and out: parse a raw message into a GmailMessage, HTML to visible text, build a threaded reply."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

from services.email.message import ensure_message_id, set_header, text_message, wire_bytes
from services.gmail.port import GmailError, GmailMessage

BOUNCE_PART_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# Headers the reply builder owns; callers may add others (Auto-Submitted, Message-ID, List-Unsubscribe, ...).
MANAGED_REPLY_HEADERS = frozenset({"from", "to", "subject", "date", "in-reply-to", "references"})

# Elements whose content is never visible text.
_INVISIBLE_TAGS = frozenset({"script", "style", "head", "title", "template", "object", "svg", "iframe"})
_VOID_TAGS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
# An open <p>/<li>/... is closed implicitly by the next one (and <p> by any block), as browsers do.
_SELF_CLOSING_SIBLINGS = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option"})
_HIDING_STYLES = (
    re.compile(r"display:none"),
    re.compile(r"visibility:(hidden|collapse)"),
    re.compile(r"mso-hide:all"),
    re.compile(r"(^|;)font-size:0*\.?0*([a-z%]+)?(;|$|!)"),
    re.compile(r"(^|;)opacity:0*\.?0*(;|$|!)"),
    re.compile(r"(^|;)max-(height|width):0*\.?0*([a-z%]+)?(;|$|!)"),
)
_ZERO_BOX = re.compile(r"(^|;)(height|width):0*\.?0*([a-z%]+)?(;|$|!)")


def _style_hides(style: str) -> bool:
    compact = re.sub(r"\s+", "", style.lower())
    if any(pattern.search(compact) for pattern in _HIDING_STYLES):
        return True
    return bool(_ZERO_BOX.search(compact)) and "overflow:hidden" in compact


class _VisibleText(HTMLParser):
    """Collects the text a reader would see; drops hidden and non-rendered elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._open: list[tuple[str, bool]] = []
        self._hidden_depth = 0

    def _newline(self) -> None:
        if self._hidden_depth == 0:
            self.chunks.append("\n")

    def _pop_through(self, tag: str) -> None:
        while self._open:
            name, hidden = self._open.pop()
            if hidden:
                self._hidden_depth -= 1
            if name == tag:
                return

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open and self._open[-1][0] == "p" and tag in _BLOCK_TAGS and tag != "br":
            self._pop_through("p")
        elif tag in _SELF_CLOSING_SIBLINGS and self._open and self._open[-1][0] == tag:
            self._pop_through(tag)
        if tag in _BLOCK_TAGS:
            self._newline()
        if tag in _VOID_TAGS:
            return
        values = {name.lower(): (value or "") for name, value in attrs}
        hidden = tag in _INVISIBLE_TAGS or "hidden" in values or _style_hides(values.get("style", ""))
        self._open.append((tag, hidden))
        if hidden:
            self._hidden_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            if tag == "br":
                self._newline()
            return
        if any(name == tag for name, _ in self._open):
            self._pop_through(tag)
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._hidden_depth == 0:
            self.chunks.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The visible text of an HTML body: tags stripped, hidden elements (display:none, ...) dropped."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.chunks).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _part_text(part: Message) -> str:
    """A text part's payload decoded with its charset (unknown charsets as UTF-8, bad bytes replaced)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _first_part(message: Message, content_type: str) -> Message | None:
    """The first part of that type that is not an attachment (the body `get_body` would pick in practice)."""
    for part in message.walk():
        disposition = str(part.get("Content-Disposition") or "").strip().lower()
        if part.get_content_type() == content_type and not disposition.startswith("attachment"):
            return part
    return None


def body_text(message: Message) -> str:
    """The text/plain body, else the visible text of the text/html body, else ""."""
    plain = _first_part(message, "text/plain")
    if plain is not None:
        return _part_text(plain).replace("\r\n", "\n").strip()
    html = _first_part(message, "text/html")
    if html is not None:
        return html_to_text(_part_text(html))
    return ""


_FOLD = re.compile(r"\r?\n[ \t]+")


def _header_text(raw: object) -> str:
    """A raw header value unfolded, its RFC 2047 encoded words decoded (no header-registry parsing: it is slow)."""
    text = _FOLD.sub(" ", str(raw)).strip()
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text))).strip()
    except (LookupError, ValueError, UnicodeError):  # a malformed header must not make the message unreadable
        return text


def top_headers(message: Message) -> dict[str, str]:
    """Top-level headers with lower-cased names; the first occurrence of a repeated header wins."""
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.lower(), _header_text(value))
    return headers


def is_bounce(message: Message) -> bool:
    """True for delivery reports: multipart/report, or any delivery-status part."""
    if message.get_content_type() == "multipart/report":
        return True
    return any(part.get_content_type() in BOUNCE_PART_TYPES for part in message.walk())


def decode_base64url(data: str) -> bytes:
    """Decode base64url with or without padding; raises ValueError when malformed."""
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("malformed base64url") from exc


def encode_base64url(data: bytes) -> str:
    """Encode bytes as base64url (with padding, as Gmail does)."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def _internal_date(internal_date_ms: str | int | None, headers: dict[str, str]) -> datetime:
    if internal_date_ms is not None:
        try:
            return datetime.fromtimestamp(int(internal_date_ms) / 1000, UTC)
        except (TypeError, ValueError, OverflowError):
            pass
    try:
        parsed = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _optional(headers: dict[str, str], name: str) -> str | None:
    value = headers.get(name, "").strip()
    return value or None


def parse_message(
    raw: bytes,
    *,
    message_id: str,
    thread_id: str,
    label_ids: tuple[str, ...] | list[str],
    internal_date_ms: str | int | None,
) -> GmailMessage:
    """Parse raw RFC 2822 bytes and Gmail's metadata into a GmailMessage."""
    # compat32: headers stay raw strings (decoded in top_headers); the modern policy parses each one, slowly.
    message = message_from_bytes(raw)
    headers = top_headers(message)
    from_name, from_address = parseaddr(headers.get("from", ""))
    return GmailMessage(
        id=message_id,
        thread_id=thread_id,
        label_ids=tuple(label_ids),
        from_address=from_address.strip().lower(),
        from_name=from_name.strip(),
        to=headers.get("to", ""),
        subject=headers.get("subject", ""),
        text=body_text(message),
        message_id_header=_optional(headers, "message-id"),
        references=_optional(headers, "references"),
        in_reply_to=_optional(headers, "in-reply-to"),
        headers=headers,
        is_bounce=is_bounce(message),
        internal_date=_internal_date(internal_date_ms, headers),
    )


def build_reply(
    *,
    from_email: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    in_reply_to: str | None,
    references: str | None,
    extra_headers: dict[str, str],
) -> Message:
    """The plain-text reply message; raises GmailError (not retryable) for unusable headers."""
    if "@" not in from_email:
        raise GmailError("the sending mailbox address is not an email address")
    if "@" not in parseaddr(to)[1]:
        raise GmailError("the reply has no recipient address")
    try:
        mime = text_message(from_email=from_email, from_name=from_name, to=to, subject=subject, text=text)
        if in_reply_to:
            set_header(mime, "In-Reply-To", in_reply_to)
        if references:
            set_header(mime, "References", references)
        for name, value in extra_headers.items():
            if name.lower() in MANAGED_REPLY_HEADERS:
                raise GmailError(f"header {name} is set by the Gmail adapter, not by callers")
            set_header(mime, name, value)
        ensure_message_id(mime, domain=from_email.rsplit("@", 1)[1])
    except ValueError as exc:  # CR/LF in a header value
        raise GmailError(f"cannot build the reply: {type(exc).__name__}") from exc
    return mime


def to_raw(mime: Message) -> str:
    """The base64url `raw` field for users.messages.send (CRLF line endings)."""
    return encode_base64url(wire_bytes(mime))
