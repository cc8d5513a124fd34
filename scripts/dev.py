"""`make run`: the app on an embedded database with demo data (`python -m scripts.dev`).

Without MONGO_URI (and outside production) an embedded SecantusDB is started with its data under ./var/, so
the data survives restarts; an empty database is seeded with the demo dataset. The demo admin (a published
password) is created only on that embedded database, never on one MONGO_URI points at. The follow-up worker runs
inside the server (WORKER_ENABLED=true unless set otherwise), so campaigns go out and stop with it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

import typer
import uvicorn
from pydantic_settings import BaseSettings

from core.config import DEFAULT_JWT_SECRET, Settings
from db.embedded import EmbeddedMongo
from scripts.common import open_container
from scripts.seed_demo import (
    DEMO_ADMIN_EMAIL,
    demo_admin_allowed,
    demo_admin_password,
    ensure_demo_admin,
    is_empty,
    seed,
)

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"

app = typer.Typer(add_completion=False, help=__doc__)


class _Configured(BaseSettings):
    """What the operator set, read as Settings reads it, without its guards (which refuse the default secret)."""

    model_config = Settings.model_config
    ENVIRONMENT: str = "development"
    JWT_SECRET_KEY: str = DEFAULT_JWT_SECRET
    WORKER_ENABLED: bool | None = None  # None: not set in the environment or .env


async def prepare(settings: Settings, *, embedded_uri: str | None) -> bool:
    """Seed an empty development database; the demo admin only on the embedded one. True when it can log in."""
    async with open_container(settings) as container:
        if not settings.is_production and await is_empty(container):
            typer.echo("Empty database: loading the demo dataset...")
            await seed(container, progress=True)
        if not demo_admin_allowed(settings, embedded_uri=embedded_uri):
            return False
        await ensure_demo_admin(container)
        return True


def ensure_dev_secret() -> None:
    """Outside production, replace an unset or placeholder JWT secret with a random one kept under ./var."""
    configured = _Configured()
    if configured.ENVIRONMENT == "production" or configured.JWT_SECRET_KEY not in ("", DEFAULT_JWT_SECRET):
        return
    path = VAR / "jwt-secret"
    if not path.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    os.environ["JWT_SECRET_KEY"] = path.read_text().strip()


def enable_worker() -> bool:
    """Run the follow-up worker inside the dev server unless WORKER_ENABLED is set; True when it will run."""
    configured = _Configured().WORKER_ENABLED
    if configured is None:
        os.environ["WORKER_ENABLED"] = "true"
    return configured is not False


def start_embedded() -> EmbeddedMongo:
    """Start the embedded database under ./var and point MONGO_URI at it."""
    server = EmbeddedMongo(storage_path=VAR / "db", log_path=VAR / "secantusdb.log")
    typer.echo(f"Starting the embedded database (data in {VAR / 'db'})...")
    os.environ["MONGO_URI"] = server.start()
    return server


@app.command()
def main() -> None:
    """Serve the app for development, with an embedded database and demo data when needed."""
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    # SIGTERM (e.g. from a process manager) must still reach the `finally` that stops the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_dev_secret()
    worker = enable_worker()
    settings = Settings()
    server: EmbeddedMongo | None = None
    try:
        if not settings.MONGO_URI and not settings.is_production:
            server = start_embedded()
            settings = Settings()  # picks up the embedded MONGO_URI
        demo_admin = asyncio.run(prepare(settings, embedded_uri=server.uri if server else None))
        base = f"http://{host}:{port}"
        typer.echo(f"MedCampaign: {base}")
        if settings.docs_enabled:
            typer.echo(f"API docs:    {base}/docs")
        # The worker lives in the server's lifespan, so it stops when the server does (Ctrl+C).
        typer.echo("Follow-ups:  sent by the worker in this process" if worker else "Follow-ups:  WORKER_ENABLED=false")
        if demo_admin:
            typer.echo(f"Demo login:  {DEMO_ADMIN_EMAIL} / {demo_admin_password()}")
        else:
            typer.echo("No demo login on this database (MONGO_URI): create one with python -m scripts.create_admin")
        uvicorn.run("main:create_app", factory=True, host=host, port=port, log_config=None, app_dir=str(ROOT))
    finally:
        if server is not None:
            typer.echo("Stopping the embedded database...")
            server.stop()


if __name__ == "__main__":
    app()
