"""Paradex JSON to bus types and orders to request bodies: venue_shapes in, exact values out."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from services.wire import OrderStatus, OrderType, Place, Side, TimeInForce
from venues.common.book import Applied, LocalBook
from venues.common.parse import MalformedResponse, loads
from venues.paradex.parse import (
    bbo_from_venue,
    book_message,
    client_id_from_venue,
    fill_from_venue,
    funding_from_venue,
    jwt_lifetime_s,
    mark_from_summary,
    market_rules,
    order_body,
    order_from_venue,
    position_from_venue,
    position_notional,
    rows,
    trade_from_venue,
)


def _order(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "1681462770114010001",
        "account": "0x4638e3041366aa71720be63e32e53e1223316c7f0d56f7aa617542ed1e7512",
        "market": "BTC-USD-PERP",
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.05",
        "remaining_size": "0.05",
        "price": "26000.5",
        "status": "OPEN",
        "cancel_reason": "",
        "client_id": "42",
        "instruction": "POST_ONLY",
        "flags": [],
        "created_at": 1681493746016,
        "last_updated_at": 1681493746016,
    }
    return base | fields


def test_market_rules_use_the_settlement_asset_and_skip_other_kinds() -> None:
    raw = {
        "symbol": "BTC-USD-PERP",
        "base_currency": "BTC",
        "quote_currency": "USD",
        "settlement_currency": "USDC",
        "asset_kind": "PERP",
        "price_tick_size": "0.1",
        "order_size_increment": "0.001",
        "min_notional": "10",
    }
    rules = market_rules(raw)
    assert rules is not None
    assert (rules.symbol, rules.base_asset, rules.quote_asset) == ("BTC-USD-PERP", "BTC", "USDC")
    assert (rules.tick_size, rules.step_size, rules.min_quantity, rules.min_notional) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal(10),
    )
    assert market_rules(raw | {"asset_kind": "PERP_OPTION"}) is None
    assert rules.max_quantity is None
    bounded = market_rules(raw | {"max_order_size": "100"})
    assert bounded is not None and bounded.max_order_quantity(market=True) == Decimal(100)
    with pytest.raises(MalformedResponse):
        market_rules({"symbol": "X"})


def test_order_states() -> None:
    new = order_from_venue(_order(status="NEW"))
    assert new.status is OrderStatus.NEW and new.post_only and new.client_id == 42
    assert new.price == Decimal("26000.5") and new.quantity == Decimal("0.05")
    partial = order_from_venue(_order(remaining_size="0.02"))
    assert partial.status is OrderStatus.PARTIALLY_FILLED and partial.filled_quantity == Decimal("0.03")
    filled = order_from_venue(_order(status="CLOSED", remaining_size="0"))
    assert filled.status is OrderStatus.FILLED
    cancelled = order_from_venue(_order(status="CLOSED", cancel_reason="USER_CANCELED"))
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.reason == "USER_CANCELED"
    refused = order_from_venue(_order(status="CLOSED", cancel_reason="POST_ONLY_WOULD_CROSS"))
    assert refused.status is OrderStatus.REJECTED
    ioc = order_from_venue(
        _order(status="CLOSED", remaining_size="0.01", cancel_reason="REMAINING_IOC_CANCEL")
    )
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_quantity == Decimal("0.04")
    market = order_from_venue(_order(type="MARKET", price="0", flags=["REDUCE_ONLY"], instruction="IOC"))
    assert market.order_type is OrderType.MARKET and market.price is None and market.reduce_only
    # A status the connector does not know is someone else's order resting, never an error.
    odd = order_from_venue(_order(status="SOMETHING"))
    assert (odd.order_type, odd.status, odd.venue_type) == (
        OrderType.CONDITIONAL,
        OrderStatus.NEW,
        "LIMIT SOMETHING",
    )


def test_a_stop_set_in_the_web_app_is_a_conditional_order() -> None:
    stop = order_from_venue(
        _order(
            type="STOP_MARKET", status="UNTRIGGERED", price="0", trigger_price="25000", flags=["REDUCE_ONLY"]
        )
    )
    assert (stop.order_type, stop.venue_type, stop.status) == (
        OrderType.CONDITIONAL,
        "STOP_MARKET",
        OrderStatus.NEW,
    )
    assert stop.price is None and stop.reduce_only
    take = order_from_venue(_order(type="TAKE_PROFIT_LIMIT", status="UNTRIGGERED", price="27000"))
    assert (take.venue_type, take.price) == ("TAKE_PROFIT_LIMIT", Decimal(27000))
    done = order_from_venue(_order(type="STOP_LOSS_MARKET", status="CLOSED", cancel_reason="USER_CANCELED"))
    assert (done.order_type, done.status) == (OrderType.CONDITIONAL, OrderStatus.CANCELLED)


def test_foreign_client_ids_are_not_ours() -> None:
    assert client_id_from_venue("123") == 123
    assert client_id_from_venue("") is None
    assert client_id_from_venue("abc-1") is None
    assert client_id_from_venue(str(2**32)) is None


def test_order_body_is_exactly_what_is_signed() -> None:
    order = Place(
        client_id=7,
        symbol="BTC-USD-PERP",
        side=Side.SELL,
        quantity=Decimal("0.010"),
        price=Decimal("60000.50"),
        post_only=True,
    )
    body = order_body(order, signature='["1","2"]', signature_ms=1700)
    assert body == {
        "market": "BTC-USD-PERP",
        "side": "SELL",
        "type": "LIMIT",
        "size": "0.01",
        "price": "60000.5",
        "instruction": "POST_ONLY",
        "client_id": "7",
        "signature": '["1","2"]',
        "signature_timestamp": 1700,
    }
    market = Place(
        client_id=8,
        symbol="BTC-USD-PERP",
        side=Side.BUY,
        quantity=Decimal(1),
        order_type=OrderType.MARKET,
        tif=TimeInForce.IOC,
        reduce_only=True,
    )
    body = order_body(market, signature="[]", signature_ms=1)
    assert (body["type"], body["price"], body["instruction"], body["flags"]) == (
        "MARKET",
        "0",
        "IOC",
        ["REDUCE_ONLY"],
    )


def test_fill_position_funding_mark() -> None:
    fill = fill_from_venue(
        {
            "id": "f1",
            "market": "ETH-USD-PERP",
            "order_id": "o1",
            "client_id": "9",
            "side": "SELL",
            "price": "3000.01",
            "size": "0.5",
            "fee": "0.1",
            "fee_currency": "USDC",
            "liquidity": "MAKER",
        }
    )
    assert (fill.trade_id, fill.client_id, fill.side, fill.is_maker) == ("f1", 9, Side.SELL, True)
    assert (fill.price, fill.quantity, fill.fee, fill.fee_asset) == (
        Decimal("3000.01"),
        Decimal("0.5"),
        Decimal("0.1"),
        "USDC",
    )
    short = {
        "market": "ETH-USD-PERP",
        "status": "OPEN",
        "side": "SHORT",
        "size": "2.5",
        "average_entry_price": "3000",
    }
    position = position_from_venue(short | {"unrealized_pnl": "-1.5"}, mark=Decimal(3001))
    assert position.quantity == Decimal("-2.5") and position.unrealized_pnl == Decimal("-1.5")
    assert position_from_venue(short | {"size": "-2.5"}, mark=None).quantity == Decimal("-2.5")
    # At mark 3001 the short's value is 2.5 * 3001, from entry and unrealized PnL alone.
    assert position_notional(short | {"unrealized_pnl": "-2.5"}) == Decimal("7502.5")
    closed = position_from_venue(short | {"status": "CLOSED"}, mark=None)
    assert closed.quantity == 0 and closed.entry_price == 0
    payment = funding_from_venue({"id": "p1", "market": "ETH-USD-PERP", "payment": "-0.25", "index": "12"})
    assert (payment.payment_id, payment.amount) == ("p1", Decimal("-0.25"))
    mark = mark_from_summary(
        {
            "symbol": "ETH-USD-PERP",
            "mark_price": "3000.5",
            "underlying_price": "3000.4",
            "funding_rate": "0.0001",
        }
    )
    assert (mark.mark, mark.index, mark.funding_rate, mark.next_funding_ms) == (
        Decimal("3000.5"),
        Decimal("3000.4"),
        Decimal("0.0001"),
        0,
    )


def test_bbo_trade_and_results() -> None:
    raw = {"market": "BTC-USD-PERP", "bid": "1", "bid_size": "2", "ask": "3", "ask_size": "4", "seq_no": 5}
    bbo = bbo_from_venue(raw)
    assert bbo is not None and (bbo.bid, bbo.bid_qty, bbo.ask, bbo.ask_qty, bbo.update_id) == (1, 2, 3, 4, 5)
    assert bbo_from_venue(raw | {"ask": ""}) is None
    trade = trade_from_venue({"id": "t", "market": "BTC-USD-PERP", "side": "SELL", "price": "2", "size": "1"})
    assert trade.taker_side is Side.SELL
    assert rows(loads('{"results": [1, 2]}')) == [1, 2]
    with pytest.raises(MalformedResponse):
        rows({"results": {}})


def _book(kind: str, seq_no: int, **levels: list[dict[str, str]]) -> dict[str, Any]:
    return {"market": "BTC-USD-PERP", "seq_no": seq_no, "update_type": kind, **levels}


def test_book_snapshots_and_deltas_keep_seq_no_continuity() -> None:
    snapshot = book_message(
        _book(
            "s",
            10,
            inserts=[
                {"side": "BUY", "price": "100", "size": "1"},
                {"side": "SELL", "price": "101", "size": "2"},
            ],
        )
    )
    assert snapshot.snapshot and snapshot.bids == [(Decimal(100), Decimal(1))]
    book = LocalBook("BTC-USD-PERP", levels=5)
    book.seed(bids=snapshot.bids, asks=snapshot.asks, last_update_id=snapshot.seq_no)
    delta = book_message(_book("d", 11, deletes=[{"side": "SELL", "price": "101", "size": "0"}]))
    assert delta.asks == [(Decimal(101), Decimal(0))]
    assert book.apply(first_id=11, last_id=11, bids=delta.bids, asks=delta.asks) is Applied.APPLIED
    assert book.top().asks == []
    assert book.apply(first_id=13, last_id=13, bids=[], asks=[]) is Applied.GAP
    with pytest.raises(MalformedResponse):
        book_message(_book("x", 1))


def test_jwt_lifetime_reads_the_claims() -> None:
    def token(claims: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"h.{body}.s"

    assert jwt_lifetime_s(token({"iat": 100, "exp": 400})) == (100, 400)
    assert jwt_lifetime_s(token({"iat": 100})) is None
    assert jwt_lifetime_s(token({"iat": 400, "exp": 100})) is None
    assert jwt_lifetime_s("not-a-jwt") is None
    assert jwt_lifetime_s("a.!!!.c") is None
