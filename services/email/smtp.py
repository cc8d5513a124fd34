"""EmailPort over SMTP with aiosmtplib, over a small pool of reused connections."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

import aiosmtplib

from services.email.message import ensure_message_id, set_header, single_line, text_message, wire_bytes
from services.email.port import EmailError, EmailPort, OutgoingEmail

if TYPE_CHECKING:
    from core.config import Settings

# Headers the adapter owns; callers may supply Message-ID (e.g. to keep it stable across retries).
_MANAGED_HEADERS = frozenset({"from", "to", "subject", "date", "reply-to"})
_TRANSIENT_FLOOR, _PERMANENT_FLOOR = 400, 500
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
        """The MIME message for `message`, with a fresh Message-ID unless one is given in its headers."""
        mime = text_message(
            from_email=self.from_email,
            from_name=self.from_name,
            to=message.to,
            subject=message.subject,
            text=message.text,
            html=message.html,
            attachments=message.attachments,
        )
        if message.reply_to:
            mime["Reply-To"] = single_line(message.reply_to)
        for name, value in message.headers.items():
            if name.lower() in _MANAGED_HEADERS:
                raise ValueError(f"header {name} is set by the email adapter, not by callers")
            set_header(mime, name, value)
        ensure_message_id(mime, domain=self.domain)
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
            await connection.client.sendmail(self.from_email, [recipient], wire_bytes(mime))
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
