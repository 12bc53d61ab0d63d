"""Backpack REST payloads to bus types, and orders to Backpack bodies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.wire import OrderStatus, OrderType, Place, RejectReason, Side, TimeInForce
from venues.backpack.parse import (
    balance_from_collateral,
    fill_from_rest,
    fill_time_ms,
    funding_from_rest,
    funding_time_ms,
    mark_from_rest,
    market_rules,
    naive_utc_ms,
    order_from_rest,
    order_kind,
    order_payload,
    placement_rejection,
    position_from_rest,
    side_from_venue,
)
from venues.common.parse import MalformedResponse, dec, integer, levels, loads

D = Decimal
LIMIT_ORDER = {
    "id": "111",
    "clientId": 42,
    "symbol": "SOL_USDC_PERP",
    "side": "Bid",
    "orderType": "Limit",
    "price": "141.50",
    "quantity": "1.2",
    "executedQuantity": "0.2",
    "executedQuoteQuantity": "28.3",
    "status": "PartiallyFilled",
    "postOnly": True,
    "reduceOnly": False,
    "timeInForce": "GTC",
    "createdAt": 1750793021519,
}


def test_loads_keeps_fractions_exact() -> None:
    raw = loads('{"a": 0.1, "b": 3, "c": "0.3"}')
    assert raw["a"] == D("0.1") and isinstance(raw["a"], Decimal)
    assert raw["b"] == 3
    with pytest.raises(MalformedResponse):
        loads("<html>")


def test_dec_and_integer_refuse_what_is_not_exact() -> None:
    assert dec("1.50") == D("1.50")
    assert dec(2) == D(2)
    for bad in (True, 1.5, "abc", "NaN", None):
        with pytest.raises(MalformedResponse):
            dec(bad)
    assert integer("123") == 123
    with pytest.raises(MalformedResponse):
        integer(D("1.5"))


@pytest.mark.parametrize(("text", "side"), [("Bid", Side.BUY), ("Ask", Side.SELL), ("bid", Side.BUY)])
def test_side_mapping(text: str, side: Side) -> None:
    assert side_from_venue(text) is side


@pytest.mark.parametrize(
    ("order_type", "text", "trigger", "expected"),
    [
        ("Limit", "New", False, (OrderType.LIMIT, OrderStatus.NEW, "")),
        ("LIMIT", "PartiallyFilled", False, (OrderType.LIMIT, OrderStatus.PARTIALLY_FILLED, "")),
        ("Market", "Filled", False, (OrderType.MARKET, OrderStatus.FILLED, "")),
        ("Limit", "Cancelled", False, (OrderType.LIMIT, OrderStatus.CANCELLED, "")),
        ("Limit", "Expired", False, (OrderType.LIMIT, OrderStatus.EXPIRED, "")),
        # Trigger orders and anything unknown are foreign: CONDITIONAL, resting until a known end.
        ("Market", "TriggerPending", True, (OrderType.CONDITIONAL, OrderStatus.NEW, "Market TriggerPending")),
        ("MARKET", "Triggered", True, (OrderType.CONDITIONAL, OrderStatus.NEW, "Market Triggered")),
        (
            "Limit",
            "TriggerFailed",
            True,
            (OrderType.CONDITIONAL, OrderStatus.REJECTED, "Limit TriggerFailed"),
        ),
        ("Market", "Cancelled", True, (OrderType.CONDITIONAL, OrderStatus.CANCELLED, "Market Cancelled")),
        ("Market", "Open", False, (OrderType.CONDITIONAL, OrderStatus.NEW, "Market Open")),
        ("StopMarket", "New", False, (OrderType.CONDITIONAL, OrderStatus.NEW, "StopMarket New")),
    ],
)
def test_order_kind(
    order_type: str, text: str, trigger: bool, expected: tuple[OrderType, OrderStatus, str]
) -> None:
    assert order_kind(order_type, text, trigger=trigger) == expected


def test_unknown_side_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        side_from_venue("Buy")


def test_a_trigger_order_from_rest_is_conditional() -> None:
    raw = {
        "id": "77",
        "symbol": "SOL_USDC_PERP",
        "side": "Ask",
        "orderType": "Market",
        "quantity": None,
        "executedQuantity": "0",
        "status": "TriggerPending",
        "triggerPrice": "120",
        "triggerQuantity": "2.5",
        "reduceOnly": True,
    }
    stop = order_from_rest(raw)
    assert stop.order_type is OrderType.CONDITIONAL and stop.venue_type == "Market TriggerPending"
    assert stop.status is OrderStatus.NEW and stop.quantity == D("2.5") and stop.price is None
    percent = order_from_rest({**raw, "triggerQuantity": "50%", "status": "Triggered"})
    assert percent.quantity == 0 and percent.status is OrderStatus.NEW
    assert order_from_rest({**raw, "triggerQuantity": "lots"}).quantity == 0


def test_limit_order_from_rest() -> None:
    update = order_from_rest(LIMIT_ORDER)
    assert update.order_id == "111" and update.client_id == 42
    assert update.side is Side.BUY and update.order_type is OrderType.LIMIT
    assert update.price == D("141.50") and update.quantity == D("1.2")
    assert update.filled_quantity == D("0.2") and update.status is OrderStatus.PARTIALLY_FILLED
    assert update.post_only and not update.reduce_only


def test_market_order_without_quantity_uses_what_executed() -> None:
    raw = {
        "id": "9",
        "symbol": "SOL_USDC_PERP",
        "side": "Ask",
        "orderType": "Market",
        "quoteQuantity": "100",
        "executedQuantity": "0.7",
        "status": "Filled",
        "reduceOnly": True,
    }
    update = order_from_rest(raw)
    assert update.price is None and update.client_id is None
    assert update.quantity == D("0.7") and update.reduce_only and update.side is Side.SELL


def test_order_missing_a_field_is_malformed() -> None:
    raw = {key: value for key, value in LIMIT_ORDER.items() if key != "status"}
    with pytest.raises(MalformedResponse, match="status"):
        order_from_rest(raw)


def test_placement_rejection_only_for_an_unfilled_expiry() -> None:
    expired = order_from_rest(
        {**LIMIT_ORDER, "status": "Expired", "executedQuantity": "0", "expiryReason": "PostOnlyTaker"}
    )
    assert placement_rejection(expired) is RejectReason.POST_ONLY_WOULD_TAKE
    reduce = order_from_rest(
        {**LIMIT_ORDER, "status": "Expired", "executedQuantity": "0", "expiryReason": "ReduceOnlyNotReduced"}
    )
    assert placement_rejection(reduce) is RejectReason.REDUCE_ONLY
    partly = order_from_rest({**LIMIT_ORDER, "status": "Expired", "expiryReason": "PostOnlyTaker"})
    assert placement_rejection(partly) is None
    assert placement_rejection(order_from_rest(LIMIT_ORDER)) is None


def test_quote_payload_is_post_only_gtc_with_auto_lend_redeem() -> None:
    place = Place(
        client_id=7,
        symbol="SOL_USDC_PERP",
        side=Side.SELL,
        quantity=D("1.20"),
        price=D("141.500"),
        post_only=True,
    )
    body = order_payload(place, auto_lend_redeem=True)
    assert body == {
        "symbol": "SOL_USDC_PERP",
        "side": "Ask",
        "orderType": "Limit",
        "price": "141.5",
        "quantity": "1.2",
        "timeInForce": "GTC",
        "postOnly": True,
        "autoLendRedeem": True,
        "clientId": 7,
    }
    assert "autoLendRedeem" not in order_payload(place, auto_lend_redeem=False)


def test_reduce_only_close_is_a_market_order() -> None:
    place = Place(
        client_id=8,
        symbol="SOL_USDC_PERP",
        side=Side.BUY,
        quantity=D("0.5"),
        order_type=OrderType.MARKET,
        reduce_only=True,
    )
    body = order_payload(place, auto_lend_redeem=True)
    assert body == {
        "symbol": "SOL_USDC_PERP",
        "side": "Bid",
        "orderType": "Market",
        "quantity": "0.5",
        "reduceOnly": True,
        "clientId": 8,
    }


def test_ioc_limit_and_missing_price() -> None:
    place = Place(client_id=1, symbol="S", side=Side.BUY, quantity=D(1), price=D(2), tif=TimeInForce.IOC)
    assert order_payload(place, auto_lend_redeem=False)["timeInForce"] == "IOC"
    with pytest.raises(ValueError):
        order_payload(Place(client_id=1, symbol="S", side=Side.BUY, quantity=D(1)), auto_lend_redeem=False)


def test_fill_from_rest() -> None:
    raw = {
        "tradeId": 5551,
        "orderId": "111",
        "clientId": "42",
        "symbol": "SOL_USDC_PERP",
        "side": "Ask",
        "price": "141.5",
        "quantity": "0.3",
        "fee": "0.0085",
        "feeSymbol": "USDC",
        "isMaker": True,
        "timestamp": "2025-06-24T19:23:41.519",
    }
    fill = fill_from_rest(raw)
    assert (fill.trade_id, fill.order_id, fill.client_id) == ("5551", "111", 42)
    assert fill.side is Side.SELL and fill.price == D("141.5") and fill.quantity == D("0.3")
    assert fill.fee == D("0.0085") and fill.fee_asset == "USDC" and fill.is_maker
    assert fill_time_ms(raw) == 1750793021519


def test_fills_without_a_trade_id_are_not_collapsed() -> None:
    # System fills (liquidations, ADL) had tradeId 0 before 2025-11-12; some carry none at all.
    raw = {
        "orderId": "111",
        "symbol": "SOL_USDC_PERP",
        "side": "Ask",
        "price": "141.5",
        "quantity": "0.3",
        "timestamp": "2025-06-24T19:23:41.519",
    }
    ids = {
        fill_from_rest({**raw, **change}).trade_id
        for change in (
            {"tradeId": 0},
            {"tradeId": None},
            {"tradeId": 0, "price": "141.4"},
            {"tradeId": "0", "orderId": "112"},
            {"tradeId": 0, "quantity": "0.2"},
        )
    }
    assert len(ids) == 4 and "0" not in ids
    assert fill_from_rest({**raw, "tradeId": 0}).trade_id == "111@1750793021519:141.5x0.3"


def test_naive_utc_times() -> None:
    assert naive_utc_ms("1970-01-01T00:00:01") == 1000
    assert naive_utc_ms("1640995200000") == 1640995200000
    assert naive_utc_ms(12) == 12
    with pytest.raises(MalformedResponse):
        naive_utc_ms("yesterday")


def test_position_from_rest() -> None:
    raw = {
        "symbol": "SOL_USDC_PERP",
        "netQuantity": "-2.5",
        "entryPrice": "130.00",
        "markPrice": "135.00",
        "pnlUnrealized": "-12.50",
        "pnlRealized": "10.00",
    }
    position = position_from_rest(raw)
    assert position.quantity == D("-2.5") and position.entry_price == D("130.00")
    assert position.mark_price == D("135.00") and position.unrealized_pnl == D("-12.50")
    assert position.realized_pnl == D("10.00")


def test_balance_from_collateral() -> None:
    raw = {"netEquity": "1000.5", "netEquityAvailable": "800.25", "marginFraction": None, "assetsValue": "1"}
    balance = balance_from_collateral(raw)
    assert (balance.asset, balance.equity, balance.available) == ("USDC", D("1000.5"), D("800.25"))
    assert balance.margin_fraction is None
    assert balance_from_collateral({**raw, "marginFraction": "0.25"}).margin_fraction == D("0.25")


def test_funding_from_rest() -> None:
    raw = {
        "symbol": "SOL_USDC_PERP",
        "quantity": "-0.0123",
        "fundingRate": "0.0001",
        "intervalEndTimestamp": "2026-01-01T08:00:00",
    }
    payment = funding_from_rest(raw)
    assert payment.amount == D("-0.0123") and payment.rate == D("0.0001")
    assert payment.payment_id == "SOL_USDC_PERP@2026-01-01T08:00:00"
    assert funding_time_ms(raw) == 1767254400000


def test_market_rules_for_perps_only() -> None:
    raw = {
        "symbol": "SOL_USDC_PERP",
        "baseSymbol": "SOL",
        "quoteSymbol": "USDC",
        "marketType": "PERP",
        "filters": {"price": {"tickSize": "0.01"}, "quantity": {"stepSize": "0.01", "minQuantity": "0.05"}},
    }
    rules = market_rules(raw)
    assert rules is not None
    assert (rules.symbol, rules.base_asset, rules.quote_asset) == ("SOL_USDC_PERP", "SOL", "USDC")
    assert (rules.tick_size, rules.step_size, rules.min_quantity, rules.min_notional) == (
        D("0.01"),
        D("0.01"),
        D("0.05"),
        D(0),
    )
    assert market_rules({**raw, "marketType": "SPOT"}) is None
    assert rules.max_quantity is None  # the example publishes no maximum
    quantity = {"stepSize": "0.01", "minQuantity": "0.05", "maxQuantity": "25000"}
    bounded = market_rules({**raw, "filters": {"price": {"tickSize": "0.01"}, "quantity": quantity}})
    assert bounded is not None and bounded.max_order_quantity(market=True) == D(25000)


def test_mark_from_rest_and_levels() -> None:
    mark = mark_from_rest(
        {
            "symbol": "S",
            "markPrice": "1.5",
            "indexPrice": "1.4",
            "fundingRate": "0.0001",
            "nextFundingTimestamp": 99,
        }
    )
    assert (mark.mark, mark.index, mark.funding_rate, mark.next_funding_ms) == (
        D("1.5"),
        D("1.4"),
        D("0.0001"),
        99,
    )
    assert levels([["1.5", "2"]]) == [(D("1.5"), D(2))]
    with pytest.raises(MalformedResponse):
        levels([["1.5"]])
