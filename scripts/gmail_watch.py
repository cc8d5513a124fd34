"""`python -m scripts.gmail_watch`: start the Gmail watch once, or run the watch/poll/sweep loop as its own process."""

from __future__ import annotations

import asyncio
import signal

import typer

from core.config import Settings
from core.logging import configure_logging
from domain.inbox import gmail_maintenance
from scripts.common import open_container

app = typer.Typer(add_completion=False)


async def _run(loop_forever: bool) -> None:
    settings = Settings()
    configure_logging(settings.LOG_LEVEL)
    async with open_container(settings) as container:
        service = container.inbox()
        if not loop_forever:
            history_id, expiration = await service.start_watch()
            typer.echo(f"watch started: history_id={history_id} expires={expiration.isoformat()}")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await gmail_maintenance(service, stop)


@app.command()
def main(loop: bool = typer.Option(False, help="keep renewing, polling and sweeping until stopped")) -> None:
    """Start (or refresh) the Gmail watch."""
    asyncio.run(_run(loop))


if __name__ == "__main__":
    app()
