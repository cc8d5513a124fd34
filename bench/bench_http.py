"""Requests per second of `GET /` and of the authenticated `GET /api/v1/auth/me` (one uvicorn worker)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

from bench.common import api_login, app_server, embedded_database, generate_load, print_table
from core.security import hash_password

CONCURRENCY = 16
DURATION_SECONDS = 5.0
DB_NAME = "bench_http"
EMAIL = "bench-admin@bench.test"
PASSWORD = "bench-admin-password"  # noqa: S105 - a throwaway account in a throwaway database


def _create_admin(mongo_uri: str) -> None:
    """Insert the staff account directly (bench-only shortcut past the app's own scripts)."""
    now = datetime.now(UTC)
    user: dict[str, Any] = {
        "_id": ObjectId(),
        "email": EMAIL,
        "password_hash": hash_password(PASSWORD),
        "role": "admin",
        "is_active": True,
        "created_at": now,
        "updated_at": now,
    }
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    with client:
        client[DB_NAME]["users"].insert_one(user)


def main() -> None:
    """Run both endpoints and print the table."""
    with embedded_database() as mongo_uri:
        _create_admin(mongo_uri)
        with app_server(mongo_uri, DB_NAME) as app:
            auth = api_login(app.url, EMAIL, PASSWORD)
            cases = [("GET /", {}), ("GET /api/v1/auth/me", auth)]
            print(f"{CONCURRENCY} concurrent clients, {DURATION_SECONDS:.0f} s per endpoint, one uvicorn worker")
            rows = []
            for name, headers in cases:
                path = name.split(" ", 1)[1]
                result = generate_load(
                    app.url + path, concurrency=CONCURRENCY, duration=DURATION_SECONDS, headers=headers
                )
                rows.append(
                    [
                        name,
                        f"{result.requests_per_second:.0f}",
                        f"{result.percentile_ms(0.50):.1f}",
                        f"{result.percentile_ms(0.99):.1f}",
                        result.errors,
                    ]
                )
    print_table(["endpoint", "req/s", "p50 ms", "p99 ms", "errors"], rows)
