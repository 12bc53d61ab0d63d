"""DepthSync: a book seeded from a snapshot that lags its stream, with the clock passed in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from venues.base import DepthSnapshot
from venues.common.book import Applied, LocalBook
from venues.common.depth_sync import Delta, DepthSync

D = Decimal


def delta(first_id: int, last_id: int | None = None, *, bid: str | None = None) -> Delta:
    bids = [(D(bid), D(1))] if bid is not None else []
    return Delta(first_id=first_id, last_id=last_id or first_id, bids=bids, asks=[], ts_ns=first_id)


def snapshot(last_id: int) -> DepthSnapshot:
    return DepthSnapshot(bids=[(D(100), D(1))], asks=[(D(101), D(1))], last_update_id=last_id, ts_ns=7)


def make(**options: float) -> DepthSync:
    return DepthSync(LocalBook("S", levels=5), now_s=0.0, **options)  # type: ignore[arg-type]


def test_deltas_are_buffered_until_a_snapshot_reaches_the_first() -> None:
    sync = make(retry_s=10.0)
    assert not sync.fetch_due(now_s=0.1) and sync.wait_s(now_s=0.1) == pytest.approx(0.9)
    assert sync.delta(delta(51), now_s=0.1) is None
    assert sync.fetch_due(now_s=0.1)
    assert not sync.snapshot(snapshot(40), now_s=0.1)  # ten short of 50
    for update_id in range(52, 61):
        sync.delta(delta(update_id, bid="99" if update_id == 55 else None), now_s=0.2)
        assert not sync.fetch_due(now_s=0.2)
    sync.delta(delta(61), now_s=0.2)
    assert sync.fetch_due(now_s=0.2)
    assert sync.snapshot(snapshot(53), now_s=0.2)
    assert sync.book.last_update_id == 61 and sync.ts_ns == 61 and sync.seeds == 1
    assert (D(99), D(1)) in sync.book.top().bids
    assert sync.delta(delta(62), now_s=0.3) is Applied.APPLIED and not sync.fetch_due(now_s=9.0)


def test_a_snapshot_too_old_is_fetched_again_after_retry_s_without_new_deltas() -> None:
    sync = make(retry_s=0.5)
    sync.delta(delta(51), now_s=0.0)
    assert not sync.snapshot(snapshot(10), now_s=0.0)
    assert not sync.fetch_due(now_s=0.4) and sync.wait_s(now_s=0.4) == pytest.approx(0.1)
    assert sync.fetch_due(now_s=0.5)


def test_a_quiet_book_seeds_from_the_snapshot_and_its_first_delta_checks_it() -> None:
    sync = make(quiet_s=1.0)
    assert sync.fetch_due(now_s=1.0)
    assert sync.snapshot(snapshot(40), now_s=1.0) and sync.ts_ns == 7
    assert sync.delta(delta(45), now_s=2.0) is Applied.GAP  # the snapshot was behind after all
    assert not sync.book.seeded and sync.buffered == 1 and sync.fetch_due(now_s=2.0)
    assert sync.snapshot(snapshot(44), now_s=2.0) and sync.book.last_update_id == 45


def test_a_hole_inside_the_buffer_restarts_from_the_delta_after_it() -> None:
    sync = make()
    for update_id in (11, 12, 14):
        sync.delta(delta(update_id), now_s=0.0)
    assert not sync.snapshot(snapshot(10), now_s=0.0)
    assert sync.buffered == 1 and sync.fetch_due(now_s=0.0)
    assert sync.snapshot(snapshot(13), now_s=0.0) and sync.book.last_update_id == 14


def test_a_lost_book_and_an_overflowing_buffer() -> None:
    sync = make(max_buffered=2)
    sync.delta(delta(5), now_s=0.0)
    sync.snapshot(snapshot(4), now_s=0.0)
    sync.lost(1.0)
    assert not sync.book.seeded and sync.buffered == 0
    sync.delta(delta(20), now_s=1.0)
    sync.delta(delta(21), now_s=1.0)
    with pytest.raises(OverflowError):
        sync.delta(delta(22), now_s=1.0)
    with pytest.raises(ValueError):
        make(retry_s=0)
