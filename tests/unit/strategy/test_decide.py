from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest
from strategy_fakes import RULES
from strategy_fakes import resting_order as order

from services.wire import OrderStatus, OrderType, OrderUpdate, Side, TradingState
from strategy.decide import (
    Actions,
    Batches,
    Inputs,
    Mode,
    OrderIntent,
    OrderPacer,
    PullReason,
    gate,
    plan_actions,
    requote_due,
    sequence_requests,
)
from strategy.positions import GuardianZone, ReduceAction
from strategy.quoter import QuoteParams, plan_quotes

TICK = RULES.tick_size
PARAMS = QuoteParams(
    spread_pct=D("1"), quantity=D("0.1"), max_orders=2, inventory_skew=D(0), max_position=D(5)
)


def inputs(**over: object) -> Inputs:
    base: dict[str, object] = {
        "md_seen_s": 99.0,
        "md_connected": True,
        "risk_state": TradingState.ACTIVE,
        "risk_state_seen_s": 99.5,
        "risk_heartbeat_seen_s": 99.8,
        "exec_synced": True,
    }
    base.update(over)
    return Inputs(**base)  # type: ignore[arg-type]


def plan(position: str = "0"):
    return plan_quotes(bid=D("99.99"), ask=D("100.01"), rules=RULES, params=PARAMS, position=D(position))


# ---------------------------------------------------------------- gate


def test_gate_quotes_when_every_input_is_fresh() -> None:
    assert gate(inputs(), now_s=100.0, md_stale_s=5.0).mode is Mode.QUOTE


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"risk_state": None, "risk_state_seen_s": None}, PullReason.NO_GUARDIAN),
        ({"risk_state_seen_s": 98.9}, PullReason.NO_GUARDIAN),
        ({"risk_heartbeat_seen_s": 98.9}, PullReason.NO_GUARDIAN),
        ({"risk_heartbeat_seen_s": None}, PullReason.NO_GUARDIAN),
        ({"risk_state": TradingState.HALTED}, PullReason.HALTED),
        ({"md_connected": False}, PullReason.MD_DOWN),
        ({"md_seen_s": 94.9}, PullReason.MD_STALE),
        ({"md_seen_s": None}, PullReason.MD_STALE),
        ({"exec_synced": False}, PullReason.EXEC_UNSYNCED),
    ],
)
def test_gate_pulls_with_the_first_failing_reason(over: dict[str, object], reason: PullReason) -> None:
    result = gate(inputs(**over), now_s=100.0, md_stale_s=5.0)
    assert (result.mode, result.reason) == (Mode.PULL, reason)


def test_guardian_exactly_at_the_timeout_is_still_fresh() -> None:
    assert gate(inputs(risk_state_seen_s=99.0), now_s=100.0, md_stale_s=5.0).mode is Mode.QUOTE


def test_reducing_allows_only_reduce_orders() -> None:
    result = gate(inputs(risk_state=TradingState.REDUCING), now_s=100.0, md_stale_s=5.0)
    assert (result.mode, result.reason) == (Mode.REDUCE_ONLY, PullReason.REDUCING)


def test_no_guardian_outranks_everything_else() -> None:
    result = gate(
        inputs(risk_state_seen_s=90.0, md_connected=False, exec_synced=False), now_s=100.0, md_stale_s=5
    )
    assert result.reason is PullReason.NO_GUARDIAN


# ---------------------------------------------------------------- requote timing


def test_requote_due_on_event_first_time_and_after_interval() -> None:
    assert requote_due(now_s=1.0, last_requote_s=None, interval_s=10, event=False)
    assert requote_due(now_s=1.0, last_requote_s=0.5, interval_s=10, event=True)
    assert not requote_due(now_s=10.4, last_requote_s=0.5, interval_s=10, event=False)
    assert requote_due(now_s=10.5, last_requote_s=0.5, interval_s=10, event=False)


# ---------------------------------------------------------------- actions


def test_quote_mode_places_the_whole_ladder_when_nothing_rests() -> None:
    actions = plan_actions(
        mode=Mode.QUOTE,
        plan=plan(),
        quotes=[],
        reduces=[],
        position_action=None,
        reduce_mode="market",
        reduce_blocked=False,
        tick=TICK,
    )
    assert actions.cancel == ()
    assert [(i.side, i.price, i.quantity) for i in actions.quotes] == [
        # From the inside out, both sides in turn.
        (Side.BUY, D("99.50"), D("0.1")),
        (Side.SELL, D("100.50"), D("0.1")),
        (Side.BUY, D("99.48"), D("0.1")),
        (Side.SELL, D("100.52"), D("0.1")),
    ]
    assert all(i.post_only and not i.reduce_only and i.order_type is OrderType.LIMIT for i in actions.quotes)
    assert actions.reduce is None


def test_quotes_within_the_requote_tolerance_stay_and_the_far_ones_move() -> None:
    # The ladder wants 99.50/99.48 and 100.50/100.52.
    resting = [
        order(Side.BUY, "99.52", oid="1"),
        order(Side.BUY, "99.50", oid="2"),
        order(Side.SELL, "100.53", oid="3"),
        order(Side.SELL, "100.56", oid="4"),
    ]
    common: dict[str, object] = {
        "mode": Mode.QUOTE,
        "plan": plan(),
        "quotes": resting,
        "reduces": [],
        "position_action": None,
        "reduce_mode": "market",
        "reduce_blocked": False,
        "tick": TICK,
    }
    near = plan_actions(**common, tolerance=D("0.04"))  # type: ignore[arg-type]
    # 99.50 rests exactly; 99.52 is 4 ticks from 99.48, 100.53 is 3 from 100.50, 100.56 is 4 from 100.52.
    assert sorted(o.order_id for o in near.cancel) == ["1", "4"]
    assert sorted((i.side, i.price) for i in near.quotes) == [
        (Side.BUY, D("99.48")),
        (Side.SELL, D("100.52")),
    ]
    exact = plan_actions(**common)  # type: ignore[arg-type]
    assert sorted(o.order_id for o in exact.cancel) == ["1", "3", "4"]


def test_quote_mode_keeps_right_orders_and_replaces_only_the_wrong_one() -> None:
    keep_bid = order(Side.BUY, "99.50", oid="1")
    keep_ask = order(Side.SELL, "100.50", oid="2")
    moved = order(Side.SELL, "100.60", oid="3")
    actions = plan_actions(
        mode=Mode.QUOTE,
        plan=plan(),
        quotes=[keep_bid, keep_ask, moved, order(Side.BUY, "99.48", oid="4")],
        reduces=[],
        position_action=None,
        reduce_mode="market",
        reduce_blocked=False,
        tick=TICK,
    )
    assert actions.cancel == (moved,)
    assert [(i.side, i.price) for i in actions.quotes] == [(Side.SELL, D("100.52"))]


def test_nothing_to_do_when_the_ladder_rests_already() -> None:
    resting = [
        order(Side.BUY, "99.50", oid="1"),
        order(Side.BUY, "99.48", oid="2"),
        order(Side.SELL, "100.50", oid="3"),
        order(Side.SELL, "100.52", oid="4"),
    ]
    actions = plan_actions(
        mode=Mode.QUOTE,
        plan=plan(),
        quotes=resting,
        reduces=[],
        position_action=None,
        reduce_mode="market",
        reduce_blocked=False,
        tick=TICK,
    )
    assert not actions


def test_pull_cancels_quotes_and_reduces_and_places_nothing() -> None:
    quote = order(Side.BUY, "99.50", oid="1")
    reduce = order(Side.SELL, "100.01", "2.5", oid="2", reduce_only=True)
    actions = plan_actions(
        mode=Mode.PULL,
        plan=plan(),
        quotes=[quote],
        reduces=[reduce],
        position_action=ReduceAction(Side.SELL, D("0.5")),
        reduce_mode="maker",
        reduce_blocked=False,
        tick=TICK,
    )
    assert actions.cancel == (quote, reduce)
    assert actions.places == ()


def test_reduce_only_mode_cancels_quotes_but_still_reduces() -> None:
    quote = order(Side.BUY, "99.50", oid="1")
    actions = plan_actions(
        mode=Mode.REDUCE_ONLY,
        plan=plan("2.5"),
        quotes=[quote],
        reduces=[],
        position_action=ReduceAction(Side.SELL, D("0.5")),
        reduce_mode="market",
        reduce_blocked=False,
        tick=TICK,
    )
    assert actions.cancel == (quote,)
    assert actions.quotes == ()
    assert actions.reduce is not None
    assert (actions.reduce.side, actions.reduce.quantity, actions.reduce.price) == (Side.SELL, D("0.5"), None)
    assert actions.reduce.reduce_only and not actions.reduce.post_only
    assert actions.reduce.order_type is OrderType.MARKET


def reduce_actions(**over: object):
    base: dict[str, object] = {
        "mode": Mode.QUOTE,
        "plan": plan("2.5"),
        "quotes": [],
        "reduces": [],
        "position_action": ReduceAction(Side.SELL, D("0.5")),
        "reduce_mode": "market",
        "reduce_blocked": False,
        "tick": TICK,
    }
    base.update(over)
    return plan_actions(**base)  # type: ignore[arg-type]


def test_market_reduce_first_takes_down_our_quotes_it_would_trade_against() -> None:
    own_bid = order(Side.BUY, "99.50", oid="1")
    own_ask = order(Side.SELL, "100.50", oid="2")
    actions = reduce_actions(quotes=[own_bid, own_ask])
    assert actions.reduce is not None and actions.reduce.side is Side.SELL
    assert own_bid in actions.cancel and own_ask not in actions.cancel
    assert all(intent.side is Side.SELL for intent in actions.quotes)
    maker = reduce_actions(quotes=[own_bid, own_ask], reduce_mode="maker")
    assert own_bid not in maker.cancel
    assert any(intent.side is Side.BUY for intent in maker.quotes)


def test_market_reduce_is_not_sent_twice() -> None:
    assert reduce_actions(reduce_blocked=True).reduce is None
    resting = order(Side.SELL, "100.01", "0.5", oid="9", reduce_only=True)
    assert reduce_actions(reduces=[resting]).reduce is None


def test_maker_reduce_joins_the_best_price_on_its_side() -> None:
    sell = reduce_actions(reduce_mode="maker").reduce
    assert sell is not None
    assert (sell.side, sell.price, sell.quantity, sell.post_only, sell.reduce_only) == (
        Side.SELL,
        D("100.01"),
        D("0.5"),
        True,
        True,
    )
    buy = reduce_actions(reduce_mode="maker", position_action=ReduceAction(Side.BUY, D("0.3"))).reduce
    assert buy is not None
    assert (buy.side, buy.price) == (Side.BUY, D("99.99"))
    # The plan prices from the market without our orders; the reduce joins the venue's best,
    # which may be our own quote.
    joined = reduce_actions(reduce_mode="maker", best=(D("99.99"), D("100.00"))).reduce
    assert joined is not None and joined.price == D("100.00")


def test_maker_reduce_is_kept_at_the_best_price_and_moved_when_the_book_moves() -> None:
    right = order(Side.SELL, "100.01", "0.5", oid="7", reduce_only=True)
    kept = reduce_actions(reduce_mode="maker", reduces=[right])
    assert kept.reduce is None
    assert right not in kept.cancel
    stale = order(Side.SELL, "100.05", "0.5", oid="8", reduce_only=True)
    moved = reduce_actions(reduce_mode="maker", reduces=[stale])
    assert stale in moved.cancel
    assert moved.reduce is not None and moved.reduce.price == D("100.01")


def test_a_reduce_no_longer_needed_is_cancelled() -> None:
    resting = order(Side.SELL, "100.01", "0.5", oid="7", reduce_only=True)
    actions = reduce_actions(reduce_mode="maker", reduces=[resting], position_action=None)
    assert actions.cancel == (resting,)
    assert actions.reduce is None


def test_guardian_zone_sends_no_reduce_of_its_own() -> None:
    actions = reduce_actions(plan=plan("6"), position_action=GuardianZone(Side.SELL, D(1)))
    assert actions.reduce is None
    assert all(i.side is Side.SELL for i in actions.quotes)


# ---------------------------------------------------------------- pacing


def test_pacer_allows_a_burst_then_waits_for_refill() -> None:
    pacer = OrderPacer(rate_per_s=4, burst=4, now_s=0.0)
    assert pacer.available(now_s=0.0) == 4
    assert pacer.wait_s(now_s=0.0) == 0
    pacer.take(4, now_s=0.0)
    assert pacer.available(now_s=0.0) == 0
    assert pacer.wait_s(now_s=0.0) == pytest.approx(0.25)
    assert pacer.available(now_s=0.5) == 2
    assert pacer.available(now_s=100.0) == 4


def test_pacer_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        OrderPacer(rate_per_s=0, burst=1, now_s=0.0)


def ladder_actions(budget: int | None, **over: object) -> Actions:
    base: dict[str, object] = {
        "mode": Mode.QUOTE,
        "plan": plan("0"),
        "quotes": [],
        "reduces": [],
        "position_action": None,
        "reduce_mode": "maker",
        "reduce_blocked": False,
        "tick": TICK,
        "budget": budget,
    }
    base.update(over)
    return plan_actions(**base)  # type: ignore[arg-type]


def test_budget_goes_to_the_reduce_then_the_innermost_quotes_of_both_sides() -> None:
    full = ladder_actions(None, plan=plan("2.5"), position_action=ReduceAction(Side.SELL, D("0.5")))
    assert len(full.places) == 5 and full.deferred == 0
    three = ladder_actions(3, plan=plan("2.5"), position_action=ReduceAction(Side.SELL, D("0.5")))
    assert three.reduce == full.reduce
    assert three.quotes == full.quotes[:2]
    assert [(i.side, i.price) for i in three.quotes] == [(Side.BUY, D("99.50")), (Side.SELL, D("100.50"))]
    assert three.deferred == 2
    none = ladder_actions(0, plan=plan("2.5"), position_action=ReduceAction(Side.SELL, D("0.5")))
    assert none.places == () and none.deferred == 5


def test_a_wrong_quote_stays_until_its_replacement_fits_the_budget() -> None:
    # The whole ladder moved by a tick: four replacements wanted, budget for two.
    old = [
        order(Side.BUY, "99.49", oid="1"),
        order(Side.BUY, "99.47", oid="2"),
        order(Side.SELL, "100.49", oid="3"),
        order(Side.SELL, "100.51", oid="4"),
    ]
    actions = ladder_actions(2, quotes=old)
    assert [(i.side, i.price) for i in actions.quotes] == [(Side.BUY, D("99.50")), (Side.SELL, D("100.50"))]
    # Only the inner orders make way; the outer ones keep their sides quoted meanwhile.
    assert [o.order_id for o in actions.cancel] == ["1", "3"]
    assert actions.deferred == 2


def test_short_budget_fills_an_empty_side_before_moving_a_quote_that_is_only_off() -> None:
    # The bid is off by a tick; the ask side is empty: with one order to spend, the ask goes first.
    actions = ladder_actions(1, quotes=[order(Side.BUY, "99.49", oid="1"), order(Side.BUY, "99.48", oid="2")])
    assert [(i.side, i.price) for i in actions.quotes] == [(Side.SELL, D("100.50"))]
    assert actions.cancel == ()


def test_short_budget_moves_the_most_off_quote_first() -> None:
    quotes = [
        order(Side.BUY, "99.49", oid="1"),
        order(Side.BUY, "99.48", oid="2"),
        order(Side.SELL, "100.40", oid="3"),
        order(Side.SELL, "100.52", oid="4"),
    ]
    actions = ladder_actions(1, quotes=quotes)
    assert [(i.side, i.price) for i in actions.quotes] == [(Side.SELL, D("100.50"))]
    assert [o.order_id for o in actions.cancel] == ["3"]


def test_quotes_beyond_the_new_ladder_go_whatever_the_budget() -> None:
    # Long 4.95 of max 5: the ladder keeps no bid, so every resting bid must go, budget or not.
    bids = [order(Side.BUY, "99.49", oid="1"), order(Side.BUY, "99.47", oid="2")]
    actions = ladder_actions(0, plan=plan("4.95"), quotes=bids)
    assert [o.order_id for o in actions.cancel] == ["1", "2"]
    assert all(intent.side is Side.SELL for intent in actions.quotes)


def test_an_order_larger_than_a_layer_is_cancelled_whatever_the_budget() -> None:
    big = order(Side.BUY, "99.49", "2", oid="1")
    actions = ladder_actions(0, quotes=[big])
    assert actions.cancel == (big,)
    assert actions.places == ()


# ---------------------------------------------------------------- sequence_requests


def quote(side: Side, price: str, quantity: str = "0.1") -> OrderIntent:
    return OrderIntent(side=side, quantity=D(quantity), price=D(price), post_only=True, reduce_only=False)


def early_late(actions: Actions, *, resting: list[OrderUpdate], position: str = "0", max_position: str = "5"):
    batches = sequence_requests(actions, resting=resting, position=D(position), max_position=D(max_position))
    return batches.early, batches.late


def test_a_small_move_sends_the_new_quotes_with_the_cancels_the_exposed_old_quote_first() -> None:
    # The market moved up a little: the new bid stays under the old ask, the new ask above the old bid.
    old_bid, old_ask = order(Side.BUY, "99.96", oid="1"), order(Side.SELL, "100.04", oid="2")
    new = (quote(Side.BUY, "100.01"), quote(Side.SELL, "100.09"))
    batches = sequence_requests(
        Actions(cancel=(old_bid, old_ask), quotes=new),
        resting=[old_bid, old_ask],
        position=D(0),
        max_position=D(5),
    )
    # The old ask is now below the new one, where a buyer reaches it first: it is cancelled first.
    # The old bid sits behind the new bid: its cancel can follow the new quotes.
    assert batches == Batches(urgent=(old_ask,), early=new, cancels=(old_bid,), late=())


def test_a_quote_that_would_cross_an_order_being_cancelled_waits() -> None:
    # A jump up past the old ask: the new bid would meet it (a post-only bid would be refused).
    old = [order(Side.BUY, "99.96", oid="1"), order(Side.SELL, "100.04", oid="2")]
    bid, ask = quote(Side.BUY, "100.46"), quote(Side.SELL, "100.54")
    batches = sequence_requests(
        Actions(cancel=tuple(old), quotes=(bid, ask)), resting=old, position=D(0), max_position=D(5)
    )
    # The new bid waits, so it shields nothing: both cancels go first.
    assert batches == Batches(urgent=tuple(old), early=(ask,), cancels=(), late=(bid,))
    # Touching the old ask is crossing too.
    touch = quote(Side.BUY, "100.04")
    assert early_late(Actions(quotes=(touch,)), resting=old) == ((), (touch,))


def test_a_quote_waits_when_old_and_new_orders_filled_together_would_pass_max_position() -> None:
    old = [order(Side.BUY, "99.90", "1", oid="1"), order(Side.BUY, "99.80", "1", oid="2")]
    new = (quote(Side.BUY, "99.95", "1"), quote(Side.BUY, "99.85", "1"))
    # Long 2.5 with 2 resting: the first new bid makes the worst case 5.5, the second 6.5.
    assert early_late(Actions(quotes=new), resting=old, position="2.5") == ((), new)
    assert early_late(Actions(quotes=new), resting=old, position="2.5", max_position="6") == (
        new[:1],
        new[1:],
    )
    assert early_late(Actions(quotes=new), resting=old, position="2.5", max_position="7") == (new, ())
    # A sell against a long position only brings it back: it goes out even past max position.
    sell = quote(Side.SELL, "100.10", "1")
    assert early_late(Actions(quotes=(sell,)), resting=old, position="6") == ((sell,), ())


def test_closed_orders_do_not_hold_quotes_back_and_the_reduce_always_waits() -> None:
    filled = dataclasses.replace(order(Side.SELL, "100.04", oid="2"), status=OrderStatus.FILLED)
    reduce = OrderIntent(side=Side.SELL, quantity=D("0.5"), price=None, post_only=False, reduce_only=True)
    bid = quote(Side.BUY, "100.10")
    assert early_late(Actions(quotes=(bid,), reduce=reduce), resting=[filled], position="1") == (
        (bid,),
        (reduce,),
    )
