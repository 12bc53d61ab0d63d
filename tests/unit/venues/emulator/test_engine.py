"""The emulator engine: matching, priority, order rules, fees, PnL, funding and margin, exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.wire import OrderStatus, OrderType, RejectReason, Side, TimeInForce
from venues.emulator.engine import Engine, FeeSchedule
from venues.emulator.events import (
    BookEvent,
    FundingEvent,
    MarkEvent,
    OrderEvent,
    OrderEventKind,
    PositionEvent,
    TradeEvent,
)
from venues.emulator.records import (
    ExpiryReason,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    RejectDetail,
    SelfTradePrevention,
)
from venues.precision import MarketRules

D = Decimal
SOL = "SOL_USDC_PERP"
RULES = MarketRules(
    symbol=SOL,
    base_asset="SOL",
    quote_asset="USDC",
    tick_size=D("0.01"),
    step_size=D("0.01"),
    min_quantity=D("0.01"),
)
T0 = 1_700_000_000_000
HOUR_MS = 3_600_000


def make_engine(*, collateral: str = "1000000", maker_bps: str = "2", taker_bps: str = "5") -> Engine:
    engine = Engine(
        markets={SOL: RULES},
        now_ms=T0,
        fees=FeeSchedule(maker_bps=D(maker_bps), taker_bps=D(taker_bps)),
        funding_interval_ms=HOUR_MS,
    )
    for name in ("a", "b", "c"):
        engine.add_account(name, collateral=D(collateral))
    engine.set_mark(SOL, mark=D("100"), index=D("100"), funding_rate=D("0.0001"), now_ms=T0)
    return engine


def limit(side: Side, qty: str, price: str, **kw: object) -> OrderRequest:
    return OrderRequest(symbol=SOL, side=side, quantity=D(qty), price=D(price), **kw)  # type: ignore[arg-type]


def market(side: Side, qty: str, **kw: object) -> OrderRequest:
    return OrderRequest(symbol=SOL, side=side, order_type=OrderType.MARKET, quantity=D(qty), **kw)  # type: ignore[arg-type]


def fills(events: list) -> list[OrderEvent]:
    return [e for e in events if isinstance(e, OrderEvent) and e.kind is OrderEventKind.FILL]


@pytest.fixture
def engine() -> Engine:
    return make_engine()


# ---------------------------------------------------------------- matching and priority


def test_price_then_time_priority(engine: Engine) -> None:
    first, _ = engine.place("a", limit(Side.SELL, "1", "101"), now_ms=T0)
    second, _ = engine.place("b", limit(Side.SELL, "1", "101"), now_ms=T0 + 1)
    better, _ = engine.place("b", limit(Side.SELL, "1", "100.5"), now_ms=T0 + 2)

    taker, events = engine.place("c", limit(Side.BUY, "2", "101"), now_ms=T0 + 3)

    maker_fills = [e.fill for e in fills(events) if e.fill and e.fill.is_maker]
    assert [f.order_id for f in maker_fills] == [better.order_id, first.order_id]
    assert [f.price for f in maker_fills] == [D("100.5"), D("101")]
    assert taker.status is OrderStatus.FILLED
    assert taker.filled_quote == D("201.5")
    assert engine.open_orders("b") == [second]
    assert second.status is OrderStatus.NEW


def test_partial_fill_rests_remainder_and_ioc_expires_it(engine: Engine) -> None:
    engine.place("a", limit(Side.SELL, "1", "100"), now_ms=T0)
    gtc, _ = engine.place("b", limit(Side.BUY, "3", "100"), now_ms=T0)
    assert gtc.status is OrderStatus.PARTIALLY_FILLED
    assert gtc.filled_quantity == D("1")
    assert engine.depth(SOL)[0] == [(D("100"), D("2"))]

    maker, _ = engine.place("a", limit(Side.BUY, "1", "99"), now_ms=T0)
    ioc, events = engine.place("c", limit(Side.SELL, "5", "99", tif=TimeInForce.IOC), now_ms=T0)
    assert ioc.status is OrderStatus.EXPIRED
    assert ioc.expiry_reason is ExpiryReason.IMMEDIATE_OR_CANCEL
    assert ioc.filled_quantity == D("3")
    assert maker.status is OrderStatus.FILLED
    assert engine.depth(SOL)[0] == []
    assert [e.kind for e in events if isinstance(e, OrderEvent) and e.order.order_id == ioc.order_id] == [
        OrderEventKind.ACCEPTED,
        OrderEventKind.FILL,
        OrderEventKind.FILL,
        OrderEventKind.EXPIRED,
    ]


def test_market_order_sweeps_levels_and_expires_unfilled_rest(engine: Engine) -> None:
    engine.place("a", limit(Side.SELL, "1", "100"), now_ms=T0)
    engine.place("a", limit(Side.SELL, "1", "102"), now_ms=T0)
    order, events = engine.place("b", market(Side.BUY, "3"), now_ms=T0)
    assert [(t.price, t.quantity) for t in events if isinstance(t, TradeEvent)] == [
        (D("100"), D("1")),
        (D("102"), D("1")),
    ]
    assert order.status is OrderStatus.EXPIRED
    assert order.expiry_reason is ExpiryReason.INSUFFICIENT_LIQUIDITY
    assert order.filled_quantity == D("2")


def test_market_order_with_quote_budget(engine: Engine) -> None:
    engine.place("a", limit(Side.SELL, "1", "100"), now_ms=T0)
    engine.place("a", limit(Side.SELL, "5", "110"), now_ms=T0)
    request = OrderRequest(symbol=SOL, side=Side.BUY, order_type=OrderType.MARKET, quote_quantity=D("320"))
    order, _ = engine.place("b", request, now_ms=T0)
    # 100 buys 1 at 100; 220 left buys floor(220/110, 0.01) = 2 at 110.
    assert order.filled_quantity == D("3")
    assert order.filled_quote == D("320")
    assert order.status is OrderStatus.FILLED


def test_fill_or_kill_all_or_nothing(engine: Engine) -> None:
    engine.place("a", limit(Side.SELL, "1", "100"), now_ms=T0)
    killed, events = engine.place(
        "b", limit(Side.BUY, "2", "100", tif=TimeInForce.IOC, fill_or_kill=True), now_ms=T0
    )
    assert killed.status is OrderStatus.EXPIRED
    assert killed.expiry_reason is ExpiryReason.FILL_OR_KILL
    assert not fills(events)
    done, _ = engine.place(
        "b", limit(Side.BUY, "1", "100", tif=TimeInForce.IOC, fill_or_kill=True), now_ms=T0
    )
    assert done.status is OrderStatus.FILLED


def test_event_order_of_a_crossing_order(engine: Engine) -> None:
    engine.place("a", limit(Side.SELL, "1", "100"), now_ms=T0)
    taker, events = engine.place("b", limit(Side.BUY, "1", "100", client_id=7), now_ms=T0 + 5)
    kinds = [
        (type(e).__name__, e.kind.value if isinstance(e, OrderEvent) else getattr(e, "account_id", ""))
        for e in events
    ]
    assert kinds == [
        ("OrderEvent", "accepted"),
        ("OrderEvent", "fill"),
        ("OrderEvent", "fill"),
        ("TradeEvent", ""),
        ("PositionEvent", "a"),
        ("PositionEvent", "b"),
        ("BookEvent", ""),
    ]
    accepted = events[0]
    assert isinstance(accepted, OrderEvent)
    assert accepted.order.status is OrderStatus.NEW  # a copy taken at the time, not the live order
    taker_fill = events[2]
    assert isinstance(taker_fill, OrderEvent) and taker_fill.fill is not None
    assert (taker_fill.fill.client_id, taker_fill.fill.is_maker, taker_fill.fill.ts_ms) == (7, False, T0 + 5)
    trade = events[3]
    assert isinstance(trade, TradeEvent)
    assert trade.taker_side is Side.BUY and trade.buyer_is_maker is False
    assert trade.trade_id == taker_fill.fill.trade_id
    assert taker.order_id == taker_fill.order.order_id


def test_trade_ids_unique_and_increasing(engine: Engine) -> None:
    for _ in range(3):
        engine.place("a", limit(Side.SELL, "1", "100"), now_ms=T0)
    _, events = engine.place("b", market(Side.BUY, "3"), now_ms=T0)
    ids = [e.trade_id for e in events if isinstance(e, TradeEvent)]
    assert ids == sorted(set(ids)) and len(ids) == 3


# ---------------------------------------------------------------- order rules


def test_post_only_refused_when_it_would_take(engine: Engine) -> None:
    engine.place("a", limit(Side.SELL, "1", "100"), now_ms=T0)
    with pytest.raises(OrderRejected) as refused:
        engine.place("b", limit(Side.BUY, "1", "100", post_only=True), now_ms=T0)
    assert refused.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
    assert refused.value.detail is RejectDetail.POST_ONLY_TAKER
    assert engine.account("b").orders_placed == 0
    resting, _ = engine.place("b", limit(Side.BUY, "1", "99.99", post_only=True), now_ms=T0)
    assert resting.status is OrderStatus.NEW and resting.post_only


def test_reduce_only_refused_when_flat_or_same_side(engine: Engine) -> None:
    with pytest.raises(OrderRejected) as flat:
        engine.place("a", market(Side.SELL, "1", reduce_only=True), now_ms=T0)
    assert flat.value.reason is RejectReason.REDUCE_ONLY
    engine.set_position("a", SOL, quantity=D("2"), entry_price=D("100"), now_ms=T0)
    with pytest.raises(OrderRejected):
        engine.place("a", limit(Side.BUY, "1", "90", reduce_only=True), now_ms=T0)


def test_reduce_only_shrunk_to_position_never_flips(engine: Engine) -> None:
    engine.set_position("a", SOL, quantity=D("2"), entry_price=D("100"), now_ms=T0)
    engine.place("b", limit(Side.BUY, "10", "100"), now_ms=T0)
    order, _ = engine.place("a", market(Side.SELL, "5", reduce_only=True), now_ms=T0)
    assert order.quantity == D("2")
    assert order.status is OrderStatus.FILLED
    assert engine.position("a", SOL).quantity == 0


def test_resting_reduce_only_follows_the_position(engine: Engine) -> None:
    engine.set_position("a", SOL, quantity=D("3"), entry_price=D("100"), now_ms=T0)
    reduce, _ = engine.place("a", limit(Side.SELL, "3", "105", reduce_only=True), now_ms=T0)
    engine.place("b", limit(Side.BUY, "2", "99"), now_ms=T0)
    # Another of a's sells cuts the position to 1: the resting reduce-only order shrinks to 1.
    _, events = engine.place("a", market(Side.SELL, "2"), now_ms=T0)
    assert reduce.quantity == D("1")
    assert any(isinstance(e, OrderEvent) and e.kind is OrderEventKind.MODIFIED for e in events)
    assert engine.depth(SOL)[1] == [(D("105"), D("1"))]
    # Flat: the reduce-only order can only add now, so it expires.
    engine.place("c", limit(Side.BUY, "1", "98"), now_ms=T0)
    engine.place("a", market(Side.SELL, "1"), now_ms=T0)
    assert reduce.status is OrderStatus.EXPIRED
    assert reduce.expiry_reason is ExpiryReason.REDUCE_ONLY_NOT_REDUCED
    assert engine.depth(SOL)[1] == []


def test_self_trade_reject_taker_default(engine: Engine) -> None:
    other, _ = engine.place("b", limit(Side.SELL, "1", "100"), now_ms=T0)
    own, _ = engine.place("a", limit(Side.SELL, "1", "100.5"), now_ms=T0)
    taker, events = engine.place("a", limit(Side.BUY, "3", "101"), now_ms=T0)
    assert other.status is OrderStatus.FILLED  # trades with others before reaching its own order
    assert taker.filled_quantity == D("1")
    assert taker.status is OrderStatus.EXPIRED
    assert taker.expiry_reason is ExpiryReason.SELF_TRADE_PREVENTION
    assert own.status is OrderStatus.NEW and own.filled_quantity == 0
    assert all(f.fill is not None and f.fill.order_id != own.order_id for f in fills(events))


def test_self_trade_reject_maker_cancels_resting_and_continues(engine: Engine) -> None:
    own, _ = engine.place("a", limit(Side.SELL, "1", "100"), now_ms=T0)
    engine.place("b", limit(Side.SELL, "1", "100"), now_ms=T0)
    taker, _ = engine.place("a", limit(Side.BUY, "1", "100", stp=SelfTradePrevention.REJECT_MAKER), now_ms=T0)
    assert own.status is OrderStatus.EXPIRED
    assert own.expiry_reason is ExpiryReason.SELF_TRADE_PREVENTION
    assert taker.status is OrderStatus.FILLED


def test_validation_details() -> None:
    engine = make_engine()
    cases = [
        (limit(Side.BUY, "1", "100.005"), RejectDetail.PRICE_TICK),
        (limit(Side.BUY, "1.005", "100"), RejectDetail.QUANTITY_STEP),
        (limit(Side.BUY, "0", "100"), RejectDetail.QUANTITY_NOT_POSITIVE),
        (OrderRequest(symbol=SOL, side=Side.BUY, quantity=D("1")), RejectDetail.PRICE_MISSING),
        (
            OrderRequest(symbol="DOGE", side=Side.BUY, quantity=D("1"), price=D("1")),
            RejectDetail.UNKNOWN_SYMBOL,
        ),
        (limit(Side.BUY, "1", "100", client_id=2**32), RejectDetail.CLIENT_ID),
        (market(Side.BUY, "1", post_only=True), RejectDetail.POST_ONLY_MARKET),
    ]
    for request, detail in cases:
        with pytest.raises(OrderRejected) as refused:
            engine.place("a", request, now_ms=T0)
        assert refused.value.detail is detail, request
    with pytest.raises(OrderRejected) as unknown:
        engine.place("nobody", limit(Side.BUY, "1", "100"), now_ms=T0)
    assert unknown.value.reason is RejectReason.AUTH


def test_cancel_by_id_or_client_id_and_cancel_all(engine: Engine) -> None:
    one, _ = engine.place("a", limit(Side.BUY, "1", "99", client_id=11), now_ms=T0)
    two, _ = engine.place("a", limit(Side.BUY, "1", "98", client_id=12), now_ms=T0)
    three, _ = engine.place("a", limit(Side.SELL, "1", "101"), now_ms=T0)
    assert engine.find_open("a", SOL, client_id=12) is two
    cancelled, events = engine.cancel("a", SOL, client_id=11, now_ms=T0)
    assert cancelled is one and one.status is OrderStatus.CANCELLED
    assert [e.kind for e in events if isinstance(e, OrderEvent)] == [OrderEventKind.CANCELLED]
    with pytest.raises(OrderNotFound):
        engine.cancel("a", SOL, order_id=one.order_id, now_ms=T0)
    with pytest.raises(OrderNotFound):
        engine.cancel("b", SOL, order_id=two.order_id, now_ms=T0)  # not b's order
    orders, _ = engine.cancel_all("a", SOL, now_ms=T0)
    assert orders == [two, three]
    assert engine.open_orders("a") == []
    assert engine.depth(SOL)[:2] == ([], [])
    assert list(engine.account("a").closed_orders) == [one, two, three]


# ---------------------------------------------------------------- fees, entry price, PnL


def test_fees_charged_in_quote_and_deducted_from_collateral() -> None:
    engine = make_engine(collateral="10000")
    engine.place("a", limit(Side.SELL, "2", "150.37"), now_ms=T0)
    _, events = engine.place("b", market(Side.BUY, "2"), now_ms=T0)
    by_account = {f.fill.account_id: f.fill for f in fills(events) if f.fill}
    # notional 300.74: maker 2 bps = 0.060148, taker 5 bps = 0.15037
    assert by_account["a"].fee == D("0.060148") and by_account["a"].is_maker
    assert by_account["b"].fee == D("0.15037") and not by_account["b"].is_maker
    assert by_account["a"].fee_asset == "USDC"
    assert engine.account("a").collateral == D("10000") - D("0.060148")
    assert engine.account("b").collateral == D("10000") - D("0.15037")


def test_fee_rounds_up_to_the_quote_unit_and_rebates() -> None:
    engine = make_engine(maker_bps="-1", taker_bps="5")
    engine.place("a", limit(Side.SELL, "0.1", "126.49"), now_ms=T0)
    _, events = engine.place("b", market(Side.BUY, "0.1"), now_ms=T0)
    by_account = {f.fill.account_id: f.fill for f in fills(events) if f.fill}
    assert by_account["b"].fee == D("0.006325")  # 0.0063245 rounded up
    assert by_account["a"].fee == D("-0.001264")  # a rebate, rounded toward zero
    assert engine.account("a").collateral == D("1000000.001264")


def test_average_entry_and_realized_pnl_exact() -> None:
    engine = make_engine(maker_bps="0", taker_bps="0")

    def trade(side: Side, qty: str, price: str) -> None:
        engine.place("b", limit(side.opposite, qty, price), now_ms=T0)
        engine.place("a", market(side, qty), now_ms=T0)

    trade(Side.BUY, "1", "100")
    trade(Side.BUY, "3", "110")
    position = engine.position("a", SOL)
    assert (position.quantity, position.entry_price) == (D("4"), D("107.5"))
    trade(Side.SELL, "1.5", "120")
    position = engine.position("a", SOL)
    assert (position.quantity, position.entry_price, position.realized_pnl) == (
        D("2.5"),
        D("107.5"),
        D("18.75"),
    )
    trade(Side.SELL, "4", "100")  # closes 2.5 at a loss, flips 1.5 short at 100
    position = engine.position("a", SOL)
    assert position.realized_pnl == D("18.75") - D("18.75")
    assert (position.quantity, position.entry_price) == (D("-1.5"), D("100"))
    assert engine.account("a").collateral == D("1000000")  # realized sum 0, no fees
    assert engine.position("b", SOL).quantity == D("1.5")
    engine.set_mark(SOL, mark=D("90"), index=D("90"), funding_rate=D("0"), now_ms=T0)
    assert engine.position("a", SOL).unrealized_pnl == D("15")
    assert engine.margin("a").equity == D("1000015")


def test_position_events_report_previous_quantity(engine: Engine) -> None:
    engine.place("b", limit(Side.SELL, "1", "100"), now_ms=T0)
    _, events = engine.place("a", market(Side.BUY, "1"), now_ms=T0)
    mine = [e for e in events if isinstance(e, PositionEvent) and e.account_id == "a"]
    assert len(mine) == 1
    assert (mine[0].previous_quantity, mine[0].position.quantity, mine[0].position.entry_price) == (
        D("0"),
        D("1"),
        D("100"),
    )
    assert mine[0].position.mark == D("100")


# ---------------------------------------------------------------- funding


def test_funding_longs_pay_shorts_when_rate_positive(engine: Engine) -> None:
    engine.set_position("a", SOL, quantity=D("2"), entry_price=D("100"), now_ms=T0)
    engine.set_position("b", SOL, quantity=D("-2"), entry_price=D("100"), now_ms=T0)
    engine.set_mark(SOL, mark=D("150"), index=D("150"), funding_rate=D("0.0001"), now_ms=T0)
    next_ms = engine.mark_state(SOL).next_funding_ms
    assert next_ms % HOUR_MS == 0 and T0 < next_ms <= T0 + HOUR_MS
    assert engine.advance(next_ms - 1) == []
    events = engine.advance(next_ms)
    rows = {e.account_id: e.row for e in events if isinstance(e, FundingEvent)}
    assert rows["a"].amount == D("-0.03")  # 2 * 150 * 0.0001 paid
    assert rows["b"].amount == D("0.03")
    assert rows["a"].interval_end_ms == next_ms
    assert engine.account("a").collateral == D("1000000") - D("0.03")
    assert engine.position("b", SOL).funding == D("0.03")
    assert engine.mark_state(SOL).next_funding_ms == next_ms + HOUR_MS
    assert list(engine.account("a").funding_rows) == [rows["a"]]


def test_funding_negative_rate_shorts_pay_and_missed_intervals_settle(engine: Engine) -> None:
    engine.set_position("a", SOL, quantity=D("-1"), entry_price=D("100"), now_ms=T0)
    engine.set_mark(SOL, mark=D("100"), index=D("100"), funding_rate=D("-0.0005"), now_ms=T0)
    next_ms = engine.mark_state(SOL).next_funding_ms
    events = engine.advance(next_ms + 2 * HOUR_MS)
    amounts = [e.row.amount for e in events if isinstance(e, FundingEvent)]
    assert amounts == [D("-0.05")] * 3
    assert engine.position("a", SOL).funding == D("-0.15")
    assert list(engine.mark_state(SOL).history)[-1] == (next_ms + 2 * HOUR_MS, D("-0.0005"))


def test_set_mark_reports_only_changes(engine: Engine) -> None:
    assert engine.set_mark(SOL, mark=D("100"), index=D("100"), funding_rate=D("0.0001"), now_ms=T0) == []
    events = engine.set_mark(SOL, mark=D("101"), index=D("100.9"), funding_rate=D("0.0001"), now_ms=T0)
    assert len(events) == 1 and isinstance(events[0], MarkEvent) and events[0].mark == D("101")


# ---------------------------------------------------------------- margin


def test_margin_refuses_orders_beyond_equity_at_leverage() -> None:
    engine = make_engine(collateral="100")  # 10x: worst-case notional up to 1000
    with pytest.raises(OrderRejected) as refused:
        engine.place("a", limit(Side.BUY, "10.01", "100"), now_ms=T0)
    assert refused.value.reason is RejectReason.INSUFFICIENT_MARGIN
    engine.place("a", limit(Side.BUY, "6", "90"), now_ms=T0)
    with pytest.raises(OrderRejected):
        engine.place("a", limit(Side.BUY, "5", "90"), now_ms=T0)
    # A sell only offsets the resting buys in the worst case, so it is accepted.
    engine.place("a", limit(Side.SELL, "6", "110"), now_ms=T0)
    view = engine.margin("a")
    assert view.initial_margin == D("60.0")  # max(|0+6|, |0-6|) * mark 100 / 10
    assert view.available == D("40.0")


def test_margin_lets_a_position_reduce_when_underwater() -> None:
    engine = make_engine(collateral="100")
    engine.set_position("a", SOL, quantity=D("20"), entry_price=D("100"), now_ms=T0)
    engine.place("b", limit(Side.BUY, "5", "99"), now_ms=T0)
    order, _ = engine.place("a", limit(Side.SELL, "5", "99"), now_ms=T0)  # not reduce-only, but reduces
    assert order.status is OrderStatus.FILLED
    with pytest.raises(OrderRejected):
        engine.place("a", limit(Side.BUY, "1", "90"), now_ms=T0)


# ---------------------------------------------------------------- book events and depth


def test_book_events_are_consecutive_absolute_levels(engine: Engine) -> None:
    _, first = engine.place("a", limit(Side.BUY, "1", "99"), now_ms=T0)
    _, second = engine.place("b", limit(Side.BUY, "2", "99"), now_ms=T0)
    _, third = engine.place("c", market(Side.SELL, "1.5"), now_ms=T0)
    books = [e for events in (first, second, third) for e in events if isinstance(e, BookEvent)]
    assert [b.update_id for b in books] == [1, 2, 3]
    assert [b.bids for b in books] == [((D("99"), D("1")),), ((D("99"), D("3")),), ((D("99"), D("1.5")),)]
    bids, asks, update_id = engine.depth(SOL)
    assert (bids, asks, update_id) == ([(D("99"), D("1.5"))], [], 3)
    _, cancel_events = engine.cancel_all("b", SOL, now_ms=T0)
    book = [e for e in cancel_events if isinstance(e, BookEvent)]
    assert book[0].bids == ((D("99"), D("0")),) and book[0].update_id == 4
    assert engine.top(SOL) == (None, None)
