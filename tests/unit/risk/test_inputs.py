"""Merging bus messages and polled answers into what the rules see."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from risk.inputs import Inputs, bus_live, open_orders_due, poll_interval_s
from risk.model import Limits, Observation
from services.wire import Balance, Bbo, FeedState, Mark, MdStatus, Position, StrategyDone, TradingState

SYM = "SOL_USDC_PERP"


def bbo(bid: str, ask: str, symbol: str = SYM) -> Bbo:
    return Bbo(symbol=symbol, bid=D(bid), bid_qty=D(1), ask=D(ask), ask_qty=D(1))


def pos(quantity: str, entry: str = "100", mark: str | None = None) -> Position:
    return Position(
        symbol=SYM,
        quantity=D(quantity),
        entry_price=D(entry),
        mark_price=D(mark) if mark else None,
        unrealized_pnl=D("1.5"),
    )


def test_nothing_known_yet() -> None:
    obs = Inputs(SYM).observation(now_s=5.0)
    assert obs.position_age_s is None
    assert (obs.position, obs.mark_price, obs.md_age_s, obs.feed_age_s, obs.open_orders) == (
        D(0),
        None,
        None,
        None,
        None,
    )


def test_the_newest_price_of_any_source_marks_the_position() -> None:
    inputs = Inputs(SYM)
    inputs.on_bus("md.mark.SOL_USDC_PERP", Mark(symbol=SYM, mark=D(100)), as_of_s=1.0)
    inputs.on_bus("md.bbo.SOL_USDC_PERP", bbo("89", "91"), as_of_s=2.0)
    obs = inputs.observation(now_s=2.5)
    assert (obs.mark_price, obs.md_age_s, obs.feed_age_s) == (D(90), 0.5, 0.5)
    inputs.on_poll_mark(D(95), sent_s=3.0)
    assert inputs.observation(now_s=3.0).mark_price == D(95)


def test_a_poll_answer_older_than_a_bus_message_does_not_overwrite_it() -> None:
    inputs = Inputs(SYM)
    inputs.on_bus("ex.position.SOL_USDC_PERP", pos("0"), as_of_s=2.0)
    assert not inputs.on_poll_position(pos("1.5"), sent_s=1.9)
    assert inputs.position == 0
    assert inputs.on_poll_position(pos("1.5"), sent_s=2.1)
    obs = inputs.observation(now_s=3.0)
    assert (obs.position, obs.entry_price, obs.venue_unrealized_pnl) == (D("1.5"), D(100), D("1.5"))
    assert obs.position_age_s == pytest.approx(0.9)


def test_a_price_change_is_worth_a_decision_only_with_a_position() -> None:
    inputs = Inputs(SYM)
    assert not inputs.on_bus("md.bbo.SOL_USDC_PERP", bbo("99", "101"), as_of_s=1.0)
    inputs.on_poll_position(pos("1"), sent_s=1.1)
    assert inputs.on_bus("md.bbo.SOL_USDC_PERP", bbo("98", "100"), as_of_s=1.2)
    assert not inputs.on_bus("md.bbo.SOL_USDC_PERP", bbo("98", "100"), as_of_s=1.3)


def test_other_symbols_and_crossed_books_are_ignored() -> None:
    inputs = Inputs(SYM)
    inputs.on_bus("md.bbo.BTC_USDC_PERP", bbo("1", "2", symbol="BTC_USDC_PERP"), as_of_s=1.0)
    inputs.on_bus("md.bbo.SOL_USDC_PERP", bbo("101", "100"), as_of_s=1.0)
    obs = inputs.observation(now_s=1.0)
    assert obs.mark_price is None
    assert obs.feed_age_s == 0.0


def test_only_a_live_feed_status_refreshes_the_feed() -> None:
    inputs = Inputs(SYM)
    inputs.on_bus("md.status", MdStatus(state=FeedState.LIVE, symbol=SYM), as_of_s=1.0)
    inputs.on_bus("md.status", MdStatus(state=FeedState.STALE, symbol=SYM), as_of_s=3.0)
    assert inputs.observation(now_s=4.0).feed_age_s == 3.0


def test_margin_fraction_counts_only_with_a_position() -> None:
    inputs = Inputs(SYM)
    balance = Balance(asset="USDC", equity=D(1), available=D(1), margin_fraction=D("0.2"))
    inputs.on_bus("ex.balance", balance, as_of_s=1.0)
    assert inputs.observation(now_s=1.0).margin_fraction is None
    inputs.on_poll_position(pos("1"), sent_s=1.0)
    assert inputs.observation(now_s=1.0).margin_fraction == D("0.2")


def test_open_orders_from_polls_and_cancel_alls_in_time_order() -> None:
    inputs = Inputs(SYM)
    inputs.on_poll_open_orders(3, sent_s=1.0)
    inputs.on_cancelled_all(sent_s=2.0)
    inputs.on_poll_open_orders(3, sent_s=1.5)
    assert inputs.observation(now_s=3.0).open_orders == 0


def test_a_strategy_announcing_its_end_is_remembered_by_instance() -> None:
    inputs = Inputs(SYM)
    assert inputs.observation(now_s=1.0).strategy_finished is None
    assert not inputs.on_bus("st.status", StrategyDone(instance="s0", symbol="ETH_USDC_PERP"), as_of_s=1.0)
    assert inputs.on_bus("st.status", StrategyDone(instance="s1", symbol=SYM), as_of_s=1.0)
    assert not inputs.on_bus("st.status", StrategyDone(instance="s1", symbol=SYM), as_of_s=1.2)
    assert inputs.observation(now_s=2.0).strategy_finished == "s1"


def limits() -> Limits:
    return Limits(symbol=SYM, max_position=D(4), stop_loss=D(-20), take_profit=D(40))


def observed(position: str, mark: str | None = "100", entry: str = "100") -> Observation:
    return Observation(
        now_s=0.0,
        position=D(position),
        entry_price=D(entry),
        mark_price=D(mark) if mark else None,
        md_age_s=0.1,
        strategy_heartbeat_age_s=0.1,
    )


def test_polls_faster_only_near_a_limit() -> None:

    def every(obs: Observation) -> float:
        return poll_interval_s(obs, limits(), base_s=1.0, near_s=0.25)

    assert every(observed("0")) == 1.0
    assert every(observed("1")) == 1.0
    assert every(observed("2")) == 0.25  # half the max position
    assert every(observed("1", mark="89")) == 0.25  # -11 of -20
    assert every(observed("-1", mark="79")) == 0.25  # +21 of +40
    # No mark (the venue not answering): asking four times as often would not help it.
    assert every(observed("1", mark=None)) == 1.0


def test_a_position_the_strategy_holds_by_design_is_not_near_the_max() -> None:
    def every(position: str, reduce_above: str) -> float:
        obs = observed(position)
        return poll_interval_s(obs, limits(), base_s=1.0, near_s=0.25, reduce_above=D(reduce_above))

    # Target 2.5 + threshold 0.5 of a max of 4: holding 3 is the plan, past it the strategy is reducing.
    assert every("3", "3") == 1.0
    assert every("-3", "3") == 1.0
    assert every("3.1", "3") == 0.25
    # Below half the max the reduce line does not make anything near.
    assert every("1.5", "1") == 1.0


def test_steady_state_cadence_under_a_controlled_clock() -> None:
    """A minute of steady state: one poll a second, open orders read only while HALTED."""

    def minute(obs: Observation, state: TradingState) -> tuple[int, int]:
        now_s, polls, order_reads = 0.0, 0, 0
        while now_s < 60.0:
            polls += 1
            order_reads += open_orders_due(state)
            now_s += poll_interval_s(obs, limits(), base_s=1.0, near_s=0.25, reduce_above=D("0.5"))
        return polls, order_reads

    assert minute(observed("0"), TradingState.ACTIVE) == (60, 0)
    assert minute(observed("1"), TradingState.ACTIVE) == (60, 0)
    assert minute(observed("1"), TradingState.REDUCING) == (60, 0)
    assert minute(observed("1", mark=None), TradingState.ACTIVE) == (60, 0)
    assert minute(observed("0"), TradingState.HALTED) == (60, 60)
    # Near the max (3 of 4): four a second, as the contract allows while near a limit.
    assert minute(observed("3"), TradingState.ACTIVE) == (240, 0)


def test_a_late_bus_message_never_moves_the_price_or_feed_back_in_time() -> None:
    inputs = Inputs(SYM)
    inputs.on_bus("md.mark.SOL_USDC_PERP", Mark(symbol=SYM, mark=D(101)), as_of_s=5.0)
    inputs.on_bus("md.mark.SOL_USDC_PERP", Mark(symbol=SYM, mark=D(99)), as_of_s=4.0)
    obs = inputs.observation(now_s=6.0)
    assert (obs.mark_price, obs.md_age_s, obs.feed_age_s) == (D(101), 1.0, 1.0)


def test_a_live_bus_slows_the_poll_except_near_a_limit() -> None:
    """While the bus is live the venue is polled every ``bus_s`` (its GET budget kept); near a limit
    the near pace still applies, and a quiet bus brings back the base pace."""

    def minute_of_polls(obs: Observation, *, bus_s: float | None) -> int:
        now_s, polls = 0.0, 0
        while now_s < 60.0:
            polls += 1
            now_s += poll_interval_s(obs, limits(), base_s=1.0, near_s=0.25, bus_s=bus_s)
        return polls

    assert minute_of_polls(observed("0"), bus_s=5.0) == 12
    assert minute_of_polls(observed("1"), bus_s=5.0) == 12
    assert minute_of_polls(observed("2"), bus_s=5.0) == 240  # near the max: as fast as ever
    assert minute_of_polls(observed("0"), bus_s=None) == 60


def test_the_bus_is_live_with_fresh_market_data_and_a_beating_order_gateway() -> None:
    inputs = Inputs(SYM)
    inputs.on_bus(f"md.bbo.{SYM}", bbo("100", "101"), as_of_s=10.0)
    fresh = inputs.observation(now_s=11.0)
    assert bus_live(fresh, gateway_age_s=0.5, fresh_s=5.0)
    # The order gateway quiet (dead, hung) or never seen: the guardian polls at its own pace again.
    assert not bus_live(fresh, gateway_age_s=6.0, fresh_s=5.0)
    assert not bus_live(fresh, gateway_age_s=None, fresh_s=5.0)
    # Market data gone stale, or never seen.
    assert not bus_live(inputs.observation(now_s=16.0), gateway_age_s=0.5, fresh_s=5.0)
    assert not bus_live(Inputs(SYM).observation(now_s=11.0), gateway_age_s=0.5, fresh_s=5.0)
