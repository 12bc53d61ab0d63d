"""The venue's clock as an offset from ours, for signed requests whose timestamps the venue checks.

The offset is measured at the midpoint of a server-time round trip, and
measured again once it is older than ``sync_interval_s`` (``keep``).  A failed
re-measure keeps the last offset and waits a full interval: signing goes on,
and a request the venue calls expired forces a ``sync``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from venues.base import RateLimited, Unavailable

log = logging.getLogger(__name__)


class VenueClock:
    """One venue's clock offset; ``server_time_ms`` fetches the venue's time."""

    def __init__(
        self, venue: str, server_time_ms: Callable[[], Awaitable[int]], *, sync_interval_s: float = 300.0
    ) -> None:
        self.venue = venue
        self.sync_interval_s = sync_interval_s
        self._server_time_ms = server_time_ms
        self.offset_ms = 0
        self.synced_at: float | None = None  # monotonic time of the last measure (None: never)
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        """The venue's clock in ms, from the local clock and the measured offset."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    @property
    def synced(self) -> bool:
        return self.synced_at is not None

    async def sync(self) -> int:
        """Measure the offset now; returns it in ms."""
        async with self._lock:
            return await self._measure()

    async def keep(self) -> None:
        """Measure again once the offset is older than ``sync_interval_s`` (a failure is logged)."""
        if not self._stale():
            return
        async with self._lock:
            if not self._stale():
                return  # another call measured it while this one waited
            try:
                await self._measure()
            except (Unavailable, RateLimited) as exc:
                log.warning("%s clock sync failed, keeping offset %d ms: %s", self.venue, self.offset_ms, exc)
                self.synced_at = time.monotonic()

    def _stale(self) -> bool:
        return self.synced_at is None or time.monotonic() - self.synced_at >= self.sync_interval_s

    async def _measure(self) -> int:
        sent_ms = time.time_ns() // 1_000_000
        server_ms = await self._server_time_ms()
        received_ms = time.time_ns() // 1_000_000
        self.offset_ms = server_ms - (sent_ms + received_ms) // 2
        self.synced_at = time.monotonic()
        log.info(
            "%s clock offset %d ms (round trip %d ms)", self.venue, self.offset_ms, received_ms - sent_ms
        )
        return self.offset_ms
