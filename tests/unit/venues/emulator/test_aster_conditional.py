"""Aster's conditional orders: when each type triggers, by which price, and what the book remembers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.wire import Side
from venues.emulator.aster_conditional import Conditional, ConditionalBook

D = Decimal


def conditional(kind: str, side: Side, **fields: Any) -> Conditional:
    values: dict[str, Any] = {
        "order_id": "1",
        "account_id": "a",
        "symbol": "SOLUSDT",
        "side": side,
        "kind": kind,
        "quantity": D("1"),
        "price": None,
        "stop_price": D("100"),
        "activation_price": None,
        "callback_rate": None,
        "working_type": "CONTRACT_PRICE",
        "time_in_force": "GTC",
        "reduce_only": False,
        "close_position": False,
        "created_ms": 0,
    }
    return Conditional(**(values | fields))


def test_stops_trigger_through_their_price_and_take_profits_the_other_way() -> None:
    assert conditional("STOP_MARKET", Side.BUY).triggered(D("100"))
    assert not conditional("STOP_MARKET", Side.BUY).triggered(D("99.99"))
    assert conditional("STOP", Side.SELL).triggered(D("99"))
    assert not conditional("STOP", Side.SELL).triggered(D("100.01"))
    assert conditional("TAKE_PROFIT_MARKET", Side.BUY).triggered(D("99"))
    assert not conditional("TAKE_PROFIT_MARKET", Side.BUY).triggered(D("101"))
    assert conditional("TAKE_PROFIT", Side.SELL).triggered(D("101"))
    assert conditional("STOP", Side.SELL).limit and not conditional("STOP_MARKET", Side.SELL).limit


def test_a_trailing_stop_triggers_after_activation_on_the_turn() -> None:
    order = conditional(
        "TRAILING_STOP_MARKET", Side.SELL, stop_price=None, activation_price=D("110"), callback_rate=D("1")
    )
    assert not order.triggered(D("105"))  # not activated yet
    assert not order.triggered(D("110")) and not order.triggered(D("120"))
    assert not order.triggered(D("118.81"))  # less than 1% off the high of 120
    assert order.triggered(D("118.80"))


def test_the_book_fires_by_each_order_s_working_price_and_remembers_the_type() -> None:
    book = ConditionalBook(max_triggered=2)
    book.add(conditional("STOP_MARKET", Side.SELL, order_id="1"))
    book.add(conditional("STOP_MARKET", Side.SELL, order_id="2", working_type="MARK_PRICE"))
    assert [o.order_id for o in book.waiting("a", "SOLUSDT")] == ["1", "2"]
    assert [o.order_id for o in book.fire("SOLUSDT", last=D("99"), mark=None)] == ["1"]
    assert book.fire("SOLUSDT", last=None, mark=D("101")) == []
    assert [o.order_id for o in book.fire("SOLUSDT", last=None, mark=D("100"))] == ["2"]
    assert book.original_type("1") == "STOP_MARKET" and not book.waiting_on("SOLUSDT")
    book.name("3", "LIQUIDATION")
    assert book.original_type("1") is None and book.original_type("3") == "LIQUIDATION"  # bounded
    book.add(conditional("STOP", Side.BUY, order_id="4"))
    assert book.remove("4") is not None and book.get("4") is None
    book.clear()
    assert book.original_type("3") is None
