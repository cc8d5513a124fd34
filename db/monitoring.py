"""Driver command monitoring: count what the application sends to MongoDB (tests and benchmarks)."""

from __future__ import annotations

from pymongo import monitoring

# Connection upkeep the driver sends on its own; not part of what a use case costs.
HANDSHAKE = frozenset(
    {"hello", "ismaster", "ping", "endsessions", "saslstart", "saslcontinue", "buildinfo", "getlasterror", "getnonce"}
)


class CommandCounter(monitoring.CommandListener):
    """Names of the commands started, handshakes left out (pass as `event_listeners=[counter]`)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Record one command."""
        if event.command_name.lower() not in HANDSHAKE:
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to do."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to do."""
