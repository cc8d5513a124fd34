"""Threaded replies by SMTP (when Gmail is not configured)."""

from __future__ import annotations

from services.email.port import EmailPort, OutgoingEmail


class SmtpReplies:
    """Replies by SMTP with the same threading headers as a Gmail reply."""

    def __init__(self, email: EmailPort):
        self.email = email

    async def send_reply(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        thread_id: str,
        in_reply_to: str | None,
        references: str | None,
        automatic: bool = True,
    ) -> str:
        """Send with In-Reply-To / References so mail clients thread it."""
        headers = {"Auto-Submitted": "auto-replied"} if automatic else {}
        if in_reply_to:
            headers["In-Reply-To"] = in_reply_to
        if references:
            headers["References"] = references
        return await self.email.send(OutgoingEmail(to=to, subject=subject, text=text, headers=headers))
