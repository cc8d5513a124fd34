"""Where the outbox adapters keep messages (the container wires the outbox repository in)."""

from __future__ import annotations

from typing import Protocol

from models.outbox import OutboxMessage


class OutboxStore(Protocol):
    """Keeps messages that were not sent."""

    async def add(self, message: OutboxMessage) -> None:
        """Keep one message."""
        ...
