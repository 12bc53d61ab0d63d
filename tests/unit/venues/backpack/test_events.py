"""Backpack stream payloads to bus types."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.wire import OrderStatus, OrderType, Side
from venues.backpack.events import (
    bbo_from_ws,
    event_time_ns,
    fill_from_ws,
    mark_from_ws,
    order_from_ws,
    position_from_ws,
    trade_from_ws,
)
from venues.common.parse import MalformedResponse, loads

D = Decimal
FILL_EVENT = {
    "e": "orderFill",
    "E": 1694687692980000,
    "s": "SOL_USDC_PERP",
    "c": 123,
    "S": "Bid",
    "o": "LIMIT",
    "f": "GTC",
    "q": "2",
    "p": "20.5",
    "X": "PartiallyFilled",
    "i": "1111343026172067",
    "t": 567,
    "l": "0.5",
    "z": "1.5",
    "L": "20.5",
    "m": True,
    "n": "0.0041",
    "N": "USDC",
    "y": True,
    "T": 1694687692989999,
}


def test_event_time_is_microseconds_to_ns() -> None:
    assert event_time_ns({"E": 1694687692980000}) == 1694687692980000000
    assert event_time_ns({"T": 5}) == 5000
    assert event_time_ns({}) is None


def test_book_ticker() -> None:
    bbo = bbo_from_ws(
        {
            "e": "bookTicker",
            "E": 1,
            "s": "SOL_USDC_PERP",
            "a": "18.70",
            "A": "1.000",
            "b": "18.67",
            "B": "2.000",
            "u": "111063070525358080",
        }
    )
    assert bbo is not None
    assert (bbo.bid, bbo.bid_qty, bbo.ask, bbo.ask_qty) == (D("18.67"), D("2.000"), D("18.70"), D("1.000"))
    assert bbo.update_id == 111063070525358080
    assert bbo_from_ws({"e": "bookTicker", "s": "S", "a": "1", "A": "1", "b": "", "B": ""}) is None


@pytest.mark.parametrize(("maker_is_buyer", "taker"), [(True, Side.SELL), (False, Side.BUY)])
def test_trade_taker_side(maker_is_buyer: bool, taker: Side) -> None:
    trade = trade_from_ws(
        {"e": "trade", "s": "S", "p": "18.68", "q": "0.122", "t": 12345, "m": maker_is_buyer}
    )
    assert (trade.trade_id, trade.price, trade.quantity, trade.taker_side) == (
        "12345",
        D("18.68"),
        D("0.122"),
        taker,
    )


def test_mark_price() -> None:
    mark = mark_from_ws(
        {"e": "markPrice", "s": "S", "p": "18.70", "f": "0.0001", "i": "18.69", "n": 1694688000000000}
    )
    assert (mark.mark, mark.index, mark.funding_rate, mark.next_funding_ms) == (
        D("18.70"),
        D("18.69"),
        D("0.0001"),
        1694688000000,
    )


def test_order_fill_event_gives_order_and_fill() -> None:
    order = order_from_ws(FILL_EVENT)
    assert order.order_id == "1111343026172067" and order.client_id == 123
    assert order.side is Side.BUY and order.order_type is OrderType.LIMIT
    assert order.price == D("20.5") and order.quantity == D(2) and order.filled_quantity == D("1.5")
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.post_only
    fill = fill_from_ws(FILL_EVENT)
    assert fill is not None
    assert (fill.trade_id, fill.order_id, fill.client_id) == ("567", "1111343026172067", 123)
    assert (fill.price, fill.quantity, fill.fee, fill.fee_asset, fill.is_maker) == (
        D("20.5"),
        D("0.5"),
        D("0.0041"),
        "USDC",
        True,
    )


def test_a_fill_without_a_trade_id_gets_the_id_its_history_row_gets() -> None:
    for missing in (0, None):
        fill = fill_from_ws({**FILL_EVENT, "t": missing})
        assert fill is not None and fill.trade_id == "1111343026172067@1694687692989:20.5x0.5"
    other = fill_from_ws({**FILL_EVENT, "t": 0, "l": "0.25"})
    assert other is not None and other.trade_id != "0"


def test_status_from_the_event_when_x_is_missing() -> None:
    base = {key: value for key, value in FILL_EVENT.items() if key not in ("X", "t", "l", "L", "m", "n", "N")}
    assert order_from_ws({**base, "e": "orderAccepted", "z": "0"}).status is OrderStatus.NEW
    assert order_from_ws({**base, "e": "orderCancelled"}).status is OrderStatus.CANCELLED
    expired = order_from_ws({**base, "e": "orderExpired", "R": "PostOnlyTaker"})
    assert expired.status is OrderStatus.EXPIRED and expired.reason == "PostOnlyTaker"
    assert order_from_ws({**base, "e": "orderFill", "z": "2"}).status is OrderStatus.FILLED
    assert fill_from_ws({**base, "e": "orderAccepted"}) is None


def test_trigger_order_events_are_conditional() -> None:
    # As Backpack's client documents them: a stop placed, then cancelled.
    placed = loads(
        '{"E":1748288167010366,"O":"USER","P":"178.05","Q":"0","S":"Ask","T":1748288167009460,"V":"RejectTaker",'
        '"X":"TriggerPending","Y":"20.03","Z":"0","e":"triggerPlaced","f":"GTC","i":"114575813313101824",'
        '"o":"LIMIT","p":"178.15","q":"0","r":false,"s":"SOL_USDC","t":null,"z":"0"}'
    )
    stop = order_from_ws(placed)
    assert stop.order_type is OrderType.CONDITIONAL and stop.venue_type == "Limit TriggerPending"
    assert stop.status is OrderStatus.NEW and stop.quantity == D("20.03") and stop.price == D("178.15")
    assert fill_from_ws(placed) is None
    cancelled = order_from_ws({**placed, "e": "orderCancelled", "X": "Cancelled", "Y": "80%"})
    assert cancelled.order_type is OrderType.CONDITIONAL and cancelled.status is OrderStatus.CANCELLED
    unknown = order_from_ws({**placed, "e": "orderSomethingNew", "X": "Paused", "P": None, "Y": None})
    assert unknown.order_type is OrderType.CONDITIONAL and unknown.venue_type == "Limit Paused"


def test_market_order_event() -> None:
    raw = {"e": "orderAccepted", "s": "S", "S": "Ask", "o": "MARKET", "q": "1", "i": "9", "X": "New"}
    order = order_from_ws(raw)
    assert order.order_type is OrderType.MARKET and order.price is None and order.client_id is None


def test_position_update_numbers_stay_exact() -> None:
    raw = loads(
        '{"e":"positionAdjusted","E":1,"s":"SOL_USDC_PERP","b":123.1,"B":122.3,"M":122.9,"q":-5.1,"p":"-1","P":"0.5"}'
    )
    position = position_from_ws(raw)
    assert position.quantity == D("-5.1") and position.entry_price == D("122.3")
    assert (
        position.mark_price == D("122.9")
        and position.realized_pnl == D(-1)
        and position.unrealized_pnl == D("0.5")
    )


def test_malformed_events() -> None:
    with pytest.raises(MalformedResponse):
        order_from_ws({"e": "orderAccepted"})
    with pytest.raises(MalformedResponse):
        trade_from_ws({"s": "S"})
