"""Helpers shared by the command-line scripts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.config import Settings
from core.container import Container, build_container


@asynccontextmanager
async def open_container(settings: Settings) -> AsyncIterator[Container]:
    """Build a Container for a script and close it afterwards, whatever happens."""
    container = await build_container(settings)
    try:
        yield container
    finally:
        await container.close()
