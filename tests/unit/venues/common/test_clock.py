from __future__ import annotations

import time

from venues.base import Unavailable
from venues.common.clock import VenueClock


class Server:
    """A venue whose clock runs ``ahead_ms`` ahead of ours; ``down`` makes its time call fail."""

    def __init__(self, ahead_ms: int) -> None:
        self.ahead_ms = ahead_ms
        self.down = False
        self.calls = 0

    async def time_ms(self) -> int:
        self.calls += 1
        if self.down:
            raise Unavailable("venue down")
        return time.time_ns() // 1_000_000 + self.ahead_ms


async def test_the_offset_is_measured_and_the_venue_time_follows_it() -> None:
    server = Server(ahead_ms=30_000)
    clock = VenueClock("test", server.time_ms, sync_interval_s=300)
    assert not clock.synced
    assert abs(await clock.sync() - 30_000) <= 5
    assert clock.synced and abs(clock.now_ms() - server.ahead_ms - time.time_ns() // 1_000_000) <= 5


async def test_keep_measures_only_when_old_and_a_failure_keeps_the_last_offset() -> None:
    server = Server(ahead_ms=1_000)
    clock = VenueClock("test", server.time_ms, sync_interval_s=300)
    await clock.keep()
    await clock.keep()
    assert server.calls == 1, "a fresh offset is not measured again"
    clock.synced_at = time.monotonic() - 301
    server.ahead_ms, server.down = 5_000, True
    await clock.keep()
    assert abs(clock.offset_ms - 1_000) <= 5 and server.calls == 2
    await clock.keep()
    assert server.calls == 2, "after a failure it waits a full interval"
