"""Backpack trigger orders in the emulator: when they fire and for how much (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.wire import OrderType, Side
from venues.emulator.backpack_triggers import (
    CANCELLED,
    PENDING,
    TriggerBook,
    TriggerOrder,
    carried_quantity,
    parse_trigger_quantity,
)
from venues.emulator.records import OrderRequest

D = Decimal


def trigger(
    order_id: str, *, price: str, rises: bool, quantity: str | None = None, by: str = "LastPrice"
) -> TriggerOrder:
    request = OrderRequest(
        symbol="S",
        side=Side.SELL,
        order_type=OrderType.MARKET,
        quantity=None if quantity is None else D(quantity),
        reduce_only=True,
        client_id=int(order_id),
    )
    return TriggerOrder(
        order_id=order_id,
        account_id="a",
        request=request,
        trigger_price=D(price),
        trigger_by=by,
        trigger_quantity="50%" if quantity is None else None,
        rises=rises,
        created_ms=0,
    )


def test_a_trigger_fires_when_its_price_is_reached_from_its_side() -> None:
    book = TriggerBook()
    stop, take = trigger("1", price="90", rises=False, quantity="1"), trigger("2", price="110", rises=True)
    book.add(stop)
    book.add(take)
    assert book.due("S", "LastPrice", D(100)) == []
    assert book.due("S", "MarkPrice", D(80)) == []
    assert book.due("S", "LastPrice", D(90)) == [stop]
    assert book.due("S", "LastPrice", D(111)) == [take]
    assert book.find("a", "S", order_id=None, client_id=2) is take
    book.close(take, CANCELLED)
    assert book.find("a", "S", order_id="2", client_id=None) is None and stop.status == PENDING


def test_the_carried_quantity_is_an_amount_or_a_share_of_the_position() -> None:
    assert (
        carried_quantity(trigger("1", price="1", rises=True, quantity="2"), position=D(0), step=D("0.1")) == 2
    )
    half = trigger("2", price="1", rises=True)
    assert carried_quantity(half, position=D("-0.75"), step=D("0.1")) == D("0.3")
    assert parse_trigger_quantity("12.5%") == D("12.5")
    for bad in ("0", "-1", "150%", "x"):
        with pytest.raises(ValueError):
            parse_trigger_quantity(bad)
