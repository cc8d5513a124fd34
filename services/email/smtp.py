"""EmailPort over SMTP with aiosmtplib, over a small pool of reused connections."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from dataclasses import dataclass
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid
from typing import TYPE_CHECKING

import aiosmtplib

from services.email.port import EmailError, EmailPort, OutgoingEmail

if TYPE_CHECKING:
    from core.config import Settings

# Headers the adapter owns; callers may supply Message-ID (e.g. to keep it stable across retries).
_MANAGED_HEADERS = frozenset({"from", "to", "subject", "date", "reply-to"})
_TRANSIENT_FLOOR, _PERMANENT_FLOOR = 400, 500
_QUOTED_PRINTABLE = Charset("utf-8")
_QUOTED_PRINTABLE.body_encoding = QP
# Headers stay on one line (RFC 5322 allows 998 characters): compat32 would fold a long List-Unsubscribe URL
# right after the colon, and some parsers then keep the fold's leading space.
_POLICY = compat32.clone(max_line_length=998)
_WIRE = _POLICY.clone(linesep="\r\n")
# Relays drop idle connections and cap messages per connection; stay well inside common limits.
MAX_IDLE_SECONDS = 30.0
MAX_MESSAGES_PER_CONNECTION = 100
_STALE = (aiosmtplib.SMTPServerDisconnected, ConnectionError)


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    last_used: float
    sent: int = 0


def _is_transient(code: int) -> bool:
    return _TRANSIENT_FLOOR <= code < _PERMANENT_FLOOR


def _single_line(value: str) -> str:
    """The value, refused when it has a line break (header injection)."""
    if "\r" in value or "\n" in value:
        raise ValueError("header values may not contain line breaks")
    return value


def _header_value(value: str) -> str:
    """A single-line header value; non-ASCII text encoded per RFC 2047."""
    value = _single_line(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


def _wire_bytes(mime: Message) -> bytes:
    """The message as sent: CRLF line ends, headers unfolded up to 998 characters."""
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=_WIRE).flatten(mime)
        return buffer.getvalue()


def _part(body: str, subtype: str) -> MIMEText:
    """A text part: 7bit when plain ASCII, else quoted-printable UTF-8 (readable in any mail source view)."""
    if body.isascii():
        return MIMEText(body, subtype, "us-ascii", policy=_POLICY)
    return MIMEText(body, subtype, _QUOTED_PRINTABLE, policy=_POLICY)  # type: ignore[arg-type]


class SmtpEmail(EmailPort):
    """Sends through an SMTP relay (STARTTLS and login as configured)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        from_email: str,
        from_name: str,
        starttls: bool,
        timeout: float,
        pool_size: int = 4,
    ) -> None:
        if not host:
            raise ValueError("SMTP_HOST is required to send email")
        if "@" not in from_email:
            raise ValueError(f"SMTP_FROM_EMAIL must be an email address, got {from_email!r}")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.from_email = from_email
        self.from_name = from_name
        self.starttls = starttls
        self.timeout = timeout
        self.domain = from_email.rsplit("@", 1)[1]
        self.pool_size = pool_size
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._local_hostname: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpEmail:
        """Build from the SMTP_* settings."""
        return cls(
            host=settings.SMTP_HOST,
            port=settings.SMTP_PORT,
            username=settings.SMTP_USERNAME,
            password=settings.SMTP_PASSWORD,
            from_email=settings.SMTP_FROM_EMAIL,
            from_name=settings.SMTP_FROM_NAME,
            starttls=settings.SMTP_STARTTLS,
            timeout=settings.SMTP_TIMEOUT_SECONDS,
            pool_size=settings.SMTP_POOL_SIZE,
        )

    def build(self, message: OutgoingEmail) -> Message:
        """The MIME message for `message`, with a fresh Message-ID unless one is given in its headers.

        Built with the compat32 classes: about five times cheaper than EmailMessage's header parsing, which
        was a third of a worker's CPU. Header values are checked for line breaks (no header injection) and
        non-ASCII text is RFC 2047-encoded.
        """
        text = _part(message.text, "plain")
        if message.html is None:
            mime: Message = text
        else:
            mime = MIMEMultipart("alternative", policy=_POLICY)
            mime.attach(text)
            mime.attach(_part(message.html, "html"))
        mime["From"] = formataddr((self.from_name, self.from_email), charset="utf-8")
        mime["To"] = _single_line(message.to)  # an address: never an encoded word
        mime["Subject"] = _header_value(message.subject)
        mime["Date"] = formatdate(usegmt=True)
        if message.reply_to:
            mime["Reply-To"] = _single_line(message.reply_to)
        for name, value in message.headers.items():
            if name.lower() in _MANAGED_HEADERS:
                raise ValueError(f"header {name} is set by the email adapter, not by callers")
            mime[name] = _header_value(value)
        if "Message-ID" not in mime:
            mime["Message-ID"] = make_msgid(domain=self.domain)
        return mime

    async def send(self, message: OutgoingEmail) -> str:
        """Send `message`; returns its Message-ID."""
        mime = self.build(message)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.pool_size)
        async with self._slots:
            try:
                await self._send_pooled(mime, message.to)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                codes = [refusal.code for refusal in exc.recipients]
                retryable = any(_is_transient(code) for code in codes)
                raise EmailError(
                    f"SMTP refused the recipient ({', '.join(map(str, codes))})",
                    retryable=retryable,
                    code=codes[0] if codes else None,
                ) from exc
            except aiosmtplib.SMTPResponseException as exc:
                raise EmailError(
                    f"SMTP answered {exc.code}: {exc.message}", retryable=_is_transient(exc.code), code=exc.code
                ) from exc
            except (
                aiosmtplib.SMTPServerDisconnected,
                aiosmtplib.SMTPConnectError,
                aiosmtplib.SMTPTimeoutError,
            ) as exc:
                raise EmailError(f"SMTP server unreachable: {exc}", retryable=True) from exc
            except aiosmtplib.SMTPException as exc:
                raise EmailError(f"SMTP failed: {exc}") from exc
            except OSError as exc:
                raise EmailError(f"SMTP connection failed: {exc}", retryable=True) from exc
        return str(mime["Message-ID"])

    async def _send_pooled(self, mime: Message, recipient: str) -> None:
        """Send on an idle connection (once more on a fresh one if the relay had dropped it), or a new one."""
        connection = self._take_idle()
        if connection is not None:
            try:
                await self._send_on(connection, mime, recipient)
                return
            except _STALE:
                pass  # closed by the relay while idle: nothing was accepted, use a fresh connection
        await self._send_on(await self._connect(), mime, recipient)

    async def _send_on(self, connection: _Connection, mime: Message, recipient: str) -> None:
        try:
            await connection.client.sendmail(self.from_email, [recipient], _wire_bytes(mime))
        except BaseException:
            connection.client.close()
            raise
        connection.sent += 1
        connection.last_used = time.monotonic()
        if connection.sent < MAX_MESSAGES_PER_CONNECTION:
            self._idle.append(connection)
        else:
            await self._quit(connection)

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.client.is_connected and now - connection.last_used < MAX_IDLE_SECONDS:
                return connection
            connection.client.close()
        return None

    async def _connect(self) -> _Connection:
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password if self.username else None,
            start_tls=self.starttls,
            timeout=self.timeout,
            local_hostname=self._local_hostname,
        )
        await client.connect()
        return _Connection(client, time.monotonic())

    @staticmethod
    async def _quit(connection: _Connection) -> None:
        try:
            await connection.client.quit()
        except (aiosmtplib.SMTPException, OSError):
            connection.client.close()

    async def aclose(self) -> None:
        """Say goodbye on every idle connection."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(c) for c in idle))
