"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from db.embedded import free_port


@dataclass
class ReceivedEmail:
    """One accepted message with its envelope."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]
    login: str | None = None
    peer: Any = None  # the client's (host, port): one per connection


@dataclass
class _Handler:
    received: list[ReceivedEmail] = field(default_factory=list)
    rejections: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            rejection = self.rejections.get(address.lower())
        if rejection:
            return rejection
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        # SMTP carries CRLF line ends; store the message as a local mailbox would, with "\n".
        parsed = BytesParser(policy=policy.default).parsebytes(data.replace(b"\r\n", b"\n"))
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with self.lock:
            self.received.append(
                ReceivedEmail(
                    message=parsed,
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    login=login,
                    peer=session.peer,
                )
            )
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd in its own thread on 127.0.0.1; `credentials` turns on AUTH (plain text, loopback only)."""

    def __init__(self, *, credentials: tuple[str, str] | None = None, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.credentials = credentials
        self._handler = _Handler()
        kwargs: dict[str, Any] = {}
        if credentials:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = Controller(self._handler, hostname=self.host, port=self.port, **kwargs)
        self._running = False

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        user, password = self.credentials
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def start(self) -> None:
        """Start serving."""
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        """Stop serving (safe to call twice)."""
        if self._running:
            self._controller.stop()
            self._running = False

    def reject(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        """Answer RCPT TO for `address` with `reply` (e.g. '451 4.3.0 Try again later')."""
        with self._handler.lock:
            self._handler.rejections[address.lower()] = reply

    def accept(self, address: str) -> None:
        """Accept `address` again after `reject`."""
        with self._handler.lock:
            self._handler.rejections.pop(address.lower(), None)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived (the timeout only bounds a failing test)."""
        with self._handler.arrived:
            if not self._handler.arrived.wait_for(lambda: len(self._handler.received) >= count, timeout):
                raise TimeoutError(f"{len(self._handler.received)} of {count} messages arrived")
        return self.messages

    async def arrival(self, count: int) -> list[EmailMessage]:
        """`wait_for` without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for, count)

    @property
    def received(self) -> list[ReceivedEmail]:
        """Everything accepted so far, oldest first."""
        with self._handler.lock:
            return list(self._handler.received)

    @property
    def messages(self) -> list[EmailMessage]:
        """The accepted messages, parsed with email.policy.default."""
        return [item.message for item in self.received]
