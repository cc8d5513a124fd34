"""RFC 2822 in and out: parse a raw message into a GmailMessage, HTML to visible text, build a threaded reply."""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

from services.email.message import ensure_message_id, set_header, text_message, wire_bytes
from services.gmail.port import GmailError, GmailMessage

# Untrusted input is bounded before it is parsed (ARCHITECTURE §6 rule 14): the raw message, each header, the
# HTML handed to the parser, and the body text handed to the reply agent.
RAW_MAX_BYTES = 2_000_000
HEADER_MAX_CHARS = 8_000
FROM_MAX_CHARS = 1_000
HTML_MAX_CHARS = 100_000
TEXT_MAX_CHARS = 20_000
_UTF8_MAX_BYTES_PER_CHAR = 4

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
    re.compile(r"(^|;)font-size:0*(\.0*)?([a-z%]+)?(;|$|!)"),
    re.compile(r"(^|;)opacity:0*(\.0*)?(;|$|!)"),
    re.compile(r"(^|;)max-(height|width):0*(\.0*)?([a-z%]+)?(;|$|!)"),
)
_ZERO_BOX = re.compile(r"(^|;)(height|width):0*(\.0*)?([a-z%]+)?(;|$|!)")


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
        self._open_count: Counter[str] = Counter()  # so an end tag never scans the whole stack
        self._hidden_depth = 0

    def _newline(self) -> None:
        if self._hidden_depth == 0:
            self.chunks.append("\n")

    def _pop_through(self, tag: str) -> None:
        while self._open:
            name, hidden = self._open.pop()
            self._open_count[name] -= 1
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
        self._open_count[tag] += 1
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
        if self._open_count[tag] > 0:
            self._pop_through(tag)
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._hidden_depth == 0:
            self.chunks.append(re.sub(r"\s+", " ", data))


def _defuse_markup(html: str) -> str:
    """`html` with every '<' that opens no complete construct escaped, and an unclosed comment cut off.

    The standard library's HTMLParser rescans to the end of the input for each unterminated construct
    ("<a<a<a...", "<a/<a/...", "<!--<!--..."), which is quadratic; after this pass every '<' it sees is closed.
    Positions of the next '<' and '>' are cached, so the pass itself is linear.
    """
    out: list[str] = []
    start = 0
    next_lt = html.find("<")
    next_gt = html.find(">")
    while next_lt != -1:
        if html.startswith("<!--", next_lt):
            close = html.find("-->", next_lt + 4)
            if close == -1:
                out.append(html[start:next_lt])  # an unclosed comment hides the rest, as in a browser
                return "".join(out)
            end = close + 3
        else:
            if next_gt != -1 and next_gt <= next_lt:
                next_gt = html.find(">", next_lt + 1)
            following_lt = html.find("<", next_lt + 1)
            if next_gt == -1 or (following_lt != -1 and following_lt < next_gt):
                out.append(html[start:next_lt] + "&lt;")
                start = next_lt + 1
                next_lt = following_lt
                continue
            end = next_gt + 1
        out.append(html[start:end])
        start = end
        next_lt = html.find("<", end)
    out.append(html[start:])
    return "".join(out)


def html_to_text(html: str) -> str:
    """The visible text of an HTML body: tags stripped, hidden elements (display:none, ...) dropped."""
    parser = _VisibleText()
    parser.feed(_defuse_markup(html))
    parser.close()
    lines = [line.strip() for line in "".join(parser.chunks).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _part_text(part: Message, *, limit: int) -> str:
    """The first `limit` characters of a text part, decoded with its charset (unknown ones as UTF-8, bad bytes
    replaced)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    payload = payload[: limit * _UTF8_MAX_BYTES_PER_CHAR]
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")[:limit]
    except LookupError:
        return payload.decode("utf-8", errors="replace")[:limit]


def _first_part(message: Message, content_type: str) -> Message | None:
    """The first part of that type that is not an attachment (the body `get_body` would pick in practice)."""
    for part in message.walk():
        disposition = str(part.get("Content-Disposition") or "").strip().lower()
        if part.get_content_type() == content_type and not disposition.startswith("attachment"):
            return part
    return None


def body_text(message: Message) -> str:
    """The text/plain body, else the visible text of the text/html body, else "" (at most TEXT_MAX_CHARS)."""
    plain = _first_part(message, "text/plain")
    if plain is not None:
        return _part_text(plain, limit=TEXT_MAX_CHARS).replace("\r\n", "\n").strip()
    html = _first_part(message, "text/html")
    if html is not None:
        return html_to_text(_part_text(html, limit=HTML_MAX_CHARS))[:TEXT_MAX_CHARS]
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
    """Top-level headers with lower-cased names, each cut to HEADER_MAX_CHARS; the first (topmost) occurrence of a
    repeated header wins."""
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        key = name.lower()
        if key not in headers:
            headers[key] = _header_text(str(value)[:HEADER_MAX_CHARS])
    return headers


def _sender(value: str) -> tuple[str, str]:
    """(display name, lower-cased address) of a From header; ("", "") when it cannot be read."""
    try:
        name, address = parseaddr(value[:FROM_MAX_CHARS])
    except RecursionError:  # the standard parser recurses per nested comment or group: a hostile From header
        return "", ""
    return name.strip(), address.strip().lower()


def _bounded_raw(raw: bytes) -> bytes:
    """At most RAW_MAX_BYTES of the message, cut at a line end (the body comes first; attachments are not read)."""
    if len(raw) <= RAW_MAX_BYTES:
        return raw
    cut = raw.rfind(b"\n", 0, RAW_MAX_BYTES)
    return raw[: cut + 1 if cut > 0 else RAW_MAX_BYTES]


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
    message = message_from_bytes(_bounded_raw(raw))
    headers = top_headers(message)
    from_name, from_address = _sender(headers.get("from", ""))
    return GmailMessage(
        id=message_id,
        thread_id=thread_id,
        label_ids=tuple(label_ids),
        from_address=from_address,
        from_name=from_name,
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
