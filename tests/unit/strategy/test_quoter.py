from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategy_fakes import RULES

from services.wire import OrderStatus, OrderType, OrderUpdate, Side
from strategy.quoter import (
    Layer,
    QuoteParams,
    QuotePlan,
    SuppressReason,
    active_quotes,
    banded,
    diff_orders,
    layer_offsets_ticks,
    plan_quotes,
    requote_needed,
    requote_tolerance,
    skew_offset,
)
from venues.precision import MarketRules

TICK = D("0.01")


def params(**over: object) -> QuoteParams:
    base: dict[str, object] = {
        "spread_pct": D("1"),
        "quantity": D("0.1"),
        "max_orders": 1,
        "inventory_skew": D("0"),
        "max_position": D("10"),
    }
    base.update(over)
    return QuoteParams(**base)  # type: ignore[arg-type]


def plan(
    *,
    bid: str = "99.99",
    ask: str = "100.01",
    position: str = "0",
    rules: MarketRules = RULES,
    **over: object,
):
    return plan_quotes(bid=D(bid), ask=D(ask), rules=rules, params=params(**over), position=D(position))


def order(
    side: Side,
    price: str | None,
    quantity: str,
    *,
    filled: str = "0",
    status: OrderStatus = OrderStatus.NEW,
    order_id: str = "o",
) -> OrderUpdate:
    # Built from a dict: services.codec.message has no dataclass_transform, so mypy cannot see the fields.
    fields: dict[str, Any] = dict(
        symbol=RULES.symbol,
        order_id=order_id,
        client_id=None,
        side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        price=D(price) if price is not None else None,
        quantity=D(quantity),
        filled_quantity=D(filled),
        status=status,
    )
    return OrderUpdate(**fields)


# ---------------------------------------------------------------- spread and layers


def test_spread_is_full_width_in_percent_of_mid() -> None:
    p = plan(bid="100.00", ask="100.02", spread_pct=D("0.2"))
    assert p.mid == D("100.01")
    assert p.raw_bid == D("99.90999")
    assert p.raw_ask == D("100.11001")
    assert p.raw_ask - p.raw_bid == D("0.20002")
    # bids floor, asks ceil: never more aggressive than computed
    assert (p.bid_price, p.ask_price) == (D("99.90"), D("100.12"))
    assert p.layers == (Layer(Side.BUY, D("99.90"), D("0.1")), Layer(Side.SELL, D("100.12"), D("0.1")))


def test_layer_offsets_follow_the_original_rule() -> None:
    # round_half_up(1.5 * i**1.5): 1.5 -> 2, 4.24 -> 4, 7.79 -> 8, 12, 16.77 -> 17, ... 9 -> 40.5 -> 41
    assert layer_offsets_ticks(10) == (0, 2, 4, 8, 12, 17, 22, 28, 34, 41)
    offsets = layer_offsets_ticks(60)
    assert all(b > a for a, b in pairwise(offsets))
    assert layer_offsets_ticks(0) == ()


def test_layers_step_outward_from_the_first_quote() -> None:
    p = plan(max_orders=4)
    assert [layer.price for layer in p.bids] == [D("99.50"), D("99.48"), D("99.46"), D("99.42")]
    assert [layer.price for layer in p.asks] == [D("100.50"), D("100.52"), D("100.54"), D("100.58")]
    assert all(layer.quantity == D("0.1") for layer in p.layers)
    assert p.bid_reason is None and p.ask_reason is None


# ---------------------------------------------------------------- skew


@pytest.mark.parametrize(
    ("skew", "position", "offset", "bid", "ask"),
    [
        ("0", "5", "0", "99.50", "100.50"),
        ("0", "-5", "0", "99.50", "100.50"),
        ("0.3", "5", "0.15", "99.35", "100.35"),
        ("0.3", "-5", "-0.15", "99.65", "100.65"),
        ("1", "5", "0.5", "99.00", "100.00"),
        ("1", "-5", "-0.5", "100.00", "101.00"),
        # beyond max the ratio clamps to +-1: at most one spread width
        ("1", "25", "1", "98.50", "100.00"),
        ("0.3", "-25", "-0.3", "99.80", "100.80"),
    ],
)
def test_skew_moves_both_quotes_against_the_inventory(
    skew: str, position: str, offset: str, bid: str, ask: str
) -> None:
    # mid 100, spread 1% -> raw 99.50 / 100.50, width 1.00
    p = plan(position=position, inventory_skew=D(skew))
    assert p.skew_offset == D(offset)
    assert (p.bid_price, p.ask_price) == (D(bid), D(ask))


def test_skew_is_measured_from_the_signed_target() -> None:
    assert (
        skew_offset(position=D("5"), params=params(inventory_skew=D("1"), target_position=D("5")), width=D(1))
        == 0
    )
    long_of_target = params(inventory_skew=D("0.5"), target_position=D("-2"))
    assert skew_offset(position=D("0"), params=long_of_target, width=D(2)) == D("0.2")


# ---------------------------------------------------------------- snapping and crossing


def test_snapping_floors_bids_and_ceils_asks() -> None:
    rules = MarketRules("X", "X", "USDC", tick_size=D("0.5"), step_size=D("0.001"), min_quantity=D("0.001"))
    p = plan(bid="1000.0", ask="1000.5", rules=rules, spread_pct=D("0.1"), quantity=D("0.0129"))
    # mid 1000.25, half 0.500125 -> raw 999.749875 / 1000.750125
    assert (p.bid_price, p.ask_price) == (D("999.5"), D("1001.0"))
    assert {layer.quantity for layer in p.layers} == {D("0.012")}


def test_full_skew_never_crosses_the_opposite_best() -> None:
    long_full = plan(position="10", inventory_skew=D("1"), max_orders=3)
    # raw ask 100.50 - 1.00 = 99.50 would take the 99.99 bid: held at bid + tick
    assert long_full.ask_price == D("100.00")
    short_full = plan(position="-10", inventory_skew=D("1"), max_orders=3)
    assert short_full.bid_price == D("100.00")
    assert all(layer.price < D("100.01") for layer in short_full.bids)
    assert all(layer.price > D("99.99") for layer in long_full.asks)


def test_tight_spread_stays_inside_the_book_without_crossing() -> None:
    p = plan(bid="100.00", ask="100.10", spread_pct=D("0.01"))
    assert (p.bid_price, p.ask_price) == (D("100.04"), D("100.06"))


@pytest.mark.parametrize(("bid", "ask"), [("100", "100"), ("100.01", "100"), ("0", "1")])
def test_unusable_book_quotes_nothing(bid: str, ask: str) -> None:
    p = plan(bid=bid, ask=ask)
    assert p.layers == ()
    assert p.bid_price is None and p.ask_price is None
    assert p.bid_reason is SuppressReason.BAD_BOOK and p.ask_reason is SuppressReason.BAD_BOOK


def test_non_positive_bid_is_dropped() -> None:
    p = plan(bid="0.02", ask="0.03", spread_pct=D("150"))
    assert p.bids == () and p.bid_price is None
    assert p.bid_reason is SuppressReason.BAD_PRICE
    assert p.ask_price == D("0.05")


# ---------------------------------------------------------------- position limit and minimums


def test_no_buys_at_max_position() -> None:
    p = plan(position="10", max_orders=3)
    assert p.bids == ()
    assert p.bid_reason is SuppressReason.MAX_POSITION
    assert len(p.asks) == 3 and p.ask_reason is None


def test_no_sells_at_max_short() -> None:
    p = plan(position="-10", max_orders=3)
    assert p.asks == ()
    assert p.ask_reason is SuppressReason.MAX_POSITION
    assert len(p.bids) == 3


def test_ladder_truncates_from_the_outside_in() -> None:
    # room 0.25 for buys: two whole layers of 0.1, the third would pass max
    p = plan(position="9.75", max_orders=4)
    assert [layer.price for layer in p.bids] == [D("99.50"), D("99.48")]
    assert p.bid_reason is SuppressReason.MAX_POSITION
    assert sum(layer.quantity for layer in p.bids) + D("9.75") <= D("10")
    # sells have room 19.75: all four
    assert len(p.asks) == 4


def test_layer_exactly_reaching_max_is_kept() -> None:
    p = plan(position="9.8", max_orders=3)
    assert len(p.bids) == 2
    assert sum(layer.quantity for layer in p.bids) + D("9.8") == D("10")


def test_layer_below_min_notional_is_dropped() -> None:
    rules = MarketRules("X", "SOL", "USDC", D("0.01"), D("0.01"), D("0.01"), min_notional=D("9.949"))
    # notionals: bids 9.950, 9.948, 9.946 ; asks 10.050, 10.052, 10.054
    p = plan(rules=rules, max_orders=3)
    assert [layer.price for layer in p.bids] == [D("99.50")]
    assert p.bid_reason is SuppressReason.MIN_SIZE
    assert len(p.asks) == 3 and p.ask_reason is None


def test_quantity_below_min_quantity_quotes_nothing() -> None:
    rules = MarketRules("X", "SOL", "USDC", D("0.01"), D("0.01"), min_quantity=D("0.5"))
    p = plan(rules=rules, max_orders=2)
    assert p.layers == ()
    assert p.bid_reason is SuppressReason.MIN_SIZE and p.ask_reason is SuppressReason.MIN_SIZE


@pytest.mark.parametrize(
    "bad",
    [
        {"spread_pct": D("0")},
        {"quantity": D("0")},
        {"max_orders": 0},
        {"inventory_skew": D("1.1")},
        {"inventory_skew": D("-0.1")},
        {"max_position": D("0")},
    ],
)
def test_params_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        params(**bad)


prices = st.decimals(min_value=D("0.05"), max_value=D("5000"), places=2)


@settings(max_examples=300, deadline=None)
@given(
    bid=prices,
    width_ticks=st.integers(min_value=1, max_value=50),
    spread_pct=st.decimals(min_value=D("0.001"), max_value=D("5"), places=3),
    skew=st.decimals(min_value=D("0"), max_value=D("1"), places=2),
    position=st.decimals(min_value=D("-15"), max_value=D("15"), places=2),
    max_orders=st.integers(min_value=1, max_value=6),
)
def test_ladder_invariants(
    bid: D, width_ticks: int, spread_pct: D, skew: D, position: D, max_orders: int
) -> None:
    ask = bid + width_ticks * RULES.tick_size
    p = plan_quotes(
        bid=bid,
        ask=ask,
        rules=RULES,
        params=params(spread_pct=spread_pct, inventory_skew=skew, max_orders=max_orders),
        position=position,
    )
    for side, layers in ((Side.BUY, p.bids), (Side.SELL, p.asks)):
        assert len(layers) <= max_orders
        for layer in layers:
            assert layer.price % RULES.tick_size == 0 and layer.price > 0
            assert layer.price < ask if side is Side.BUY else layer.price > bid
        distances = [abs(layer.price - layers[0].price) for layer in layers]
        assert distances == sorted(set(distances))
    assert position + sum(layer.quantity for layer in p.bids) <= max(D(10), position)
    assert position - sum(layer.quantity for layer in p.asks) >= min(D(-10), position)
    if p.bids and p.asks:
        assert p.bids[0].price < p.asks[0].price


# ---------------------------------------------------------------- reconciling and requoting


def test_diff_keeps_matching_orders_and_replaces_the_rest() -> None:
    desired = [
        Layer(Side.BUY, D("99.50"), D("0.1")),
        Layer(Side.BUY, D("99.48"), D("0.1")),
        Layer(Side.SELL, D("100.50"), D("0.1")),
        Layer(Side.SELL, D("100.52"), D("0.1")),
    ]
    keep_bid = order(Side.BUY, "99.5", "0.1", order_id="keep-bid")  # same price, other spelling
    keep_ask = order(Side.SELL, "100.50", "0.3", filled="0.2", order_id="keep-ask")  # remaining matches
    moved = order(Side.BUY, "99.47", "0.1", order_id="moved")
    partial = order(Side.SELL, "100.52", "0.1", filled="0.05", order_id="partial")
    done = order(Side.BUY, "99.48", "0.1", status=OrderStatus.FILLED, order_id="done")
    wrong_side = order(Side.SELL, "99.48", "0.1", order_id="wrong-side")
    to_cancel, to_place = diff_orders(
        desired, [keep_bid, keep_ask, moved, partial, done, wrong_side], tick=D("0.01")
    )
    assert [o.order_id for o in to_cancel] == ["moved", "partial", "wrong-side"]
    assert to_place == [desired[1], desired[3]]


def test_diff_matches_each_layer_once() -> None:
    desired = [Layer(Side.BUY, D("99.50"), D("0.1"))]
    twins = [order(Side.BUY, "99.50", "0.1", order_id="a"), order(Side.BUY, "99.50", "0.1", order_id="b")]
    to_cancel, to_place = diff_orders(desired, twins, tick=D("0.01"))
    assert [o.order_id for o in to_cancel] == ["b"]
    assert to_place == []


def test_diff_cancels_orders_off_the_tick_grid() -> None:
    desired = [Layer(Side.BUY, D("99.50"), D("0.1"))]
    to_cancel, to_place = diff_orders(desired, [order(Side.BUY, "99.50", "0.1")], tick=D("0.2"))
    assert len(to_cancel) == 1 and to_place == desired


def test_diff_with_nothing_resting_places_everything() -> None:
    desired = list(plan(max_orders=2).layers)
    assert diff_orders(desired, [], tick=D("0.01")) == ([], desired)


def test_requote_only_on_a_tick_move() -> None:
    k = D("0.3")
    # offset 0.015: raw 99.485 / 100.485 -> 99.48 / 100.49
    first = plan(position="0.5", inventory_skew=k)
    assert requote_needed(None, first, tolerance=TICK)
    # offset 0.018 moves the raw quotes by 0.003, under a tick: same prices, no requote
    assert not requote_needed(first, plan(position="0.6", inventory_skew=k), tolerance=TICK)
    # offset 0.027: the bid drops a tick
    assert requote_needed(first, plan(position="0.9", inventory_skew=k), tolerance=TICK)
    # the book moves a tick
    assert requote_needed(
        first, plan(bid="100.00", ask="100.02", position="0.5", inventory_skew=k), tolerance=TICK
    )
    # a side suppressed by the position limit is a change too
    assert requote_needed(first, plan(position="10", inventory_skew=k), tolerance=TICK)


def test_active_quotes_are_best_open_prices() -> None:
    resting = [
        order(Side.BUY, "99.5", "0.1"),
        order(Side.BUY, "99.6", "0.1", status=OrderStatus.CANCELLED),
        order(Side.BUY, "99.4", "0.1"),
        order(Side.SELL, "100.6", "0.1"),
        order(Side.SELL, "100.5", "0.1", status=OrderStatus.PARTIALLY_FILLED, filled="0.05"),
        order(Side.SELL, None, "0.1"),
    ]
    assert active_quotes(resting) == (D("99.5"), D("100.5"))
    assert active_quotes([]) == (None, None)


BTC = MarketRules(
    symbol="BTC-USD-PERP",
    base_asset="BTC",
    quote_asset="USD",
    tick_size=D("0.1"),
    step_size=D("0.001"),
    min_quantity=D("0.001"),
)


def btc_plan(bid: str, ask: str) -> QuotePlan:
    return plan(bid=bid, ask=ask, rules=BTC, spread_pct=D("0.01"), quantity=D("0.01"), max_orders=2)


def test_the_requote_tolerance_is_a_fraction_of_the_width_and_never_under_a_tick() -> None:
    # SOL at 150 with a 0.05% spread: width 0.075, a tenth of it is under the 0.01 tick.
    sol = plan(bid="149.99", ask="150.01", spread_pct=D("0.05"))
    assert requote_tolerance(sol, threshold=D("0.1"), tick=TICK) == TICK
    # BTC at 60000 with a 0.01% spread: width 6, a tenth is 0.6 = 6 ticks of 0.1.
    btc = btc_plan("59999.9", "60000.1")
    assert btc.raw_ask - btc.raw_bid == D("6.0000")
    assert requote_tolerance(btc, threshold=D("0.1"), tick=D("0.1")) == D("0.6")
    assert requote_tolerance(btc, threshold=D(0), tick=D("0.1")) == D("0.1")


def test_btc_is_not_requoted_on_every_tick_but_on_a_tolerance_move() -> None:
    first = btc_plan("59999.9", "60000.1")
    tolerance = requote_tolerance(first, threshold=D("0.1"), tick=BTC.tick_size)
    tick = BTC.tick_size
    ticks_later = [btc_plan(str(D("59999.9") + n * tick), str(D("60000.1") + n * tick)) for n in range(1, 8)]
    moved = [requote_needed(first, later, tolerance=tolerance) for later in ticks_later]
    # The quotes follow the mid (give or take a tick of snapping): up to 4 ticks stay, 6 and more requote.
    assert moved[:4] == [False] * 4 and moved[5:] == [True] * 2
    # With a one-tick tolerance (the rule before the threshold) every tick was a requote.
    assert all(requote_needed(first, later, tolerance=BTC.tick_size) for later in ticks_later)


def test_diff_keeps_quotes_within_the_tolerance_and_replaces_the_far_ones() -> None:
    desired = [
        Layer(Side.BUY, D("99.50"), D("0.1")),
        Layer(Side.BUY, D("99.48"), D("0.1")),
        Layer(Side.SELL, D("100.50"), D("0.1")),
        Layer(Side.SELL, D("100.52"), D("0.1")),
    ]
    near_bid = order(Side.BUY, "99.53", "0.1", order_id="near-bid")  # 3 ticks off the inner bid
    near_outer = order(Side.BUY, "99.51", "0.1", order_id="near-outer")  # 3 ticks off the outer bid
    far_ask = order(Side.SELL, "100.54", "0.1", order_id="far-ask")  # 4 ticks off the inner ask
    exact_ask = order(Side.SELL, "100.52", "0.1", order_id="exact-ask")
    small = order(Side.BUY, "99.49", "0.05", order_id="small")  # near, but not the layer's size
    resting = [near_bid, near_outer, far_ask, exact_ask, small]
    to_cancel, to_place = diff_orders(desired, resting, tick=TICK, tolerance=D("0.04"))
    assert sorted(o.order_id for o in to_cancel) == ["far-ask", "small"]
    assert to_place == [desired[2]]
    # Without a tolerance only the exact quote stays.
    to_cancel, to_place = diff_orders(desired, resting, tick=TICK)
    assert sorted(o.order_id for o in to_cancel) == ["far-ask", "near-bid", "near-outer", "small"]
    assert to_place == desired[:3]


def test_quotes_stay_inside_the_percent_price_band_around_the_mark() -> None:
    banded = replace(RULES, price_up=D("1.05"), price_down=D("0.95"))
    # The book trades 10% above the mark: a bid near it would be refused (buy above mark * 1.05).
    p = plan_quotes(
        bid=D("109.99"), ask=D("110.01"), rules=banded, params=params(), position=D(0), mark=D(100)
    )
    assert p.bid_price == D("105.00") and p.ask_price == D("110.55")
    # Below the mark, asks come up to mark * 0.95.
    p = plan_quotes(bid=D("89.99"), ask=D("90.01"), rules=banded, params=params(), position=D(0), mark=D(100))
    assert p.bid_price == D("89.55") and p.ask_price == D("95.00")
    # Inside the band, or without a mark, nothing moves.
    assert (
        plan_quotes(
            bid=D("99.99"), ask=D("100.01"), rules=banded, params=params(), position=D(0), mark=D(100)
        ).layers
        == plan(bid="99.99", ask="100.01").layers
    )


def test_the_best_prices_a_maker_reduce_joins_stay_inside_the_band() -> None:
    band = replace(RULES, price_up=D("1.05"), price_down=D("0.95"))
    assert banded(band, D("109.99"), D("110.01"), mark=D(100)) == (D("105.00"), D("110.01"))
    assert banded(band, D("89.99"), D("90.01"), mark=D(100)) == (D("89.99"), D("95.00"))
    assert banded(band, D("89.99"), D("90.01"), mark=None) == (D("89.99"), D("90.01"))
