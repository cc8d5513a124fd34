"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError

from api.deps import ContainerDep, SettingsDep
from core.errors import NotFound, ServiceUnavailable, Unauthorized
from core.security import constant_time_equals
from schemas.common import StatusRead, error_responses

router = APIRouter(tags=["health"])
log = logging.getLogger("medcampaign.health")
READY_TIMEOUT_SECONDS = 2.0


@router.get("/", response_model=StatusRead)
async def root() -> StatusRead:
    """Liveness."""
    return StatusRead(status="ok")


@router.get("/readyz", response_model=StatusRead, responses=error_responses(503))
async def readyz(container: ContainerDep) -> StatusRead:
    """Ready when MongoDB answers a ping."""
    try:
        await asyncio.wait_for(container.ping(), timeout=READY_TIMEOUT_SECONDS)
    except (TimeoutError, PyMongoError) as exc:
        log.warning("database not ready", extra={"error_type": type(exc).__name__})
        raise ServiceUnavailable("Database is not reachable", error="database_unavailable") from exc
    return StatusRead(status="ready")


@router.get("/metrics", include_in_schema=False)
async def metrics(settings: SettingsDep, authorization: Annotated[str, Header()] = "") -> Response:
    """Prometheus metrics: 404 when METRICS_ENABLED is off, 401 without the METRICS_TOKEN bearer when one is set."""
    if not settings.METRICS_ENABLED:
        raise NotFound("Not Found")
    if settings.METRICS_TOKEN:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not constant_time_equals(given.strip(), settings.METRICS_TOKEN):
            raise Unauthorized("A valid metrics bearer token is required", error="invalid_metrics_token")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
