"""MedCampaign application factory: `uvicorn main:create_app --factory`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.errors import install_error_handlers
from api.v1.endpoints import (
    admin,
    admin_kb,
    admin_patients,
    admin_users,
    agent,
    appointments,
    auth,
    booking,
    gmail,
    health,
    webhooks,
)
from core.clock import Clock
from core.config import Settings
from core.container import build_container
from core.logging import configure_logging
from core.middleware import BodyLimitMiddleware, RequestContextMiddleware
from core.security import prepare_login_timing
from domain.inbox import gmail_maintenance
from web.errors import too_large_answer
from web.mount import install_web
from web.routes import console_patients

log = logging.getLogger("medcampaign")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build the FastAPI app; nothing connects until the lifespan starts."""
    settings = settings or Settings()
    configure_logging(settings.LOG_LEVEL)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build_container(settings, clock=clock)
        prepare_login_timing()
        app.state.container = container
        stop = asyncio.Event()
        loops = []
        if settings.WORKER_ENABLED:
            loops.append(asyncio.create_task(container.outreach().run_forever(stop), name="outreach-worker"))
        if container.gmail is not None and settings.GMAIL_MAINTENANCE_ENABLED:
            loops.append(asyncio.create_task(gmail_maintenance(container.inbox(), stop), name="gmail"))
        log.info(
            "started",
            extra={
                "environment": settings.ENVIRONMENT,
                "database": settings.MONGO_DB_NAME,
                "worker": settings.WORKER_ENABLED,
            },
        )
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
            await container.close()
            log.info("stopped")

    app = FastAPI(
        title="MedCampaign",
        version="0.1.0",
        description="Recovery and recall campaigns, reply agent, booking and dashboard for clinics.",
        lifespan=lifespan,
        # Off in production unless DOCS_ENABLED: the schema maps every route for an attacker.
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(booking.router)
    app.include_router(appointments.router)
    app.include_router(admin.router)
    app.include_router(admin_kb.router)
    app.include_router(admin_patients.router)
    app.include_router(admin_users.router)
    app.include_router(webhooks.router)
    app.include_router(agent.router)
    app.include_router(gmail.router)
    install_web(app)
    # Innermost of the three, so a 413 still carries CORS and security headers.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.MAX_BODY_BYTES,
        per_path={**webhooks.BODY_LIMITS, **admin_patients.BODY_LIMITS, **console_patients.BODY_LIMITS},
        answer=too_large_answer(settings),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.ALLOWED_ORIGINS,
        allow_credentials=settings.cors_credentials,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
    )
    app.add_middleware(RequestContextMiddleware, hsts=settings.is_production)
    return app
