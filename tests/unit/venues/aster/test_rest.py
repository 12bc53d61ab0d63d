"""Aster REST on a scripted loopback server: the GTX fallback, unknown outcomes, cancel-all, paging, paths."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from fake_aster import Call, FakeAster, error, reply, sequence, signer, static

from services.wire import OrderStatus, Place, RejectReason, Side
from venues.aster.rest import AsterRest
from venues.aster.signing import Eip712Signer
from venues.aster.transport import AsterTransport
from venues.base import Rejected, Unavailable

D = Decimal
INFO = {
    "symbols": [
        {
            "symbol": "SOLUSDT",
            "contractType": "PERPETUAL",
            "baseAsset": "SOL",
            "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "stepSize": "0.01", "minQty": "0.01"},
                {"filterType": "MIN_NOTIONAL", "notional": "5"},
            ],
        },
        {"symbol": "BROKEN", "contractType": "PERPETUAL", "filters": []},
    ]
}
TICKER = {"symbol": "SOLUSDT", "bidPrice": "150.00", "bidQty": "1", "askPrice": "150.10", "askQty": "1"}


def order_json(call: Call, **fields: Any) -> dict[str, Any]:
    params = call.params
    return {
        "orderId": 1,
        "symbol": "SOLUSDT",
        "status": "NEW",
        "clientOrderId": params.get("newClientOrderId") or params.get("origClientOrderId", ""),
        "price": params.get("price", "150"),
        "origQty": params.get("quantity", "0.1"),
        "executedQty": "0",
        "timeInForce": params.get("timeInForce", "GTC"),
        "type": "LIMIT",
        "reduceOnly": False,
        "side": params.get("side", "BUY"),
    } | fields


async def echo_order(call: Call) -> web.StreamResponse:
    return reply(order_json(call))


def rest(fake: FakeAster, **options: Any) -> AsterRest:
    transport = AsterTransport(api_url=fake.url, signer=options.pop("signer", signer()), backoff_base_s=0.01)
    return AsterRest(transport, resolve_poll_s=0.02, resolve_timeout_s=3.0, **options)


def bid(price: str, *, client_id: int = 5, **fields: Any) -> Place:
    return Place(
        client_id=client_id, symbol="SOLUSDT", side=Side.BUY, quantity=D("0.1"), price=D(price), **fields
    )


@pytest.fixture
def venue_routes(fake: FakeAster) -> FakeAster:
    fake.on("GET", "/fapi/v1/exchangeInfo", static(INFO))
    fake.on("GET", "/fapi/v1/ticker/bookTicker", static(TICKER))
    return fake


async def test_markets_skip_malformed_entries(venue_routes: FakeAster) -> None:
    aster = rest(venue_routes)
    try:
        assert list(await aster.load_markets()) == ["SOLUSDT"]
        with pytest.raises(Rejected) as unknown:
            await aster.rules("ETHUSDT")
        assert unknown.value.reason is RejectReason.MALFORMED
    finally:
        await aster.transport.close()


async def test_gtx_refused_falls_back_to_gtc_once_and_logged_once(
    venue_routes: FakeAster, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse_gtx(call: Call) -> web.StreamResponse:
        if call.params.get("timeInForce") == "GTX":
            return error(400, -1115, "Invalid timeInForce.")
        return reply(order_json(call))

    venue_routes.on("POST", "/fapi/v1/order", refuse_gtx)
    aster = rest(venue_routes)
    caplog.set_level(logging.WARNING)
    try:
        first = await aster.place_order(bid("149.50", post_only=True))
        assert first.status is OrderStatus.NEW
        second = await aster.place_order(bid("149.60", client_id=6, post_only=True))
        assert second.client_id == 6
        # Would take at the current ask: refused locally, nothing sent.
        with pytest.raises(Rejected) as taking:
            await aster.place_order(bid("150.10", client_id=7, post_only=True))
        assert taking.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
        # Orders that are not post-only are unaffected.
        await aster.place_order(bid("150.10", client_id=8))
    finally:
        await aster.transport.close()
    tifs = [c.params["timeInForce"] for c in venue_routes.calls_to("POST", "/fapi/v1/order")]
    assert tifs == ["GTX", "GTC", "GTC", "GTC"]
    assert len(venue_routes.calls_to("GET", "/fapi/v1/ticker/bookTicker")) == 3
    assert sum("refuses timeInForce=GTX" in r.getMessage() for r in caplog.records) == 1


async def test_other_refusals_do_not_switch_off_gtx(venue_routes: FakeAster) -> None:
    venue_routes.on(
        "POST", "/fapi/v1/order", static({"code": -5022, "msg": "could not be executed as maker"}, status=400)
    )
    aster = rest(venue_routes)
    try:
        for _ in range(2):
            with pytest.raises(Rejected) as refused:
                await aster.place_order(bid("150.05", post_only=True))
            assert refused.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
    finally:
        await aster.transport.close()
    assert [c.params["timeInForce"] for c in venue_routes.calls_to("POST", "/fapi/v1/order")] == [
        "GTX",
        "GTX",
    ]


async def test_a_hedge_mode_account_is_told_to_switch_to_one_way(venue_routes: FakeAster) -> None:
    venue_routes.on(
        "POST",
        "/fapi/v1/order",
        static({"code": -4061, "msg": "Order's position side does not match user's setting."}, status=400),
    )
    aster = rest(venue_routes)
    try:
        with pytest.raises(Rejected, match="hedge \\(dual-side\\) position mode") as refused:
            await aster.place_order(bid("149"))
        assert refused.value.reason is RejectReason.OTHER and "position side" in refused.value.venue_message
    finally:
        await aster.transport.close()


async def test_local_refusals_never_reach_the_venue(venue_routes: FakeAster) -> None:
    aster = rest(venue_routes)
    try:
        with pytest.raises(Rejected) as notional:
            await aster.place_order(
                Place(client_id=1, symbol="SOLUSDT", side=Side.BUY, quantity=D("0.03"), price=D("150"))
            )
        assert notional.value.reason is RejectReason.MIN_NOTIONAL
        with pytest.raises(Rejected) as tick:
            await aster.place_order(bid("150.001"))
        assert tick.value.reason is RejectReason.BAD_PRICE
        with pytest.raises(Rejected) as client_id:
            await aster.place_order(bid("150", client_id=2**32))
        assert client_id.value.reason is RejectReason.MALFORMED
    finally:
        await aster.transport.close()
    assert venue_routes.calls_to("POST", "/fapi/v1/order") == []


async def test_unknown_outcome_found_by_client_id(venue_routes: FakeAster) -> None:
    venue_routes.on("POST", "/fapi/v1/order", static({"code": -1001, "msg": "Internal error"}, status=503))
    venue_routes.on(
        "GET",
        "/fapi/v1/order",
        sequence(static({"code": -2013, "msg": "Order does not exist."}, status=400), echo_order),
    )
    aster = rest(venue_routes)
    try:
        found = await aster.place_order(bid("149"))
        assert found.client_id == 5 and found.status is OrderStatus.NEW
    finally:
        await aster.transport.close()
    lookups = venue_routes.calls_to("GET", "/fapi/v1/order")
    assert len(lookups) == 2 and lookups[0].params["origClientOrderId"] == "5"
    assert len(venue_routes.calls_to("POST", "/fapi/v1/order")) == 1


async def test_unknown_outcome_absent_after_the_window_is_not_placed(venue_routes: FakeAster) -> None:
    venue_routes.on("POST", "/fapi/v1/order", static({"code": -1001, "msg": "Internal error"}, status=503))
    venue_routes.on(
        "GET", "/fapi/v1/order", static({"code": -2013, "msg": "Order does not exist."}, status=400)
    )
    short = signer()
    short.recv_window_ms = 100
    aster = rest(venue_routes, signer=short, resolve_grace_ms=50)
    try:
        with pytest.raises(Unavailable, match="was not placed"):
            await aster.place_order(bid("149"))
    finally:
        await aster.transport.close()


async def test_cancel_all_deletes_first_and_counts_the_orders_seen_open(venue_routes: FakeAster) -> None:
    async def two_open(call: Call) -> web.StreamResponse:
        return reply([order_json(call, orderId=1), order_json(call, orderId=2)])

    venue_routes.on("GET", "/fapi/v1/openOrders", two_open)
    venue_routes.on("DELETE", "/fapi/v1/allOpenOrders", static({"code": 200, "msg": "done"}))
    venue_routes.on(
        "GET", "/fapi/v1/order", static({"code": -2013, "msg": "Order does not exist."}, status=400)
    )
    aster = rest(venue_routes)
    try:
        assert len(await aster.open_orders("SOLUSDT")) == 2
        # The DELETE alone: the count is of the orders last seen open, the venue gives none.
        assert await aster.cancel_all("SOLUSDT") == 2
        assert [call.path for call in venue_routes.calls][-1] == "/fapi/v1/allOpenOrders"
        assert await aster.cancel_all("SOLUSDT") == 0
        assert await aster.get_order("SOLUSDT", order_id="9") is None
        with pytest.raises(ValueError):
            await aster.get_order("SOLUSDT")
    finally:
        await aster.transport.close()


async def test_fills_page_forward_by_trade_id(venue_routes: FakeAster) -> None:
    def trade(number: int) -> dict[str, Any]:
        return {
            "symbol": "SOLUSDT",
            "id": number,
            "orderId": 1,
            "side": "BUY",
            "price": "150",
            "qty": "0.01",
            "time": number,
        }

    async def pages(call: Call) -> web.StreamResponse:
        start = int(call.params.get("fromId", "1"))
        size = int(call.params["limit"])
        return reply([trade(n) for n in range(start, min(start + size, 2501))])

    venue_routes.on("GET", "/fapi/v1/userTrades", pages)
    venue_routes.on("GET", "/fapi/v1/order", static({"code": -1001, "msg": "busy"}, status=503))
    aster = rest(venue_routes)
    try:
        fills = await aster.fills("SOLUSDT", since_ms=0, limit=2200)
        assert [f.trade_id for f in fills] == [str(n) for n in range(1, 2201)]
        assert all(f.client_id is None for f in fills)  # the lookup failed: fills still returned
    finally:
        await aster.transport.close()
    calls = venue_routes.calls_to("GET", "/fapi/v1/userTrades")
    assert [c.params.get("fromId") for c in calls] == [None, "1001", "2001"]
    assert calls[0].params["startTime"] == "0"


async def test_fill_client_ids_come_from_orders_seen_or_looked_up(venue_routes: FakeAster) -> None:
    def trade(number: int, order_id: int) -> dict[str, Any]:
        return {
            "symbol": "SOLUSDT",
            "id": number,
            "orderId": order_id,
            "side": "BUY",
            "price": "150",
            "qty": "0.1",
        }

    venue_routes.on("GET", "/fapi/v1/userTrades", static([trade(1, 1), trade(2, 2), trade(3, 2)]))

    async def order_two(call: Call) -> web.StreamResponse:
        return reply(
            order_json(call, orderId=int(call.params["orderId"]), clientOrderId="22", status="FILLED")
        )

    venue_routes.on("GET", "/fapi/v1/order", order_two)
    venue_routes.on("POST", "/fapi/v1/order", echo_order)
    aster = rest(venue_routes)
    try:
        placed = await aster.place_order(bid("149", client_id=11))  # order 1, seen when placed
        assert placed.order_id == "1"
        fills = await aster.fills("SOLUSDT")
        assert [(f.trade_id, f.client_id) for f in fills] == [("1", 11), ("2", 22), ("3", 22)]
        await aster.fills("SOLUSDT")  # every client id is known now: no more lookups
    finally:
        await aster.transport.close()
    assert [c.params["orderId"] for c in venue_routes.calls_to("GET", "/fapi/v1/order")] == ["2"]


async def test_paths_and_listen_keys_by_generation(fake: FakeAster) -> None:
    v1 = rest(fake)
    key = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
    v3 = rest(
        fake,
        signer=Eip712Signer(
            user="0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e",
            signer="0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0",
            private_key=key,
        ),
    )
    fake.on("POST", "/fapi/v1/listenKey", static({"listenKey": "one"}))
    fake.on("POST", "/fapi/v3/listenKey", static({"listenKey": "three"}))
    fake.on("PUT", "/fapi/v1/listenKey", static({}))
    try:
        assert (v1.path("positionRisk", v1_version="v2"), v1.path("order")) == (
            "/fapi/v2/positionRisk",
            "/fapi/v1/order",
        )
        assert (v3.path("positionRisk", v1_version="v2"), v3.path("order")) == (
            "/fapi/v3/positionRisk",
            "/fapi/v3/order",
        )
        assert await v1.listen_key("POST") == "one" and await v1.listen_key("PUT") is None
        assert await v3.listen_key("POST") == "three"
        fake.on("POST", "/fapi/v1/listenKey", static({"nothing": 1}))
        with pytest.raises(Unavailable):
            await v1.listen_key("POST")
    finally:
        await v1.transport.close()
        await v3.transport.close()
    (v3_call,) = fake.calls_to("POST", "/fapi/v3/listenKey")
    assert {"nonce", "user", "signer", "signature"} <= set(v3_call.params)
    assert "X-MBX-APIKEY" not in v3_call.headers
