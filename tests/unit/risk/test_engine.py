"""The guardian loop against an in-memory venue: polling, deciding, acting, in real (short) time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest
from prometheus_client import REGISTRY
from risk_fakes import RULES, SYM, FakeDeadManVenue, FakeVenue, foreign_stop

from risk.engine import GuardianEngine
from risk.model import Limits, Reason
from risk.orders import is_guardian_id
from risk.rules import Guardian
from risk.startup import GuardOptions
from services.wire import Bbo, OrderType, OrderUpdate, Place, RiskEvent, Side, TradingState

pytestmark = pytest.mark.timeout(20)
FAST = GuardOptions(poll_interval_s=0.05, near_poll_interval_s=0.02, dead_man_timeout_s=0.3)


async def until(check: Callable[[], Any], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Recorder:
    def __init__(self) -> None:
        self.states: list[tuple[TradingState, Reason]] = []
        self.events: list[RiskEvent] = []

    def state(self, state: TradingState, reason: Reason) -> None:
        self.states.append((state, reason))

    def event(self, event: RiskEvent) -> None:
        self.events.append(event)

    def actions(self) -> list[str]:
        return [e.action for e in self.events if e.action != "log"]

    def logged(self) -> list[str]:
        return [e.reason for e in self.events if e.action == "log"]


@contextlib.asynccontextmanager
async def running(engine: GuardianEngine) -> AsyncIterator[GuardianEngine]:
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make(
    venue: FakeVenue,
    recorder: Recorder,
    *,
    options: GuardOptions = FAST,
    beat: Callable[[float], tuple[float | None, str | None]] | None = None,
    **limits: Any,
) -> GuardianEngine:
    settings: dict[str, Any] = {"symbol": SYM, "max_position": D(5), "watch_strategy": beat is not None}
    settings.update(limits)
    return GuardianEngine(
        venue,
        Guardian(Limits(**settings), lang="en"),
        RULES,
        options=options,
        strategy_beat=beat,
        on_state=recorder.state,
        on_event=recorder.event,
    )


async def test_stop_loss_closes_the_whole_position_then_returns_to_active(venue: FakeVenue) -> None:
    venue.quantity, venue.entry, venue.mark_px = D(2), D(100), D(100)
    recorder = Recorder()
    async with running(make(venue, recorder, stop_loss=D(-5))):
        await until(lambda: (TradingState.ACTIVE, Reason.NONE) in recorder.states)
        venue.mark_px = D(97)
        await until(lambda: venue.quantity == 0)
        await until(lambda: recorder.states[-1] == (TradingState.ACTIVE, Reason.NONE))
    [close] = venue.placed
    assert (close.side, close.quantity, close.order_type, close.reduce_only) == (
        Side.SELL,
        D(2),
        OrderType.MARKET,
        True,
    )
    assert is_guardian_id(close.client_id)
    assert (TradingState.REDUCING, Reason.STOP_LOSS) in recorder.states
    # The cancel-all now reads the open orders first (the trader's stops stay), so the close may go first.
    assert "cancel_all" in venue.calls
    assert {"cancel_all", "close"} <= set(recorder.actions())
    assert "stop_loss" in recorder.logged() and "exit_done" in recorder.logged()


async def test_a_bus_price_is_acted_on_without_waiting_for_the_poll(venue: FakeVenue) -> None:
    venue.quantity, venue.entry, venue.mark_px = D(1), D(100), D(100)
    recorder = Recorder()
    slow = GuardOptions(poll_interval_s=30.0, near_poll_interval_s=30.0)
    async with running(make(venue, recorder, options=slow, stop_loss=D(-5))) as engine:
        await until(lambda: engine.polls == 1 and engine.decision is not None)
        bbo = Bbo(symbol=SYM, bid=D(90), bid_qty=D(1), ask=D("90.02"), ask_qty=D(1))
        started = time.monotonic()
        engine.on_bus("md.bbo.SOL_USDC_PERP", bbo)
        await until(lambda: venue.placed, timeout_s=2.0)
        assert time.monotonic() - started < 1.0
    assert venue.placed[0].quantity == D(1)


async def test_excess_over_the_max_is_closed_exactly(venue: FakeVenue) -> None:
    venue.quantity, venue.entry = D("-0.5"), D(100)
    recorder = Recorder()
    async with running(make(venue, recorder, max_position=D("0.4"))):
        await until(lambda: venue.quantity == D("-0.4"))
        await until(lambda: recorder.states[-1][0] is TradingState.ACTIVE)
    assert [(o.side, o.quantity) for o in venue.placed] == [(Side.BUY, D("0.1"))]


async def test_an_excess_larger_than_one_market_order_is_closed_in_several(venue: FakeVenue) -> None:
    venue.quantity, venue.entry = D("1.4"), D(100)
    recorder = Recorder()
    engine = make(venue, recorder, max_position=D("0.4"))
    engine.rules = replace(RULES, max_market_quantity=D("0.4"))
    async with running(engine):
        await until(lambda: venue.quantity == D("0.4"))
    assert [(o.side, o.quantity) for o in venue.placed] == [(Side.SELL, D("0.4"))] * 2 + [
        (Side.SELL, D("0.2"))
    ]


async def test_a_refused_close_is_sent_again_after_a_pause(venue: FakeVenue) -> None:
    venue.quantity, venue.entry = D(1), D(100)
    venue.reject_places = 1
    recorder = Recorder()
    engine = make(venue, recorder, stop_loss=D(-1))
    venue.mark_px = D(90)
    async with running(engine):
        await until(lambda: venue.quantity == 0)
    assert recorder.actions().count("close_failed") == 1
    assert venue.calls.count("place") == 2


async def test_a_hung_strategy_gets_everything_cancelled(venue: FakeVenue) -> None:
    venue.resting = 3
    age = {"s": 0.0}

    def beat(now_s: float) -> tuple[float | None, str | None]:
        return age["s"], "s1"

    recorder = Recorder()
    engine = make(venue, recorder, beat=beat, hang_timeout_s=0.5, hang_settle_s=0.1)
    async with running(engine):
        await until(lambda: recorder.states and recorder.states[-1][0] is TradingState.ACTIVE)
        cancels = venue.cancel_alls
        age["s"] = 1.0
        await until(lambda: (TradingState.HALTED, Reason.STRATEGY_HANG) in recorder.states)
        await until(lambda: venue.cancel_alls > cancels and venue.resting == 0)
        age["s"] = 0.0
        await until(lambda: recorder.states[-1] == (TradingState.ACTIVE, Reason.NONE))
    assert "strategy_hang" in recorder.logged()


async def test_a_venue_that_stops_answering_halts_on_a_stale_mark(venue: FakeVenue) -> None:
    recorder = Recorder()
    async with running(make(venue, recorder, md_stale_s=0.3)) as engine:
        await until(lambda: recorder.states and recorder.states[-1][0] is TradingState.ACTIVE)
        venue.down = True
        await until(lambda: (TradingState.HALTED, Reason.MD_STALE) in recorder.states)
        venue.down = False
        await until(lambda: recorder.states[-1] == (TradingState.ACTIVE, Reason.NONE))
        assert engine.polls > 3


async def test_operator_commands(venue: FakeVenue) -> None:
    venue.quantity, venue.entry = D("0.3"), D(100)
    recorder = Recorder()
    async with running(make(venue, recorder)) as engine:
        await until(lambda: engine.inputs.position == D("0.3"))
        engine.command("halt", "by hand")
        assert engine.step().state is TradingState.HALTED
        engine.command("resume")
        engine.command("flatten")
        assert engine.step().state is TradingState.REDUCING
        await until(lambda: venue.quantity == 0)
        await until(lambda: engine.snapshot().state is TradingState.ACTIVE)
        with pytest.raises(ValueError, match="unknown command"):
            engine.command("explode")
    assert [e.action for e in recorder.events[:1]] == ["halt"]


async def test_open_orders_are_polled_only_while_halted(venue: FakeVenue) -> None:
    venue.resting = 2
    recorder = Recorder()
    async with running(make(venue, recorder)) as engine:
        await until(lambda: engine.snapshot().state is TradingState.ACTIVE)
        reads, polls = venue.calls.count("open_orders"), engine.polls
        await until(lambda: engine.polls >= polls + 5)
        assert venue.calls.count("open_orders") == reads
        assert venue.calls.count("position") >= polls + 5
        cancels = venue.cancel_alls
        engine.command("halt", "by hand")
        await until(lambda: venue.cancel_alls == cancels + 1)
        venue.resting = 1  # placed late, after the halt's cancel-all: seen by a poll and cancelled again
        await until(lambda: venue.calls.count("open_orders") >= reads + 3)
        await until(lambda: venue.resting == 0)


async def test_the_venue_dead_man_switch_is_kept_armed(dead_man_venue: FakeDeadManVenue) -> None:
    async with running(make(dead_man_venue, Recorder())):
        await until(lambda: len(dead_man_venue.armed) >= 3, timeout_s=3.0)
    assert set(dead_man_venue.armed) == {0.3}


async def test_a_low_margin_fraction_means_reduce_only(venue: FakeVenue) -> None:
    venue.quantity, venue.entry, venue.resting = D(1), D(100), 2
    venue.margin_fraction = D("0.5")
    recorder = Recorder()
    async with running(make(venue, recorder, margin_fraction_limit=D("0.1"))):
        await until(lambda: recorder.states and recorder.states[-1][0] is TradingState.ACTIVE)
        venue.margin_fraction = D("0.08")
        await until(lambda: recorder.states[-1] == (TradingState.REDUCING, Reason.MARGIN))
        await until(lambda: venue.resting == 0)
        venue.margin_fraction = D("0.2")
        await until(lambda: recorder.states[-1] == (TradingState.ACTIVE, Reason.NONE))
    assert venue.placed == []
    assert "collateral" in venue.calls


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    value = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def test_metrics_follow_state_actions_and_polls(venue: FakeVenue) -> None:
    venue.quantity, venue.entry, venue.mark_px = D(1), D(100), D(100)
    closes = sample("mm_risk_actions_total", {"action": "close", "reason": "stop_loss"})
    polls = sample("mm_risk_poll_latency_seconds_count")
    recorder = Recorder()
    async with running(make(venue, recorder, stop_loss=D(-5))) as engine:
        await until(lambda: engine.polls >= 2)
        assert sample("mm_risk_trading_state") == 0
        assert sample("mm_risk_unrealized_pnl_quote") == 0
        venue.mark_px = D(90)
        await until(lambda: venue.quantity == 0)
    assert sample("mm_risk_actions_total", {"action": "close", "reason": "stop_loss"}) == closes + 1
    assert sample("mm_risk_poll_latency_seconds_count") >= polls + 2
    assert sample("mm_risk_last_action_timestamp_seconds") > time.time() - 60


async def test_a_close_stuck_at_the_venue_never_holds_back_a_cancel_all(venue: FakeVenue) -> None:
    venue.quantity, venue.entry, venue.mark_px = D(1), D(100), D(90)
    release = asyncio.Event()
    place = venue.place_order

    async def stuck(order: Place) -> OrderUpdate:
        await release.wait()
        return await place(order)

    venue.place_order = stuck
    recorder = Recorder()
    async with running(make(venue, recorder, stop_loss=D(-5))) as engine:
        await until(lambda: engine.decision is not None and engine.guardian.reason is Reason.STOP_LOSS)
        cancels = venue.cancel_alls
        venue.resting = 2
        engine.command("halt")
        await until(lambda: venue.cancel_alls > cancels and venue.resting == 0, timeout_s=2.0)
        assert venue.placed == []
        release.set()
        await until(lambda: venue.quantity == 0)


async def test_a_hung_strategy_or_stale_data_never_cancels_the_traders_stops(venue: FakeVenue) -> None:
    venue.resting = 2
    venue.foreign = [foreign_stop("s1")]
    recorder = Recorder()
    async with running(make(venue, recorder, stop_loss=D(-5))) as engine:
        await until(lambda: engine.snapshot().state is TradingState.ACTIVE)
        venue.quantity, venue.entry, venue.mark_px = D(1), D(100), D(90)
        await until(lambda: venue.quantity == 0 and venue.resting == 0)
        await until(lambda: "cancel_all" in recorder.actions())
    assert [o.order_id for o in venue.foreign] == ["s1"]
    [event] = [e for e in recorder.events if e.action == "cancel_all"]
    assert "1 foreign order(s) left in place (1 STOP_MARKET)" in event.message


async def test_the_kill_switch_cancels_foreign_orders_too_and_says_which(venue: FakeVenue) -> None:
    venue.resting = 2
    venue.foreign = [foreign_stop("s1"), foreign_stop("t1", venue_type="TAKE_PROFIT_LIMIT")]
    recorder = Recorder()
    async with running(make(venue, recorder)) as engine:
        await until(lambda: engine.snapshot().state is TradingState.ACTIVE)
        engine.command("halt", "by hand")
        await until(lambda: venue.foreign == [] and venue.resting == 0)
        await until(lambda: "cancel_all" in recorder.actions())
    [event] = [e for e in recorder.events if e.action == "cancel_all"]
    assert event.quantity == 4
    assert "2 of them foreign" in event.message
    assert "1 STOP_MARKET" in event.message and "1 TAKE_PROFIT_LIMIT" in event.message
