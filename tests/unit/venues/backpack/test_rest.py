"""The REST endpoints against a loopback server: orders, resolution by client id, account, history."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from services.wire import OrderStatus, OrderType, Place, RejectReason, Side
from venues.base import Rejected, Unavailable, UnknownOrderState

D = Decimal
SYMBOL = "SOL_USDC_PERP"
EXECUTE = ("POST", "/api/v1/order")
QUERY = ("GET", "/api/v1/order")
MARKETS = [
    {
        "symbol": SYMBOL,
        "baseSymbol": "SOL",
        "quoteSymbol": "USDC",
        "marketType": "PERP",
        "filters": {"price": {"tickSize": "0.01"}, "quantity": {"stepSize": "0.01", "minQuantity": "0.05"}},
    },
    {
        "symbol": "SOL_USDC",
        "baseSymbol": "SOL",
        "quoteSymbol": "USDC",
        "marketType": "SPOT",
        "filters": {"price": {"tickSize": "0.01"}, "quantity": {"stepSize": "0.01"}},
    },
    {"symbol": "BROKEN_PERP", "marketType": "PERP"},
]


def quote(client_id: int = 7, *, price: str = "141.50", quantity: str = "1.2") -> Place:
    return Place(
        client_id=client_id,
        symbol=SYMBOL,
        side=Side.BUY,
        quantity=D(quantity),
        price=D(price),
        post_only=True,
    )


def order_json(
    body: dict[str, Any], *, order_id: str = "1001", status: str = "New", filled: str = "0"
) -> dict[str, Any]:
    return {
        "id": order_id,
        "clientId": body["clientId"],
        "symbol": body["symbol"],
        "side": body["side"],
        "orderType": body["orderType"],
        "price": body.get("price"),
        "quantity": body["quantity"],
        "executedQuantity": filled,
        "executedQuoteQuantity": "0",
        "status": status,
        "postOnly": body.get("postOnly", False),
        "reduceOnly": body.get("reduceOnly", False),
        "timeInForce": body.get("timeInForce", "GTC"),
        "createdAt": 1,
    }


def respond(data: Any, *, status: int = 200) -> Any:
    async def handler(call: Any) -> web.StreamResponse:
        return web.json_response(data, status=status)

    return handler


def not_found() -> Any:
    return respond({"code": "RESOURCE_NOT_FOUND", "message": "Not found"}, status=404)


class Venue:
    """Orders the fake remembers, so a lookup by client id can find them."""

    def __init__(self, fake: Any) -> None:
        self.resting: dict[int, dict[str, Any]] = {}
        fake.on("GET", "/api/v1/markets", respond(MARKETS))
        fake.on(*QUERY, self.query)
        fake.on("GET", "/wapi/v1/history/fills", respond([]))

    async def query(self, call: Any) -> web.StreamResponse:
        order = self.resting.get(int(call.query.get("clientId", -1)))
        if order is None:
            return web.json_response({"code": "RESOURCE_NOT_FOUND", "message": "Order not found"}, status=404)
        return web.json_response(order)


@pytest.fixture
def venue(fake: Any) -> Venue:
    return Venue(fake)


async def test_markets_are_the_perps_only(fake: Any, venue: Venue) -> None:
    rules = await fake.rest().load_markets()
    assert list(rules) == [SYMBOL]
    assert rules[SYMBOL].tick_size == D("0.01") and rules[SYMBOL].min_quantity == D("0.05")


async def test_a_quote_is_sent_as_a_signed_post_only_limit(fake: Any, venue: Venue) -> None:
    async def execute(call: Any) -> web.StreamResponse:
        return web.json_response(order_json(call.body))

    fake.on(*EXECUTE, execute)
    update = await fake.rest().place_order(quote())
    call = fake.hits(*EXECUTE)[0]
    assert call.signed_ok is True
    assert call.body == {
        "symbol": SYMBOL,
        "side": "Bid",
        "orderType": "Limit",
        "price": "141.5",
        "quantity": "1.2",
        "timeInForce": "GTC",
        "postOnly": True,
        "autoLendRedeem": True,
        "clientId": 7,
    }
    assert update.order_id == "1001" and update.client_id == 7 and update.status is OrderStatus.NEW
    assert update.price == D("141.5") and update.post_only


async def test_a_reduce_only_close_is_a_market_order(fake: Any, venue: Venue) -> None:
    async def execute(call: Any) -> web.StreamResponse:
        return web.json_response(order_json(call.body, status="Filled", filled=call.body["quantity"]))

    fake.on(*EXECUTE, execute)
    close = Place(
        client_id=9,
        symbol=SYMBOL,
        side=Side.SELL,
        quantity=D("0.5"),
        order_type=OrderType.MARKET,
        reduce_only=True,
    )
    update = await fake.rest(auto_lend_redeem=True).place_order(close)
    body = fake.hits(*EXECUTE)[0].body
    assert body["orderType"] == "Market" and body["reduceOnly"] is True and body["side"] == "Ask"
    assert "price" not in body and "autoLendRedeem" not in body and "postOnly" not in body
    assert update.status is OrderStatus.FILLED and update.order_type is OrderType.MARKET


@pytest.mark.parametrize(
    ("place", "reason"),
    [
        (quote(price="141.505"), RejectReason.BAD_PRICE),
        (quote(quantity="1.205"), RejectReason.BAD_QUANTITY),
        (quote(quantity="0.04"), RejectReason.BAD_QUANTITY),
        (quote(client_id=2**32), RejectReason.MALFORMED),
        (Place(client_id=1, symbol=SYMBOL, side=Side.BUY, quantity=D(1)), RejectReason.BAD_PRICE),
        (
            Place(client_id=1, symbol="DOGE_USDC_PERP", side=Side.BUY, quantity=D(1), price=D(1)),
            RejectReason.MALFORMED,
        ),
    ],
)
async def test_bad_orders_are_refused_locally(
    fake: Any, venue: Venue, place: Place, reason: RejectReason
) -> None:
    fake.on(*EXECUTE, respond({}))
    with pytest.raises(Rejected) as caught:
        await fake.rest().place_order(place)
    assert caught.value.reason is reason
    assert fake.hits(*EXECUTE) == []


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        ("INVALID_ORDER", "Order would immediately match and take.", RejectReason.POST_ONLY_WOULD_TAKE),
        ("INSUFFICIENT_MARGIN", "Insufficient margin", RejectReason.INSUFFICIENT_MARGIN),
        ("INVALID_ORDER", "Reduce only order not reduced", RejectReason.REDUCE_ONLY),
        ("INVALID_CLIENT_REQUEST", "Price decimal too long", RejectReason.BAD_PRICE),
    ],
)
async def test_venue_refusals_are_typed(
    fake: Any, venue: Venue, code: str, message: str, reason: RejectReason
) -> None:
    fake.on(*EXECUTE, respond({"code": code, "message": message}, status=400))
    with pytest.raises(Rejected) as caught:
        await fake.rest().place_order(quote())
    assert caught.value.reason is reason and caught.value.venue_message == message
    assert len(fake.hits(*EXECUTE)) == 1


async def test_a_post_only_that_expired_at_once_is_refused(fake: Any, venue: Venue) -> None:
    async def execute(call: Any) -> web.StreamResponse:
        return web.json_response({**order_json(call.body, status="Expired"), "expiryReason": "PostOnlyTaker"})

    fake.on(*EXECUTE, execute)
    with pytest.raises(Rejected) as caught:
        await fake.rest().place_order(quote())
    assert caught.value.reason is RejectReason.POST_ONLY_WOULD_TAKE


async def test_a_5xx_execute_is_resolved_by_client_id_without_a_second_post(fake: Any, venue: Venue) -> None:
    async def execute(call: Any) -> web.StreamResponse:
        venue.resting[call.body["clientId"]] = order_json(call.body, order_id="555")
        return web.json_response({"code": "SERVER_ERROR", "message": "upstream"}, status=503)

    fake.on(*EXECUTE, execute)
    update = await fake.rest().place_order(quote(client_id=11))
    assert update.order_id == "555" and update.client_id == 11 and update.status is OrderStatus.NEW
    assert len(fake.hits(*EXECUTE)) == 1
    lookup = fake.hits(*QUERY)[0]
    assert lookup.query == {"symbol": SYMBOL, "clientId": "11"} and lookup.signed_ok is True


async def test_a_timed_out_execute_is_resolved_by_client_id(fake: Any, venue: Venue) -> None:
    async def execute(call: Any) -> web.StreamResponse:
        venue.resting[call.body["clientId"]] = order_json(call.body, order_id="556")
        await asyncio.sleep(1.0)
        return web.json_response(order_json(call.body, order_id="556"))

    fake.on(*EXECUTE, execute)
    rest = fake.rest(transport=fake.transport(timeout_s=0.2))
    update = await rest.place_order(quote(client_id=12))
    assert update.order_id == "556"
    assert len(fake.hits(*EXECUTE)) == 1


async def test_an_order_absent_after_the_signing_window_was_not_placed(fake: Any, venue: Venue) -> None:
    fake.on(*EXECUTE, respond({"code": "SERVER_ERROR", "message": "lost"}, status=500))
    rest = fake.rest(transport=fake.transport(window_ms=300))
    with pytest.raises(Unavailable) as caught:
        await rest.place_order(quote(client_id=13))
    assert not isinstance(caught.value, UnknownOrderState)
    assert "not placed" in str(caught.value)
    assert len(fake.hits(*EXECUTE)) == 1
    lookups = fake.hits(*QUERY)
    assert len(lookups) >= 2
    # The verdict waited for the window (300 ms) and the grace (50 ms) to pass.
    assert lookups[-1].at - fake.hits(*EXECUTE)[0].at >= 0.3


async def test_an_order_that_filled_at_once_is_found_in_the_fills(fake: Any, venue: Venue) -> None:
    fake.on(*EXECUTE, respond({"code": "SERVER_ERROR", "message": "lost"}, status=500))
    fill = {
        "tradeId": 77,
        "orderId": "900",
        "clientId": "14",
        "symbol": SYMBOL,
        "side": "Ask",
        "price": "140",
        "quantity": "0.5",
        "fee": "0.01",
        "feeSymbol": "USDC",
        "isMaker": False,
        "timestamp": "2030-01-01T00:00:00",
    }
    other = {**fill, "tradeId": 78, "clientId": "99", "orderId": "901"}
    fake.on("GET", "/wapi/v1/history/fills", respond([fill, other]))
    close = Place(
        client_id=14,
        symbol=SYMBOL,
        side=Side.SELL,
        quantity=D("0.5"),
        order_type=OrderType.MARKET,
        reduce_only=True,
    )
    update = await fake.rest().place_order(close)
    assert (
        update.order_id == "900"
        and update.status is OrderStatus.FILLED
        and update.filled_quantity == D("0.5")
    )
    assert len(fake.hits(*EXECUTE)) == 1


async def test_an_old_fill_with_a_reused_client_id_does_not_count(fake: Any, venue: Venue) -> None:
    fake.on(*EXECUTE, respond({"code": "SERVER_ERROR", "message": "lost"}, status=500))
    old = {
        "tradeId": 1,
        "orderId": "1",
        "clientId": "16",
        "symbol": SYMBOL,
        "side": "Bid",
        "price": "140",
        "quantity": "1.2",
        "fee": "0",
        "feeSymbol": "USDC",
        "isMaker": True,
        "timestamp": "2020-01-01T00:00:00",
    }
    fake.on("GET", "/wapi/v1/history/fills", respond([old]))
    rest = fake.rest(transport=fake.transport(window_ms=200))
    with pytest.raises(Unavailable) as caught:
        await rest.place_order(quote(client_id=16))
    assert not isinstance(caught.value, UnknownOrderState)
    lookup = fake.hits("GET", "/wapi/v1/history/fills")[0].query
    assert lookup["sortDirection"] == "Desc" and lookup["limit"] == "1000"


async def test_an_order_that_cannot_be_looked_up_is_unknown(fake: Any, venue: Venue) -> None:
    fake.on(*EXECUTE, respond({"code": "SERVER_ERROR", "message": "lost"}, status=500))
    fake.on(*QUERY, respond({"code": "SERVER_ERROR", "message": "down"}, status=500))
    rest = fake.rest(resolve_timeout_s=0.3)
    with pytest.raises(UnknownOrderState) as caught:
        await rest.place_order(quote(client_id=15))
    assert caught.value.client_id == 15
    assert len(fake.hits(*EXECUTE)) == 1


async def test_cancel_by_client_id(fake: Any, venue: Venue) -> None:
    async def cancel(call: Any) -> web.StreamResponse:
        body = {**call.body, "side": "Bid", "orderType": "Limit", "price": "1", "quantity": "1"}
        return web.json_response(order_json(body, status="Cancelled"))

    fake.on("DELETE", "/api/v1/order", cancel)
    update = await fake.rest().cancel_order(SYMBOL, client_id=21)
    call = fake.hits("DELETE", "/api/v1/order")[0]
    assert call.body == {"symbol": SYMBOL, "clientId": 21} and call.signed_ok is True
    assert update.status is OrderStatus.CANCELLED and update.client_id == 21


async def test_cancel_of_an_unknown_order(fake: Any, venue: Venue) -> None:
    fake.on("DELETE", "/api/v1/order", not_found())
    with pytest.raises(Rejected) as caught:
        await fake.rest().cancel_order(SYMBOL, order_id="404")
    assert caught.value.reason is RejectReason.UNKNOWN_ORDER
    assert fake.hits("DELETE", "/api/v1/order")[0].body == {"symbol": SYMBOL, "orderId": "404"}
    with pytest.raises(ValueError):
        await fake.rest().cancel_order(SYMBOL)


async def test_a_cancel_accepted_for_later_waits_until_the_order_is_gone(fake: Any, venue: Venue) -> None:
    body = {
        "symbol": SYMBOL,
        "clientId": 22,
        "side": "Ask",
        "orderType": "Limit",
        "price": "150",
        "quantity": "1",
    }
    venue.resting[22] = order_json(body)

    async def accepted(call: Any) -> web.StreamResponse:
        asyncio.get_running_loop().call_later(0.05, venue.resting.pop, 22)
        return web.Response(status=202)

    fake.on("DELETE", "/api/v1/order", accepted)
    fake.on("GET", "/wapi/v1/history/orders", respond([]))
    update = await fake.rest().cancel_order(SYMBOL, client_id=22)
    assert update.status is OrderStatus.CANCELLED and update.price == D(150)
    # Once off the book, the order history tells how it ended: here a fill beat the cancel.
    venue.resting[22] = order_json(body)
    filled = order_json(body, status="Filled") | {"executedQuantity": "1"}
    fake.on("GET", "/wapi/v1/history/orders", respond([filled]))
    update = await fake.rest().cancel_order(SYMBOL, client_id=22)
    assert update.status is OrderStatus.FILLED and update.filled_quantity == 1
    assert fake.hits("GET", "/wapi/v1/history/orders")[-1].query["symbol"] == SYMBOL


async def test_cancel_all_counts_and_open_orders_parse(fake: Any, venue: Venue) -> None:
    body = {
        "symbol": SYMBOL,
        "clientId": 1,
        "side": "Bid",
        "orderType": "Limit",
        "price": "1",
        "quantity": "1",
    }
    fake.on("DELETE", "/api/v1/orders", respond([order_json(body, status="Cancelled")] * 3))
    fake.on("GET", "/api/v1/orders", respond([order_json(body), order_json({**body, "clientId": 2})]))
    rest = fake.rest()
    assert await rest.cancel_all(SYMBOL) == 3
    assert fake.hits("DELETE", "/api/v1/orders")[0].body == {"symbol": SYMBOL}
    orders = await rest.open_orders(SYMBOL)
    assert [order.client_id for order in orders] == [1, 2]
    assert fake.hits("GET", "/api/v1/orders")[0].query == {"symbol": SYMBOL}


async def test_get_order_is_none_when_not_resting(fake: Any, venue: Venue) -> None:
    assert await fake.rest().get_order(SYMBOL, client_id=5) is None


async def test_position_picks_the_symbol_and_is_flat_otherwise(fake: Any) -> None:
    row = {
        "symbol": SYMBOL,
        "netQuantity": "-1.5",
        "entryPrice": "140",
        "markPrice": "141",
        "pnlUnrealized": "-1.5",
    }
    fake.on("GET", "/api/v1/position", respond([{**row, "symbol": "BTC_USDC_PERP"}, row]))
    rest = fake.rest()
    position = await rest.position(SYMBOL)
    assert position.quantity == D("-1.5") and position.entry_price == D(140) and position.mark_price == D(141)
    assert (await rest.position("ETH_USDC_PERP")).quantity == 0
    assert fake.hits("GET", "/api/v1/position")[0].query["symbol"] == SYMBOL
    fake.on(
        "GET",
        "/api/v1/position",
        respond({"code": "RESOURCE_NOT_FOUND", "message": "Position not found"}, status=404),
    )
    flat = await rest.position(SYMBOL)
    assert flat.quantity == 0 and flat.entry_price == 0
    # Any other 404 (another resource, a proxy, a wrong URL) is no answer about the position.
    for other in (not_found(), respond("<html>404 Not Found</html>", status=404)):
        fake.on("GET", "/api/v1/position", other)
        with pytest.raises(Unavailable):
            await rest.position(SYMBOL)


async def test_collateral_is_a_usdc_balance(fake: Any) -> None:
    fake.on(
        "GET",
        "/api/v1/capital/collateral",
        respond({"netEquity": "1000", "netEquityAvailable": "750.5", "marginFraction": "0.4"}),
    )
    balance = await fake.rest().collateral()
    assert (balance.asset, balance.equity, balance.available, balance.margin_fraction) == (
        "USDC",
        D(1000),
        D("750.5"),
        D("0.4"),
    )


def fill_row(index: int) -> dict[str, Any]:
    return {
        "tradeId": index,
        "orderId": str(index),
        "clientId": None,
        "symbol": SYMBOL,
        "side": "Bid",
        "price": "100",
        "quantity": "1",
        "fee": "0.01",
        "feeSymbol": "USDC",
        "isMaker": True,
        "timestamp": f"2030-01-01T00:00:{index % 60:02d}.{index // 60:03d}",
    }


async def test_fills_page_through_and_come_back_oldest_first(fake: Any) -> None:
    rows = [fill_row(index) for index in range(1500)]

    async def history(call: Any) -> web.StreamResponse:
        newest_first = sorted(rows, key=lambda row: row["timestamp"], reverse=True)
        offset, limit = int(call.query["offset"]), int(call.query["limit"])
        return web.json_response(newest_first[offset : offset + limit])

    fake.on("GET", "/wapi/v1/history/fills", history)
    fills = await fake.rest().fills(SYMBOL, limit=1200)
    pages = fake.hits("GET", "/wapi/v1/history/fills")
    assert [(call.query["offset"], call.query["limit"]) for call in pages] == [("0", "1000"), ("1000", "200")]
    assert pages[0].query["sortDirection"] == "Desc" and pages[0].signed_ok is True
    assert len(fills) == 1200
    ordered = sorted(rows, key=lambda row: row["timestamp"])[-1200:]
    assert [fill.trade_id for fill in fills] == [str(row["tradeId"]) for row in ordered]


async def test_fills_since_ask_from_that_time(fake: Any) -> None:
    fake.on("GET", "/wapi/v1/history/fills", respond([fill_row(5), fill_row(3)]))
    since_ms = 1893456000000 + 4000  # 2030-01-01T00:00:04
    fills = await fake.rest().fills(SYMBOL, since_ms=since_ms)
    query = fake.hits("GET", "/wapi/v1/history/fills")[0].query
    assert query["from"] == str(since_ms) and query["sortDirection"] == "Asc"
    assert [fill.trade_id for fill in fills] == ["5"]


async def test_funding_payments_oldest_first_since(fake: Any) -> None:
    rows = [
        {
            "symbol": SYMBOL,
            "quantity": "-0.5",
            "fundingRate": "0.0001",
            "intervalEndTimestamp": "2030-01-01T02:00:00",
        },
        {
            "symbol": SYMBOL,
            "quantity": "0.25",
            "fundingRate": "-0.0001",
            "intervalEndTimestamp": "2030-01-01T01:00:00",
        },
        {
            "symbol": SYMBOL,
            "quantity": "0.1",
            "fundingRate": "0.0001",
            "intervalEndTimestamp": "2030-01-01T00:00:00",
        },
    ]
    fake.on("GET", "/wapi/v1/history/funding", respond(rows))
    payments = await fake.rest().funding_payments(SYMBOL, since_ms=1893456000000 + 3_600_000)
    assert [payment.amount for payment in payments] == [D("0.25"), D("-0.5")]
    assert fake.hits("GET", "/wapi/v1/history/funding")[0].signed_ok is True


async def test_mark_price_and_depth(fake: Any) -> None:
    fake.on(
        "GET",
        "/api/v1/markPrices",
        respond(
            [
                {
                    "symbol": SYMBOL,
                    "markPrice": "141.2",
                    "indexPrice": "141.1",
                    "fundingRate": "0.0001",
                    "nextFundingTimestamp": 5,
                }
            ]
        ),
    )
    fake.on(
        "GET",
        "/api/v1/depth",
        respond(
            {
                "bids": [["141.0", "2"]],
                "asks": [["141.1", "3"]],
                "lastUpdateId": "99",
                "timestamp": 1700000000000000,
            }
        ),
    )
    rest = fake.rest()
    assert await rest.mark_price(SYMBOL) == D("141.2")
    assert fake.hits("GET", "/api/v1/markPrices")[0].query == {"symbol": SYMBOL}
    snapshot = await rest.depth(SYMBOL)
    assert snapshot.bids == [(D("141.0"), D(2))] and snapshot.asks == [(D("141.1"), D(3))]
    assert snapshot.last_update_id == 99 and snapshot.ts_ns == 1700000000000000000
    with pytest.raises(Unavailable):
        await rest.mark_price("ETH_USDC_PERP")
