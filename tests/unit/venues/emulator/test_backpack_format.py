"""Backpack's JSON shapes of engine records: conditional stream fields, REST orders, history times."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from services.wire import OrderStatus, OrderType, Side, TimeInForce
from venues.emulator.backpack_format import fill_json, iso_ms, iso_s, order_json, order_update
from venues.emulator.events import OrderEvent, OrderEventKind
from venues.emulator.records import ExpiryReason, Fill, Order, SelfTradePrevention

D = Decimal
LIMIT = Order(
    order_id="12",
    account_id="k",
    symbol="SOL_USDC_PERP",
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    price=D("150.10"),
    quantity=D("2.50"),
    quote_quantity=None,
    tif=TimeInForce.GTC,
    fill_or_kill=False,
    post_only=True,
    reduce_only=False,
    client_id=None,
    stp=SelfTradePrevention.REJECT_TAKER,
    created_ms=1_700_000_000_123,
)


def test_iso_times_are_naive_utc() -> None:
    assert iso_ms(1_743_598_676_809) == "2025-04-02T12:57:56.809"
    assert iso_s(1_743_609_600_000) == "2025-04-02T16:00:00"


def test_rest_order_shapes() -> None:
    limit = order_json(LIMIT)
    assert (limit["price"], limit["quantity"], limit["postOnly"], limit["clientId"]) == (
        "150.1",
        "2.5",
        True,
        None,
    )
    assert (limit["side"], limit["status"], limit["timeInForce"], limit["orderType"]) == (
        "Bid",
        "New",
        "GTC",
        "Limit",
    )
    market = order_json(
        replace(
            LIMIT,
            order_type=OrderType.MARKET,
            price=None,
            side=Side.SELL,
            tif=TimeInForce.IOC,
            fill_or_kill=True,
        )
    )
    assert "price" not in market and "postOnly" not in market and market["timeInForce"] == "FOK"
    assert market["side"] == "Ask" and market["quoteQuantity"] is None


def test_order_update_fields_are_conditional() -> None:
    accepted = order_update(OrderEvent(kind=OrderEventKind.ACCEPTED, order=LIMIT, ts_ms=5), now_us=9)
    assert "c" not in accepted and "t" not in accepted and "R" not in accepted
    assert (accepted["e"], accepted["o"], accepted["p"], accepted["T"], accepted["E"]) == (
        "orderAccepted",
        "LIMIT",
        "150.1",
        5000,
        9,
    )
    expired = replace(LIMIT, client_id=3, status=OrderStatus.EXPIRED, expiry_reason=ExpiryReason.FILL_OR_KILL)
    data = order_update(OrderEvent(kind=OrderEventKind.EXPIRED, order=expired, ts_ms=5), now_us=9)
    assert (data["c"], data["X"], data["R"]) == (3, "Expired", "FillOrKill")
    fill = Fill(
        trade_id=77,
        account_id="k",
        order_id="12",
        client_id=3,
        symbol="SOL_USDC_PERP",
        side=Side.BUY,
        price=D("150.1"),
        quantity=D("1"),
        fee=D("0.030020"),
        fee_asset="USDC",
        is_maker=True,
        ts_ms=1_743_598_676_809,
    )
    filled = replace(
        expired, status=OrderStatus.PARTIALLY_FILLED, filled_quantity=D("1"), filled_quote=D("150.1")
    )
    data = order_update(OrderEvent(kind=OrderEventKind.FILL, order=filled, ts_ms=5, fill=fill), now_us=9)
    assert (data["t"], data["l"], data["L"], data["m"], data["n"], data["N"], data["z"], data["Z"]) == (
        77,
        "1",
        "150.1",
        True,
        "0.03002",
        "USDC",
        "1",
        "150.1",
    )
    assert "R" not in data
    assert fill_json(fill) == {
        "clientId": "3",
        "fee": "0.03002",
        "feeSymbol": "USDC",
        "isMaker": True,
        "orderId": "12",
        "price": "150.1",
        "quantity": "1",
        "side": "Bid",
        "symbol": "SOL_USDC_PERP",
        "systemOrderType": None,
        "timestamp": "2025-04-02T12:57:56.809",
        "tradeId": 77,
    }
