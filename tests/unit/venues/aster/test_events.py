"""Aster WebSocket payloads as bus types."""

from __future__ import annotations

from decimal import Decimal

from services.wire import OrderStatus, OrderType, Side
from venues.aster.events import (
    bbo_from_ws,
    event_time_ns,
    fill_from_ws,
    mark_from_ws,
    order_from_ws,
    trade_from_ws,
)

D = Decimal

UPDATE = {
    "s": "SOLUSDT",
    "c": "12",
    "S": "BUY",
    "o": "LIMIT",
    "f": "GTX",
    "q": "0.5",
    "p": "150.1",
    "x": "TRADE",
    "X": "PARTIALLY_FILLED",
    "i": 8886774,
    "l": "0.2",
    "z": "0.2",
    "L": "150.1",
    "N": "USDT",
    "n": "0.006",
    "T": 1568879465651,
    "t": 5,
    "m": True,
    "R": False,
}


def test_event_time_is_milliseconds_to_nanoseconds() -> None:
    assert event_time_ns({"E": 1568014460893}) == 1568014460893_000_000
    assert event_time_ns({"T": 5}) == 5_000_000
    assert event_time_ns({}) is None and event_time_ns([]) is None


def test_book_ticker_trade_and_mark() -> None:
    bbo = bbo_from_ws(
        {"e": "bookTicker", "u": 400900217, "s": "SOLUSDT", "b": "150", "B": "31", "a": "150.1", "A": "40"}
    )
    assert bbo is not None and (bbo.bid, bbo.ask_qty, bbo.update_id) == (D("150"), D("40"), 400900217)
    assert bbo_from_ws({"s": "SOLUSDT", "b": "", "B": "0", "a": "1", "A": "1"}) is None
    sold = trade_from_ws({"e": "aggTrade", "s": "SOLUSDT", "a": 26129, "p": "150", "q": "1.5", "m": True})
    assert sold.taker_side is Side.SELL and sold.trade_id == "26129"
    assert trade_from_ws({"s": "SOLUSDT", "a": 1, "p": "1", "q": "1", "m": False}).taker_side is Side.BUY
    mark = mark_from_ws(
        {"e": "markPriceUpdate", "s": "SOLUSDT", "p": "150.05", "i": "150", "r": "0.0001", "T": 1562306400000}
    )
    assert (mark.mark, mark.index, mark.funding_rate, mark.next_funding_ms) == (
        D("150.05"),
        D("150"),
        D("0.0001"),
        1562306400000,
    )


def test_order_trade_update_is_an_order_and_a_fill() -> None:
    order = order_from_ws(UPDATE)
    assert (order.order_id, order.client_id, order.status) == ("8886774", 12, OrderStatus.PARTIALLY_FILLED)
    assert order.post_only and order.order_type is OrderType.LIMIT and order.filled_quantity == D("0.2")
    fill = fill_from_ws(UPDATE)
    assert fill is not None
    assert (fill.trade_id, fill.price, fill.quantity, fill.fee, fill.is_maker) == (
        "5",
        D("150.1"),
        D("0.2"),
        D("0.006"),
        True,
    )
    accepted = UPDATE | {"x": "NEW", "X": "NEW", "l": "0", "z": "0"}
    assert fill_from_ws(accepted) is None
    assert order_from_ws(UPDATE | {"o": "MARKET", "p": "0", "R": True}).price is None
    # A status the connector does not know is a foreign order resting, never an error.
    unknown = order_from_ws(UPDATE | {"X": "PENDING_TRIGGER"})
    assert unknown.order_type is OrderType.CONDITIONAL and unknown.status is OrderStatus.NEW
    assert unknown.venue_type == "LIMIT PENDING_TRIGGER"


def test_stops_and_take_profits_are_foreign_orders_also_once_triggered() -> None:
    base = UPDATE | {"c": "web_1", "x": "NEW", "X": "NEW", "l": "0", "z": "0", "p": "0", "sp": "140"}
    for kind in ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"):
        order = order_from_ws(base | {"o": kind, "ot": kind})
        assert (order.order_type, order.venue_type, order.status) == (
            OrderType.CONDITIONAL,
            kind,
            OrderStatus.NEW,
        )
        assert order.client_id is None and order.price is None
    triggered = order_from_ws(base | {"o": "MARKET", "ot": "STOP_MARKET", "x": "TRADE", "X": "FILLED"})
    assert triggered.order_type is OrderType.CONDITIONAL and triggered.venue_type == "STOP_MARKET"
    assert triggered.status is OrderStatus.FILLED


def test_a_liquidation_execution_is_a_fill() -> None:
    # The venue's own example of a liquidation: order type LIQUIDATION, execution CALCULATED, trade id 0.
    liquidation = UPDATE | {
        "c": "autoclose-1568879465651",
        "S": "SELL",
        "o": "LIQUIDATION",
        "ot": "LIQUIDATION",
        "f": "IOC",
        "q": "0.5",
        "p": "139.5",
        "x": "CALCULATED",
        "X": "FILLED",
        "l": "0.5",
        "z": "0.5",
        "L": "139.62",
        "t": 0,
        "m": False,
    }
    order = order_from_ws(liquidation)
    assert (order.order_type, order.venue_type, order.status) == (
        OrderType.CONDITIONAL,
        "LIQUIDATION",
        OrderStatus.FILLED,
    )
    fill = fill_from_ws(liquidation)
    assert fill is not None and fill.client_id is None and not fill.is_maker
    assert (fill.side, fill.price, fill.quantity) == (Side.SELL, D("139.62"), D("0.5"))
    assert fill.trade_id == "8886774-0.5"  # trade id 0: named by the order and its filled total
    assert fill_from_ws(liquidation | {"t": 77}).trade_id == "77"  # type: ignore[union-attr]
