"""The local book: snapshot, U/u continuity, stale skips, gaps, top levels."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.wire import Level
from venues.common.book import Applied, LocalBook

D = Decimal


def lv(*pairs: tuple[str, str]) -> list[Level]:
    return [(D(price), D(qty)) for price, qty in pairs]


def seeded(last_update_id: int = 100, *, levels: int = 10) -> LocalBook:
    book = LocalBook("S", levels=levels)
    book.seed(
        bids=lv(("10.0", "1"), ("9.9", "2"), ("9.8", "3")),
        asks=lv(("10.1", "1"), ("10.2", "2")),
        last_update_id=last_update_id,
    )
    return book


def test_unseeded_book_reports_a_gap() -> None:
    book = LocalBook("S")
    assert not book.seeded
    assert book.apply(first_id=1, last_id=1, bids=[], asks=[]) is Applied.GAP


def test_top_orders_levels_best_first_and_limits_depth() -> None:
    book = seeded(levels=2)
    top = book.top()
    assert top.bids == lv(("10.0", "1"), ("9.9", "2"))
    assert top.asks == lv(("10.1", "1"), ("10.2", "2"))
    assert top.update_id == 100 and top.symbol == "S"


def test_stale_updates_are_skipped() -> None:
    book = seeded()
    assert book.apply(first_id=90, last_id=100, bids=lv(("10.0", "0")), asks=[]) is Applied.STALE
    assert book.top().bids[0] == (D("10.0"), D(1))


def test_first_update_may_straddle_the_snapshot_then_must_be_contiguous() -> None:
    book = seeded()
    assert book.apply(first_id=95, last_id=102, bids=lv(("10.0", "5")), asks=[]) is Applied.APPLIED
    assert book.last_update_id == 102
    assert (
        book.apply(first_id=103, last_id=103, bids=lv(("9.9", "0")), asks=lv(("10.15", "4")))
        is Applied.APPLIED
    )
    top = book.top()
    assert top.bids == lv(("10.0", "5"), ("9.8", "3"))
    assert top.asks == lv(("10.1", "1"), ("10.15", "4"), ("10.2", "2"))
    assert top.update_id == 103


def test_gap_after_the_snapshot_resets() -> None:
    book = seeded()
    assert book.apply(first_id=102, last_id=103, bids=[], asks=[]) is Applied.GAP
    assert not book.seeded


def test_gap_between_updates_resets() -> None:
    book = seeded()
    assert book.apply(first_id=101, last_id=101, bids=[], asks=[]) is Applied.APPLIED
    assert book.apply(first_id=103, last_id=104, bids=[], asks=[]) is Applied.GAP
    assert not book.seeded
    assert book.top().bids == []


def test_a_crossed_result_is_treated_as_a_gap() -> None:
    book = seeded()
    assert book.apply(first_id=101, last_id=101, bids=lv(("10.1", "1")), asks=[]) is Applied.GAP
    assert not book.seeded


def test_seed_drops_empty_levels_and_rejects_bad_depth() -> None:
    book = LocalBook("S", levels=1)
    book.seed(bids=lv(("1", "0"), ("0.9", "1")), asks=[], last_update_id=1)
    assert book.top().bids == lv(("0.9", "1"))
    with pytest.raises(ValueError):
        LocalBook("S", levels=0)


def test_previous_id_chains_aster_style_updates() -> None:
    book = seeded()
    # Aster's first event straddles the snapshot; later ones name the previous u as pu.
    assert book.apply(first_id=95, last_id=105, previous_id=94, bids=[], asks=[]) is Applied.APPLIED
    assert book.apply(first_id=110, last_id=112, previous_id=105, bids=[], asks=[]) is Applied.APPLIED
    assert book.last_update_id == 112
    assert book.apply(first_id=120, last_id=121, previous_id=113, bids=[], asks=[]) is Applied.GAP
    assert not book.seeded


def test_previous_id_bridges_a_snapshot_when_update_ids_skip() -> None:
    book = seeded()
    # Ids are sparse: U is past lastUpdateId + 1, but pu shows nothing after the snapshot was missed.
    assert book.apply(first_id=104, last_id=108, previous_id=99, bids=[], asks=[]) is Applied.APPLIED
    other = seeded()
    assert other.apply(first_id=104, last_id=108, previous_id=102, bids=[], asks=[]) is Applied.GAP
