"""Depth churn: one book change per quiet slot, behind the best prices, none in a slot that already moved."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.wire import Side
from venues.emulator.catalog import select_markets
from venues.emulator.depth_churn import HOUSE_DEPTH, DepthChurn
from venues.emulator.engine import Engine
from venues.emulator.events import BookEvent, Event
from venues.emulator.market import MarketSimulator
from venues.emulator.records import OrderRequest

SOL = "SOL_USDC_PERP"
T0_MS = 1_700_000_000_000


def make() -> tuple[Engine, DepthChurn]:
    profiles = select_markets([SOL])
    engine = Engine(markets={p.symbol: p.rules for p in profiles}, now_ms=T0_MS)
    MarketSimulator(engine, profiles, seed=3).step(T0_MS)  # the house ladder: ten levels a side
    return engine, DepthChurn({p.symbol: p for p in profiles})


def books(events: list[Event]) -> list[BookEvent]:
    return [e for e in events if isinstance(e, BookEvent)]


def run_slots(engine: Engine, churn: DepthChurn, *, slots: int, interval_s: float) -> list[list[Event]]:
    out = []
    for i in range(1, slots + 1):
        now_s = (i + 0.5) * interval_s  # mid-slot, as a timer that wakes a little late
        events = churn.step(engine, now_s=now_s, now_ms=T0_MS + round(now_s * 1000))
        churn.observe(events)  # as the core publishes them: the churn's own changes do not count
        out.append(events)
    return out


def test_every_quiet_slot_gets_one_change_and_the_top_never_moves() -> None:
    engine, churn = make()
    top = engine.top(SOL)
    churn.set_rate(SOL, 100, now_s=0.0)
    per_slot = run_slots(engine, churn, slots=40, interval_s=0.01)
    assert all(len(books(events)) == 1 for events in per_slot)
    assert engine.top(SOL) == top
    sides = {bool(books(events)[0].bids) for events in per_slot}
    assert sides == {True, False}  # both sides churn


def test_a_slot_whose_book_already_changed_gets_none() -> None:
    engine, churn = make()
    churn.set_rate(SOL, 10, now_s=0.0)
    bid = engine.top(SOL)[0]
    assert bid is not None
    request = OrderRequest(symbol=SOL, side=Side.BUY, quantity=Decimal("0.1"), price=bid[0] - 1)
    engine.add_account("someone", collateral=Decimal(10_000))
    churn.observe(engine.place("someone", request, now_ms=T0_MS)[1])
    assert churn.step(engine, now_s=0.1, now_ms=T0_MS + 100) == []
    assert len(books(churn.step(engine, now_s=0.2, now_ms=T0_MS + 200))) == 1


def test_not_due_before_the_slot_and_a_late_timer_does_not_burst() -> None:
    engine, churn = make()
    churn.set_rate(SOL, 100, now_s=0.0)
    assert churn.wait_s(now_s=0.004) == pytest.approx(0.006)
    assert churn.step(engine, now_s=0.005, now_ms=T0_MS) == []
    assert len(books(churn.step(engine, now_s=1.0, now_ms=T0_MS + 1000))) == 1
    assert churn.step(engine, now_s=1.0, now_ms=T0_MS + 1000) == []
    assert churn.wait_s(now_s=1.0) == pytest.approx(0.01)


def test_rate_zero_and_clear_stop_it_and_bad_rates_are_refused() -> None:
    engine, churn = make()
    churn.set_rate(SOL, 50, now_s=0.0)
    assert churn.rate(SOL) == 50
    churn.set_rate(SOL, 0, now_s=0.0)
    assert churn.rate(SOL) == 0 and churn.wait_s(now_s=0.0) is None
    churn.set_rate(SOL, 50, now_s=0.0)
    churn.clear()
    assert churn.step(engine, now_s=5.0, now_ms=T0_MS + 5000) == []
    assert not engine.open_orders(HOUSE_DEPTH)
    with pytest.raises(ValueError):
        churn.set_rate(SOL, -1, now_s=0.0)
    with pytest.raises(ValueError):
        churn.set_rate("ETH_USDC_PERP", 10, now_s=0.0)
