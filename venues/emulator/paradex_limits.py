"""Paradex's documented request limits for private calls (pure: time passed in).

Per account: order actions (``POST``, ``DELETE``, ``PUT``) 800 a second or
17,250 a minute; ``GET``s 120 a second or 600 a minute.  Across every account
from one IP address: 1,500 private calls a minute.  A request over any window
is answered 429 with ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass

from venues.emulator.ratelimit import SlidingWindowLimit

ORDER_ACTIONS_PER_S = 800
ORDER_ACTIONS_PER_MIN = 17_250
READS_PER_S = 120
READS_PER_MIN = 600
PRIVATE_PER_MIN_PER_IP = 1_500


@dataclass(frozen=True, slots=True)
class Refusal:
    """Which limit refused a request, and how long until it would be allowed."""

    limit: str
    wait_s: float


class ParadexLimits:
    """Every window of the private calls; ``enabled`` False lets everything through."""

    def __init__(self, *, enabled: bool = True) -> None:
        def window(limit: int, window_ms: int) -> SlidingWindowLimit:
            return SlidingWindowLimit(limit=limit if enabled else 0, window_ms=window_ms)

        self.orders = {
            f"{ORDER_ACTIONS_PER_S} order actions/s per account": window(ORDER_ACTIONS_PER_S, 1_000),
            f"{ORDER_ACTIONS_PER_MIN} order actions/min per account": window(ORDER_ACTIONS_PER_MIN, 60_000),
        }
        self.reads = {
            f"{READS_PER_S} GET/s per account": window(READS_PER_S, 1_000),
            f"{READS_PER_MIN} GET/min per account": window(READS_PER_MIN, 60_000),
        }
        self.per_ip = window(PRIVATE_PER_MIN_PER_IP, 60_000)

    def check(self, *, account: str, ip: str, method: str, now_ms: int) -> Refusal | None:
        """Count one private call; None when allowed, else the first limit it breaks."""
        wait_s = self.per_ip.check(ip, now_ms)
        if wait_s is not None:
            return Refusal(f"{PRIVATE_PER_MIN_PER_IP} private calls/min per IP", wait_s)
        for name, limit in (self.reads if method == "GET" else self.orders).items():
            wait_s = limit.check(account, now_ms)
            if wait_s is not None:
                return Refusal(name, wait_s)
        return None
