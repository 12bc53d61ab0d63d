"""Every venue REST call of the order gateway: paced by the venue's token bucket, counted by outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from order_gateway import metrics as og_metrics
from order_gateway.limits import TokenBucket
from services.wire import RejectReason
from venues.base import AuthError, RateLimited, Rejected, Unavailable, UnknownOrderState, VenueError

T = TypeVar("T")

# Requests per second and burst the gateway allows itself per venue, under each venue's
# documented limit (Backpack about 2000/min per account, Aster 2400 weight/min, Paradex
# 800 order actions/s), leaving room for the guardian's own polling on the same account.
VENUE_RATES: dict[str, tuple[float, float]] = {
    "backpack": (25.0, 40.0),
    "aster": (30.0, 40.0),
    "paradex": (100.0, 100.0),
}
DEFAULT_RATE = (10.0, 20.0)


def outcome_code(exc: BaseException | None) -> str:
    """A small fixed set of labels for a call's outcome (metric label values)."""
    if exc is None:
        return "ok"
    if isinstance(exc, RateLimited):
        return "429"
    if isinstance(exc, AuthError):
        return "401"
    if isinstance(exc, Rejected):
        return "4xx"
    if isinstance(exc, UnknownOrderState):
        return "unknown"
    if isinstance(exc, Unavailable):
        return "5xx"
    return "error"


class VenueCalls:
    """Spends one token per call, waiting for it when the budget is spent."""

    def __init__(self, venue_name: str, *, now_s: float) -> None:
        rate_per_s, burst = VENUE_RATES.get(venue_name, DEFAULT_RATE)
        self.bucket = TokenBucket(rate_per_s=rate_per_s, burst=burst, now_s=now_s)

    def budget_wait_s(self) -> float:
        """Seconds until the next call could go (0: now)."""
        return self.bucket.wait_s(now_s=time.monotonic())

    async def call(self, endpoint: str, request: Awaitable[T]) -> T:
        """Await ``request`` once the budget allows; a 429 pauses every call for its Retry-After."""
        wait_s = self.bucket.take(now_s=time.monotonic())
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        try:
            result = await request
        except VenueError as exc:
            og_metrics.REST_REQUESTS.labels(endpoint, outcome_code(exc)).inc()
            if isinstance(exc, RateLimited):
                self.bucket.drain(now_s=time.monotonic(), pause_s=max(exc.retry_after_s, 1.0))
            raise
        og_metrics.REST_REQUESTS.labels(endpoint, "ok").inc()
        return result


def venue_reason(exc: VenueError) -> RejectReason:
    """The reject reason behind a venue error."""
    if isinstance(exc, Rejected):
        return exc.reason
    if isinstance(exc, RateLimited):
        return RejectReason.RATE_LIMITED
    if isinstance(exc, AuthError):
        return RejectReason.AUTH
    if isinstance(exc, UnknownOrderState):
        return RejectReason.UNKNOWN_STATE
    if isinstance(exc, Unavailable):
        return RejectReason.UNAVAILABLE
    return RejectReason.OTHER
