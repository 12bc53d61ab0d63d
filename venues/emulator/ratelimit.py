"""A per-key sliding-window request limit, as venues enforce per API key (pure: time passed in)."""

from __future__ import annotations

import math
from collections import deque


class SlidingWindowLimit:
    """At most ``limit`` requests per key in any ``window_ms``; ``limit`` 0 disables it."""

    def __init__(self, *, limit: int, window_ms: int = 60_000) -> None:
        if limit < 0 or window_ms <= 0:
            raise ValueError("limit must be >= 0 and window_ms > 0")
        self.limit = limit
        self.window_ms = window_ms
        self._seen: dict[str, deque[int]] = {}

    def check(self, key: str, now_ms: int) -> float | None:
        """Count a request; None when allowed, else seconds until one is allowed again."""
        if self.limit == 0:
            return None
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now_ms - self.window_ms:
            times.popleft()
        if len(times) >= self.limit:
            return (times[0] + self.window_ms - now_ms) / 1000
        times.append(now_ms)
        return None


def retry_after_header_s(wait_s: float) -> int:
    """A Retry-After value in whole seconds, never below one."""
    return max(1, math.ceil(wait_s))
