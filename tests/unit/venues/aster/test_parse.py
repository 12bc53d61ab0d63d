"""Aster REST payloads and order parameters: exact decimals, client ids, GTX, markets, hedge-mode legs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.wire import OrderStatus, OrderType, Place, RejectReason, Side, TimeInForce
from venues.aster.parse import (
    PositionLegs,
    balance_from_account,
    bbo_from_rest,
    client_id_from_venue,
    fill_from_rest,
    funding_from_rest,
    legs_from_rest,
    mark_from_rest,
    market_rules,
    minute_limits,
    order_from_rest,
    order_params,
    placement_rejection,
    update_legs_from_ws,
)
from venues.common.parse import MalformedResponse

D = Decimal


def place(**fields: Any) -> Place:
    values: dict[str, Any] = {
        "client_id": 42,
        "symbol": "SOLUSDT",
        "side": Side.BUY,
        "quantity": D("0.10"),
        "price": D("150.50"),
    }
    return Place(**(values | fields))


def test_order_params_post_only_is_gtx_reduce_only_is_the_string_true() -> None:
    params = order_params(place(post_only=True, reduce_only=True))
    assert params == [
        ("symbol", "SOLUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("quantity", "0.1"),
        ("price", "150.5"),
        ("timeInForce", "GTX"),
        ("reduceOnly", "true"),
        ("newClientOrderId", "42"),
        ("newOrderRespType", "RESULT"),
    ]
    assert ("timeInForce", "GTC") in order_params(place(post_only=True), post_only_tif="GTC")
    assert ("timeInForce", "IOC") in order_params(place(tif=TimeInForce.IOC))
    market = order_params(place(order_type=OrderType.MARKET, price=None, side=Side.SELL))
    assert [k for k, _ in market] == [
        "symbol",
        "side",
        "type",
        "quantity",
        "newClientOrderId",
        "newOrderRespType",
    ]
    assert ("side", "SELL") in market and ("type", "MARKET") in market
    with pytest.raises(ValueError):
        order_params(place(price=None))


def test_client_ids_are_ours_only_when_uint32_digits() -> None:
    assert client_id_from_venue("4294967295") == 2**32 - 1
    assert client_id_from_venue("0") == 0
    for other in ("4294967296", "web_abc", "", None, "12345678901", "-1"):
        assert client_id_from_venue(other) is None


ORDER = {
    "orderId": 22542179,
    "symbol": "SOLUSDT",
    "status": "PARTIALLY_FILLED",
    "clientOrderId": "7",
    "price": "150.10",
    "avgPrice": "150.1",
    "origQty": "1.00",
    "executedQty": "0.30",
    "timeInForce": "GTX",
    "type": "LIMIT",
    "reduceOnly": False,
    "side": "SELL",
    "positionSide": "BOTH",
}


def test_order_from_rest() -> None:
    update = order_from_rest(ORDER)
    assert update.order_id == "22542179" and update.client_id == 7 and update.side is Side.SELL
    assert (
        update.price == D("150.10") and update.quantity == D("1.00") and update.filled_quantity == D("0.30")
    )
    assert update.status is OrderStatus.PARTIALLY_FILLED and update.post_only and not update.reduce_only
    market = order_from_rest(
        ORDER | {"type": "MARKET", "price": "0", "status": "CANCELED", "reduceOnly": "true"}
    )
    assert market.price is None and market.status is OrderStatus.CANCELLED and market.reduce_only
    # A status or type perp-mm does not place is a foreign order, never an error.
    weird = order_from_rest(ORDER | {"status": "WEIRD"})
    assert weird.order_type is OrderType.CONDITIONAL and weird.venue_type == "LIMIT WEIRD"
    assert weird.status is OrderStatus.NEW
    stop = order_from_rest(ORDER | {"type": "STOP", "origType": "STOP", "status": "NEW", "stopPrice": "140"})
    assert (stop.order_type, stop.venue_type, stop.price) == (OrderType.CONDITIONAL, "STOP", D("150.10"))
    with pytest.raises(MalformedResponse):
        order_from_rest(ORDER | {"type": ""})


def test_an_expired_gtx_with_nothing_filled_is_a_post_only_refusal() -> None:
    expired = order_from_rest(ORDER | {"status": "EXPIRED", "executedQty": "0"})
    assert placement_rejection(expired) is RejectReason.POST_ONLY_WOULD_TAKE
    assert (
        placement_rejection(
            order_from_rest(ORDER | {"status": "EXPIRED", "executedQty": "0", "timeInForce": "IOC"})
        )
        is None
    )
    assert placement_rejection(order_from_rest(ORDER)) is None


def market(**fields: Any) -> dict[str, Any]:
    return {
        "symbol": "SOLUSDT",
        "contractType": "PERPETUAL",
        "baseAsset": "SOL",
        "quoteAsset": "USDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": "0.010"},
            {"filterType": "LOT_SIZE", "stepSize": "0.01", "minQty": "0.02"},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
        ],
    } | fields


def test_market_rules_from_exchange_info() -> None:
    rules = market_rules(market())
    assert rules is not None
    assert (rules.tick_size, rules.step_size, rules.min_quantity, rules.min_notional) == (
        D("0.010"),
        D("0.01"),
        D("0.02"),
        D("5"),
    )
    assert market_rules(market(contractType="CURRENT_QUARTER")) is None
    without_notional = market_rules(market(filters=market()["filters"][:2]))
    assert without_notional is not None and without_notional.min_notional == 0
    with pytest.raises(MalformedResponse):
        market_rules(market(filters=[{"filterType": "PRICE_FILTER", "tickSize": "0.01"}]))
    with pytest.raises(MalformedResponse):
        market_rules(["not", "an", "object"])


def test_hedge_mode_rows_are_picked_by_position_side_never_the_first_row() -> None:
    rows = [
        {"symbol": "BTCUSDT", "positionAmt": "3", "entryPrice": "60000", "positionSide": "BOTH"},
        {
            "symbol": "SOLUSDT",
            "positionAmt": "-0.4",
            "entryPrice": "151",
            "unRealizedProfit": "0.4",
            "positionSide": "SHORT",
        },
        {
            "symbol": "SOLUSDT",
            "positionAmt": "1.0",
            "entryPrice": "149",
            "unRealizedProfit": "1",
            "positionSide": "LONG",
            "markPrice": "150",
        },
    ]
    position = legs_from_rest(rows, "SOLUSDT").net()
    assert position.quantity == D("0.6") and position.entry_price == D("149")
    assert position.unrealized_pnl == D("1.4") and position.mark_price == D("150")
    # A SHORT leg given as a magnitude still counts as short.
    short = legs_from_rest(
        [{"symbol": "SOLUSDT", "positionAmt": "2", "entryPrice": "150", "positionSide": "SHORT"}], "SOLUSDT"
    )
    assert short.net().quantity == D("-2")


def test_one_way_row_and_flat() -> None:
    rows = [
        {
            "symbol": "SOLUSDT",
            "positionAmt": "-1.5",
            "entryPrice": "150.2",
            "unRealizedProfit": "-0.3",
            "positionSide": "BOTH",
        }
    ]
    position = legs_from_rest(rows, "SOLUSDT").net()
    assert (position.quantity, position.entry_price, position.unrealized_pnl) == (
        D("-1.5"),
        D("150.2"),
        D("-0.3"),
    )
    flat = legs_from_rest(
        [{"symbol": "SOLUSDT", "positionAmt": "0", "entryPrice": "0", "positionSide": "BOTH"}], "SOLUSDT"
    )
    assert flat.net().quantity == 0 and flat.net().entry_price == 0
    assert legs_from_rest([], "SOLUSDT").net().quantity == 0
    with pytest.raises(MalformedResponse):
        legs_from_rest({"positions": []}, "SOLUSDT")
    with pytest.raises(MalformedResponse):
        legs_from_rest([{"symbol": "SOLUSDT", "positionAmt": "1", "positionSide": "SIDEWAYS"}], "SOLUSDT")


def test_stream_updates_one_leg_and_keeps_the_other() -> None:
    legs = PositionLegs("SOLUSDT")
    legs.update(
        [
            {"symbol": "SOLUSDT", "positionAmt": "1", "entryPrice": "149", "positionSide": "LONG"},
            {"symbol": "SOLUSDT", "positionAmt": "-0.5", "entryPrice": "151", "positionSide": "SHORT"},
        ],
        quantity_key="positionAmt",
        entry_key="entryPrice",
        pnl_key="unRealizedProfit",
    )
    event = {
        "e": "ACCOUNT_UPDATE",
        "a": {"P": [{"s": "SOLUSDT", "pa": "-2", "ep": "152", "up": "0", "ps": "SHORT"}]},
    }
    assert update_legs_from_ws(legs, event)
    net = legs.net()
    assert net.quantity == D("-1") and net.entry_price == D("152")
    other = {"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": "BTCUSDT", "pa": "1", "ep": "1", "ps": "BOTH"}]}}
    assert not update_legs_from_ws(legs, other)
    # A funding fee on a cross position: the balance alone, no position list.
    assert not update_legs_from_ws(legs, {"e": "ACCOUNT_UPDATE", "a": {"m": "FUNDING_FEE", "B": []}})
    with pytest.raises(MalformedResponse):
        update_legs_from_ws(legs, {"e": "ACCOUNT_UPDATE", "a": {"P": {}}})


def test_an_older_account_update_never_overwrites_a_newer_one() -> None:
    legs = PositionLegs("SOLUSDT")

    def update(event_ms: int, quantity: str) -> bool:
        row = {"s": "SOLUSDT", "pa": quantity, "ep": "150", "up": "0", "ps": "BOTH"}
        return update_legs_from_ws(legs, {"e": "ACCOUNT_UPDATE", "E": event_ms, "a": {"P": [row]}})

    assert update(1000, "1") and update(1002, "2")
    assert not update(1001, "1.5")  # delivered late: older than what set the leg
    assert legs.net().quantity == D("2")
    assert update(1003, "3") and legs.net().quantity == D("3")


def test_balance_fill_funding_mark_and_ticker() -> None:
    account = {
        "totalMarginBalance": "1000.5",
        "availableBalance": "900",
        "positions": [{"notional": "-250"}, {"notional": "250"}],
    }
    balance = balance_from_account(account)
    assert (balance.asset, balance.equity, balance.available) == ("USDT", D("1000.5"), D("900"))
    assert balance.margin_fraction == D("1000.5") / D("500")
    assert balance_from_account(account | {"positions": []}).margin_fraction is None
    fill = fill_from_rest(
        {
            "symbol": "SOLUSDT",
            "id": 9,
            "orderId": 3,
            "side": "BUY",
            "price": "150.1",
            "qty": "0.2",
            "commission": "0.006",
            "commissionAsset": "USDT",
            "maker": True,
        }
    )
    assert (fill.trade_id, fill.order_id, fill.client_id, fill.is_maker) == ("9", "3", None, True)
    assert fill.fee == D("0.006") and fill.price == D("150.1")
    funding = funding_from_rest({"symbol": "SOLUSDT", "income": "-0.0123", "tranId": 77, "time": 1})
    assert (funding.payment_id, funding.amount) == ("77", D("-0.0123"))
    mark = mark_from_rest(
        {
            "symbol": "SOLUSDT",
            "markPrice": "150.01",
            "indexPrice": "150",
            "lastFundingRate": "0.0001",
            "nextFundingTime": 1700000000000,
        }
    )
    assert (mark.mark, mark.funding_rate, mark.next_funding_ms) == (D("150.01"), D("0.0001"), 1700000000000)
    bbo = bbo_from_rest(
        {"symbol": "SOLUSDT", "bidPrice": "150", "bidQty": "3", "askPrice": "150.1", "askQty": "2"}
    )
    assert (bbo.bid, bbo.ask) == (D("150"), D("150.1"))


def test_market_rules_read_size_maxima_and_the_percent_price_band() -> None:
    raw = {
        "symbol": "SOLUSDT",
        "contractType": "PERPETUAL",
        "baseAsset": "SOL",
        "quoteAsset": "USDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "stepSize": "0.01", "minQty": "0.01", "maxQty": "1000"},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.01", "minQty": "0.01", "maxQty": "50"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500"},
        ],
    }
    rules = market_rules(raw)
    assert rules is not None
    assert (rules.max_quantity, rules.max_market_quantity) == (Decimal(1000), Decimal(50))
    assert (rules.price_up, rules.price_down) == (Decimal("1.05"), Decimal("0.95"))


def test_minute_limits_from_exchange_info() -> None:
    rows = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        "garbage",
    ]
    assert minute_limits(rows) == {"REQUEST_WEIGHT": 2400, "ORDERS": 1200}
    assert minute_limits(None) == {}
