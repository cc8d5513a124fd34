"""Threaded replies through Gmail."""

from __future__ import annotations

from services.gmail.port import GmailPort


class GmailReplies:
    """Replies through Gmail, in the thread."""

    def __init__(self, gmail: GmailPort):
        self.gmail = gmail

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
        """users.messages.send with threadId and threading headers."""
        return await self.gmail.send_reply(
            thread_id=thread_id,
            to=to,
            subject=subject,
            text=text,
            in_reply_to=in_reply_to,
            references=references,
            extra_headers={"Auto-Submitted": "auto-replied"} if automatic else {},
        )
