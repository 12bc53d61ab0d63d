"""Aster history paging with a scripted fetch: fills forward by trade id, funding forward by time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.wire import Fill, OrderStatus, OrderType, OrderUpdate, Side
from venues.aster.history import OrderClientIds, funding_income, parsed, rows, user_trades
from venues.base import Unavailable
from venues.common.parse import dec


def trade(number: int, symbol: str = "SOLUSDT") -> dict[str, Any]:
    return {"symbol": symbol, "id": number, "orderId": 1, "side": "SELL", "price": "150", "qty": "0.01"}


async def test_newest_trades_come_in_one_page_and_other_symbols_are_dropped() -> None:
    asked: list[dict[str, Any]] = []

    async def fetch(params: dict[str, Any]) -> Any:
        asked.append(params)
        return [trade(3), trade(1), trade(2, "BTCUSDT"), trade(1)]

    fills = await user_trades(fetch, "SOLUSDT", since_ms=None, limit=50)
    assert [f.trade_id for f in fills] == ["1", "3"]
    assert asked == [{"symbol": "SOLUSDT", "startTime": None, "limit": 50}]


async def test_funding_pages_forward_by_time_until_a_short_page() -> None:
    asked: list[Any] = []

    async def fetch(params: dict[str, Any]) -> Any:
        asked.append(params["startTime"])
        start = params["startTime"]
        count = 1000 if start == 10 else 2
        return [
            {"symbol": "SOLUSDT", "income": "-0.01", "tranId": start + i, "time": start + i}
            for i in range(count)
        ]

    payments = await funding_income(fetch, "SOLUSDT", since_ms=10)
    assert asked == [10, 1010]
    assert len(payments) == 1002 and payments[0].payment_id == "10" and payments[-1].payment_id == "1011"
    assert sum((p.amount for p in payments), Decimal(0)) == Decimal("-10.02")


def test_rows_and_parsed_turn_bad_payloads_into_unavailable() -> None:
    assert rows(None, "x") == []
    with pytest.raises(Unavailable, match="not a list"):
        rows({"a": 1}, "x")
    assert parsed("n", dec, "1.5") == Decimal("1.5")
    with pytest.raises(Unavailable, match="malformed n"):
        parsed("n", dec, "abc")


def test_order_client_ids_fill_in_and_forget_the_oldest() -> None:
    def order(order_id: str, client_id: int | None) -> OrderUpdate:
        return OrderUpdate(
            symbol="SOLUSDT", order_id=order_id, client_id=client_id, side=Side.BUY,
            order_type=OrderType.LIMIT, price=Decimal(150), quantity=Decimal(1),
            filled_quantity=Decimal(0), status=OrderStatus.NEW,
        )  # fmt: skip

    def fill(order_id: str) -> Fill:
        return Fill(
            symbol="SOLUSDT", trade_id=order_id + "t", order_id=order_id, client_id=None, side=Side.BUY,
            price=Decimal(150), quantity=Decimal(1), fee=Decimal(0), fee_asset="USDT", is_maker=True,
        )  # fmt: skip

    ids = OrderClientIds(max_orders=2)
    for order_id, client_id in (("1", 11), ("2", 22), ("3", None), ("4", 44)):
        assert ids.remember(order(order_id, client_id)).order_id == order_id
    filled, missing = ids.fill_in([fill("1"), fill("2"), fill("3"), fill("4"), fill("3")])
    assert [f.client_id for f in filled] == [None, 22, None, 44, None]
    assert missing == ["1", "3"]
