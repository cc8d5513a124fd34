"""In-memory EmailPort for unit tests of domain code: records what was sent, fails on request."""

from __future__ import annotations

from email.utils import make_msgid

from services.email.port import EmailError, EmailPort, OutgoingEmail


class FakeEmail(EmailPort):
    """EmailPort that keeps sent messages and their Message-IDs in lists."""

    def __init__(self, *, domain: str = "clinic.test") -> None:
        self.domain = domain
        self.sent: list[OutgoingEmail] = []
        self.message_ids: list[str] = []
        self._failures: list[EmailError] = []

    def fail_next(self, count: int = 1, error: EmailError | None = None) -> None:
        """Make the next `count` sends raise `error` (a retryable EmailError by default)."""
        failure = error or EmailError("fake transient failure", retryable=True)
        self._failures.extend([failure] * count)

    async def send(self, message: OutgoingEmail) -> str:
        """Record the message; returns its Message-ID (a given Message-ID header is kept)."""
        if self._failures:
            raise self._failures.pop(0)
        given = next((v for k, v in message.headers.items() if k.lower() == "message-id"), None)
        message_id = given or make_msgid(domain=self.domain)
        self.sent.append(message)
        self.message_ids.append(message_id)
        return message_id

    async def aclose(self) -> None:
        """Nothing to release."""
