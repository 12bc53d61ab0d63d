"""Paradex's private-call limits in the emulator: per second and per minute, per account and per IP."""

from __future__ import annotations

from venues.emulator.paradex_limits import (
    PRIVATE_PER_MIN_PER_IP,
    READS_PER_MIN,
    READS_PER_S,
    ParadexLimits,
)


def test_gets_are_limited_per_second_and_per_minute() -> None:
    limits = ParadexLimits()
    # A burst over 120 in one second is refused, whatever the minute holds.
    assert all(limits.check(account="a", ip="1", method="GET", now_ms=0) is None for _ in range(READS_PER_S))
    burst = limits.check(account="a", ip="1", method="GET", now_ms=500)
    assert burst is not None and "GET/s" in burst.limit and 0 < burst.wait_s <= 1
    # 100 a second is within the second's window, but the 601st GET of the minute is refused.
    limits = ParadexLimits()
    sent = [limits.check(account="a", ip="1", method="GET", now_ms=i * 10) for i in range(READS_PER_MIN)]
    assert sent == [None] * READS_PER_MIN
    refused = limits.check(account="a", ip="1", method="GET", now_ms=READS_PER_MIN * 10)
    assert refused is not None and "GET/min" in refused.limit and refused.wait_s > 50
    # Order actions have their own budget; another account its own.
    assert limits.check(account="a", ip="1", method="POST", now_ms=6_000) is None
    assert limits.check(account="b", ip="1", method="GET", now_ms=6_000) is None
    assert limits.check(account="a", ip="1", method="GET", now_ms=60_001) is None


def test_private_calls_from_one_ip_share_a_minute_budget() -> None:
    limits = ParadexLimits()
    for i in range(PRIVATE_PER_MIN_PER_IP):
        assert limits.check(account=f"acct{i % 5}", ip="1", method="DELETE", now_ms=i * 30) is None
    refused = limits.check(account="fresh", ip="1", method="POST", now_ms=PRIVATE_PER_MIN_PER_IP * 30)
    assert refused is not None and "per IP" in refused.limit
    assert limits.check(account="fresh", ip="2", method="POST", now_ms=PRIVATE_PER_MIN_PER_IP * 30) is None


def test_disabled_limits_let_everything_through() -> None:
    limits = ParadexLimits(enabled=False)
    assert all(limits.check(account="a", ip="1", method="GET", now_ms=0) is None for _ in range(2_000))
