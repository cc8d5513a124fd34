"""Fixed-window abuse limits (bookings, reschedules, confirmation emails, logins), counted in rate_limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db.repositories.rate_limits import RateLimitRepository

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(now: datetime, per: timedelta) -> datetime:
    """The start of the fixed window of length `per` (aligned to the epoch, so UTC hours, days, minutes)."""
    return _EPOCH + (now - _EPOCH) // per * per


async def over_limit(rate_limits: RateLimitRepository, key: str, *, limit: int, per: timedelta, now: datetime) -> bool:
    """Count one use of `key` in the current window; True when that exceeds `limit` (0 = no limit)."""
    if not limit:
        return False
    window = window_start(now, per)
    return await rate_limits.hit(key, window_start=window, expires_at=window + 2 * per) > limit
