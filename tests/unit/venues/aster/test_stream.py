"""The Aster stream's pure pieces: depth continuity by ``pu`` and user-data events for one symbol."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.wire import Fill, OrderUpdate, Position
from venues.aster.parse import PositionLegs
from venues.aster.stream import _account_events, _apply_depth
from venues.common.book import Applied, LocalBook

D = Decimal


def depth(first: int, last: int, previous: int, **sides: list[list[str]]) -> dict[str, object]:
    return {"e": "depthUpdate", "E": 1, "s": "SOLUSDT", "U": first, "u": last, "pu": previous, **sides}


def test_depth_chain_by_pu_and_malformed_is_a_gap() -> None:
    book = LocalBook("SOLUSDT")
    book.seed(bids=[(D("150"), D("1"))], asks=[(D("150.1"), D("1"))], last_update_id=10)
    assert _apply_depth(book, depth(9, 12, 8, b=[["150", "2"]])) is Applied.APPLIED
    assert _apply_depth(book, depth(15, 16, 12, a=[["150.1", "0"], ["150.2", "3"]])) is Applied.APPLIED
    assert book.top().asks == [(D("150.2"), D("3"))] and book.top().bids == [(D("150"), D("2"))]
    assert _apply_depth(book, depth(17, 18, 17)) is Applied.GAP
    book.seed(bids=[], asks=[], last_update_id=1)
    assert _apply_depth(book, {"e": "depthUpdate", "U": 2, "u": 3}) is Applied.GAP
    assert not book.seeded


ORDER_UPDATE: dict[str, Any] = {
    "e": "ORDER_TRADE_UPDATE",
    "E": 1700000000000,
    "o": {
        "s": "SOLUSDT", "c": "3", "S": "SELL", "o": "LIMIT", "f": "GTX", "q": "1", "p": "150", "x": "TRADE",
        "X": "FILLED", "i": 9, "l": "1", "z": "1", "L": "150", "n": "0.03", "N": "USDT", "t": 44, "m": True,
    },
}  # fmt: skip


def test_order_trade_update_gives_the_fill_first_then_the_order() -> None:
    legs = PositionLegs("SOLUSDT")
    events = _account_events("ORDER_TRADE_UPDATE", ORDER_UPDATE, legs)
    assert [type(e.msg) for e in events] == [Fill, OrderUpdate]
    assert events[0].ts_ns == 1700000000000 * 1_000_000
    other = {**ORDER_UPDATE, "o": {**ORDER_UPDATE["o"], "s": "BTCUSDT"}}
    assert _account_events("ORDER_TRADE_UPDATE", other, legs) == []


def test_account_update_for_the_symbol_gives_the_net_position() -> None:
    legs = PositionLegs("SOLUSDT")
    update = {
        "e": "ACCOUNT_UPDATE",
        "E": 5,
        "a": {"m": "ORDER", "P": [{"s": "SOLUSDT", "pa": "-1", "ep": "150", "up": "0.1", "ps": "BOTH"}]},
    }
    (event,) = _account_events("ACCOUNT_UPDATE", update, legs)
    assert isinstance(event.msg, Position) and event.msg.quantity == D("-1")
    elsewhere = {
        "e": "ACCOUNT_UPDATE",
        "E": 5,
        "a": {"m": "ORDER", "P": [{"s": "BTCUSDT", "pa": "1", "ep": "1", "ps": "BOTH"}]},
    }
    assert _account_events("ACCOUNT_UPDATE", elsewhere, legs) == []
    assert _account_events("MARGIN_CALL", {"e": "MARGIN_CALL"}, legs) == []
