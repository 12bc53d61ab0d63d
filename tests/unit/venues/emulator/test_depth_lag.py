"""LaggedDepth: the emulator's Backpack snapshot, `lag` updates behind the stream, at most `max_age_ms`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from venues.emulator.depth_lag import LaggedDepth
from venues.emulator.events import BookEvent

D = Decimal


def event(update_id: int, *, bid: str, qty: str, ts_ms: int = 1000) -> BookEvent:
    return BookEvent(symbol="S", update_id=update_id, bids=((D(bid), D(qty)),), asks=(), ts_ms=ts_ms)


def test_the_snapshot_leaves_out_the_newest_lag_updates() -> None:
    lagged = LaggedDepth(lag=2, max_age_ms=10_000)
    lagged.start(bids=[(D(99), D(1))], asks=[(D(101), D(1))], update_id=5)
    lagged.observe(event(5, bid="98", qty="1"))  # already in the start
    for update_id, bid in ((6, "98"), (7, "97"), (8, "96")):
        lagged.observe(event(update_id, bid=bid, qty="2"))
    bids, asks, update_id = lagged.snapshot(now_ms=1000, limit=10)
    assert update_id == 6 and bids == [(D(99), D(1)), (D(98), D(2))] and asks == [(D(101), D(1))]
    lagged.observe(event(9, bid="99", qty="0"))
    bids, _, update_id = lagged.snapshot(now_ms=1000, limit=1)
    assert update_id == 7 and bids == [(D(99), D(1))]


def test_a_quiet_market_catches_up_after_max_age_ms() -> None:
    lagged = LaggedDepth(lag=10, max_age_ms=500)
    lagged.start(bids=[], asks=[], update_id=0)
    lagged.observe(event(1, bid="99", qty="1", ts_ms=1000))
    lagged.observe(event(2, bid="98", qty="1", ts_ms=1400))
    assert lagged.snapshot(now_ms=1400, limit=5)[2] == 0
    assert lagged.snapshot(now_ms=1500, limit=5)[2] == 1
    assert lagged.snapshot(now_ms=1900, limit=5) == ([(D(99), D(1)), (D(98), D(1))], [], 2)
    with pytest.raises(ValueError):
        LaggedDepth(lag=-1)
