"""The per-key sliding window."""

from __future__ import annotations

from venues.emulator.ratelimit import SlidingWindowLimit, retry_after_header_s


def test_limit_per_key_in_a_sliding_window() -> None:
    limit = SlidingWindowLimit(limit=3, window_ms=1000)
    assert [limit.check("k", t) for t in (0, 100, 200)] == [None, None, None]
    assert limit.check("k", 300) == 0.7  # the request at 0 leaves the window at 1000
    assert limit.check("other", 300) is None
    assert limit.check("k", 1000) is None


def test_zero_disables_and_retry_after_is_whole_seconds() -> None:
    limit = SlidingWindowLimit(limit=0)
    assert all(limit.check("k", t) is None for t in range(10_000))
    assert (retry_after_header_s(0.01), retry_after_header_s(1.2)) == (1, 2)
