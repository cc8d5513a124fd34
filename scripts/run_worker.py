"""`python -m scripts.run_worker`: the follow-up worker as its own process (any number may run at once)."""

from __future__ import annotations

import asyncio
import signal

import typer

from core.config import Settings
from core.logging import configure_logging
from scripts.common import open_container

app = typer.Typer(add_completion=False)


async def _run(concurrency: int, once: bool) -> None:
    settings = Settings()
    configure_logging(settings.LOG_LEVEL)
    async with open_container(settings) as container:
        service = container.outreach()
        if once:
            results = await service.run_due(limit=10**9, concurrency=concurrency)
            typer.echo(f"handled {len(results)} campaigns")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run_forever(stop, concurrency=concurrency)


@app.command()
def main(
    concurrency: int = typer.Option(4, min=1, max=64, help="campaigns processed at once"),
    once: bool = typer.Option(False, help="handle what is due now, then exit"),
) -> None:
    """Run due follow-ups until stopped (SIGINT/SIGTERM)."""
    asyncio.run(_run(concurrency, once))


if __name__ == "__main__":
    app()
