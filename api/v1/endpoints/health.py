"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError

from api.deps import ContainerDep
from core.errors import ServiceUnavailable
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
async def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
