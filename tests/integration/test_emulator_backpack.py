"""The emulator as a real process: Backpack REST and WebSocket with real signatures, and its control API.

Requests are built by hand with aiohttp and ``venues.backpack.signing`` (no
connector), so these tests pin the wire protocol itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from venues.backpack.signing import Signer, batch_signing_string, signing_string
from venues.emulator.credentials import generate_account
from venues.emulator.depth_lag import DEFAULT_LAG

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SOL = "SOL_USDC_PERP"
BTC = "BTC_USDC_PERP"
D = Decimal


@dataclass(frozen=True)
class Emu:
    rest_url: str
    ws_url: str
    maker: Signer
    taker: Signer


def start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m venues.emulator``; returns the process and its READY line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "venues.emulator", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline().strip() if ready else ""
    if not line.startswith("READY "):
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"emulator did not get ready: {line!r} {err[-2000:]}")
    return proc, line


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    maker, taker = generate_account(), generate_account()
    accounts = tmp_path_factory.mktemp("emulator") / "accounts.json"
    accounts.write_text(json.dumps([maker.to_json(), taker.to_json()]))
    args = ["--venue", "backpack", "--port", "0", "--seed", "3", "--symbol", SOL, "--symbol", BTC]
    proc, line = start([*args, "--accounts", str(accounts)])
    _, rest_url, ws_url = line.split()
    assert maker.secret is not None and taker.secret is not None
    try:
        yield Emu(rest_url, ws_url, Signer(maker.secret), Signer(taker.secret))
    finally:
        assert stop(proc) == 0


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


async def call(
    http: aiohttp.ClientSession,
    emu: Emu,
    method: str,
    path: str,
    *,
    instruction: str | None = None,
    params: Any = None,
    signer: Signer | None = None,
    header_key: str | None = None,
    timestamp_ms: int | None = None,
    window_ms: int = 5000,
    timeout_s: float = 10,
) -> Reply:
    """One REST request; signed when ``instruction`` is given (batch when ``params`` is a list)."""
    headers: dict[str, str] = {}
    if instruction is not None:
        signer = signer or emu.maker
        timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        if isinstance(params, list):
            text = batch_signing_string(instruction, params, timestamp_ms=timestamp_ms, window_ms=window_ms)
        else:
            text = signing_string(instruction, params or {}, timestamp_ms=timestamp_ms, window_ms=window_ms)
        headers = {
            "X-API-Key": header_key or signer.api_key,
            "X-Signature": signer.sign(text),
            "X-Timestamp": str(timestamp_ms),
            "X-Window": str(window_ms),
        }
    url = emu.rest_url + path
    query = params if method == "GET" else None
    body = params if method != "GET" and params is not None else None
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with http.request(
        method, url, params=query, json=body, headers=headers, timeout=timeout
    ) as response:
        text = await response.text()
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = text
        return Reply(response.status, parsed, response.headers)


async def control(
    http: aiohttp.ClientSession, emu: Emu, path: str, body: dict[str, Any] | None = None
) -> Any:
    method = "GET" if body is None else "POST"
    async with http.request(method, f"{emu.rest_url}/_emulator/{path}", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def touch(http: aiohttp.ClientSession, emu: Emu) -> tuple[Decimal, Decimal]:
    reply = await call(http, emu, "GET", "/api/v1/depth", params={"symbol": SOL, "limit": "5"})
    return D(reply.body["bids"][-1][0]), D(reply.body["asks"][0][0])


def limit_order(price: Decimal, quantity: str = "0.5", side: str = "Bid", **extra: Any) -> dict[str, Any]:
    return {
        "symbol": SOL,
        "side": side,
        "orderType": "Limit",
        "price": str(price),
        "quantity": quantity,
        "timeInForce": "GTC",
        **extra,
    }


# ---------------------------------------------------------------- public REST


async def test_public_endpoints(emu: Emu, http: aiohttp.ClientSession) -> None:
    markets = (await call(http, emu, "GET", "/api/v1/markets")).body
    by_symbol = {m["symbol"]: m for m in markets}
    assert set(by_symbol) == {SOL, BTC}
    assert by_symbol[SOL]["filters"]["price"]["tickSize"] == "0.01"
    assert by_symbol[BTC]["filters"]["quantity"] == {
        "minQuantity": "0.00001",
        "maxQuantity": None,
        "stepSize": "0.00001",
    }
    assert by_symbol[SOL]["marketType"] == "PERP" and by_symbol[SOL]["fundingInterval"] == 28_800_000
    single = await call(http, emu, "GET", "/api/v1/market", params={"symbol": BTC})
    assert single.body["filters"]["price"]["tickSize"] == "0.1"
    unknown = await call(http, emu, "GET", "/api/v1/market", params={"symbol": "DOGE_USDC_PERP"})
    assert unknown.status == 400 and unknown.body["code"] == "INVALID_CLIENT_REQUEST"

    depth = (await call(http, emu, "GET", "/api/v1/depth", params={"symbol": SOL, "limit": "5"})).body
    bids = [D(p) for p, _ in depth["bids"]]
    asks = [D(p) for p, _ in depth["asks"]]
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids) and asks == sorted(asks) and bids[-1] < asks[0]  # both ascending, as Backpack
    assert int(depth["lastUpdateId"]) > 0

    server_ms = (await call(http, emu, "GET", "/api/v1/time")).body
    assert isinstance(server_ms, int) and abs(server_ms - time.time() * 1000) < 2000
    marks = (await call(http, emu, "GET", "/api/v1/markPrices", params={"symbol": SOL})).body
    assert [m["symbol"] for m in marks] == [SOL]
    assert (
        D(marks[0]["markPrice"]) == D(marks[0]["indexPrice"]) and marks[0]["nextFundingTimestamp"] % 1000 == 0
    )
    ticker = (await call(http, emu, "GET", "/api/v1/ticker", params={"symbol": SOL})).body
    assert ticker["symbol"] == SOL and D(ticker["lastPrice"]) > 0


# ---------------------------------------------------------------- signed REST


async def test_order_lifecycle(emu: Emu, http: aiohttp.ClientSession) -> None:
    await control(http, emu, "reset", {})
    bid, _ = await touch(http, emu)
    far = (bid * D("0.9")).quantize(D("0.01"))
    placed = await call(
        http, emu, "POST", "/api/v1/order", instruction="orderExecute",
        params=limit_order(far, postOnly=True, clientId=4242, autoLendRedeem=True),
    )  # fmt: skip
    assert placed.status == 200, placed.body
    order = placed.body
    assert order["status"] == "New" and order["clientId"] == 4242 and order["postOnly"] is True
    assert order["side"] == "Bid" and order["orderType"] == "Limit" and order["timeInForce"] == "GTC"
    assert (order["price"], order["quantity"], order["executedQuantity"]) == (str(far), "0.5", "0")
    assert int(order["id"]) > 0 and abs(order["createdAt"] - time.time() * 1000) < 5000

    listed = await call(
        http, emu, "GET", "/api/v1/orders", instruction="orderQueryAll", params={"symbol": SOL}
    )
    assert [o["id"] for o in listed.body] == [order["id"]]
    by_client = await call(
        http,
        emu,
        "GET",
        "/api/v1/order",
        instruction="orderQuery",
        params={"symbol": SOL, "clientId": "4242"},
    )
    assert by_client.status == 200 and by_client.body["id"] == order["id"]

    ref = {"symbol": SOL, "orderId": order["id"]}
    cancelled = await call(http, emu, "DELETE", "/api/v1/order", instruction="orderCancel", params=ref)
    assert cancelled.status == 200 and cancelled.body["status"] == "Cancelled"
    gone = await call(http, emu, "GET", "/api/v1/order", instruction="orderQuery", params=ref)
    assert (gone.status, gone.body["code"]) == (404, "RESOURCE_NOT_FOUND")
    again = await call(http, emu, "DELETE", "/api/v1/order", instruction="orderCancel", params=ref)
    assert (again.status, again.body) == (
        400,
        {"code": "INVALID_CLIENT_REQUEST", "message": "Order not found"},
    )

    batch = [
        limit_order(far, clientId=1),
        limit_order(far - 1, clientId=2),
        limit_order(far, quantity="0.001"),
    ]
    results = await call(http, emu, "POST", "/api/v1/orders", instruction="orderExecute", params=batch)
    assert results.status == 200
    assert [r.get("status") for r in results.body[:2]] == ["New", "New"]
    assert results.body[2]["message"] == "Quantity decimal too long"
    all_gone = await call(
        http, emu, "DELETE", "/api/v1/orders", instruction="orderCancelAll", params={"symbol": SOL}
    )
    assert sorted(o["clientId"] for o in all_gone.body) == [1, 2]
    assert all(o["status"] == "Cancelled" for o in all_gone.body)
    assert (await call(http, emu, "GET", "/api/v1/orders", instruction="orderQueryAll")).body == []


async def test_refusals_use_backpack_codes(emu: Emu, http: aiohttp.ClientSession) -> None:
    bid, ask = await touch(http, emu)
    taking = await call(
        http, emu, "POST", "/api/v1/order", instruction="orderExecute", params=limit_order(ask, postOnly=True)
    )
    assert (taking.status, taking.body) == (
        400,
        {"code": "INVALID_ORDER", "message": "Order would immediately match and take"},
    )
    off_tick = await call(
        http, emu, "POST", "/api/v1/order", instruction="orderExecute", params=limit_order(bid - D("0.005"))
    )
    assert (off_tick.status, off_tick.body["message"]) == (400, "Price decimal too long")
    flat = {"symbol": SOL, "side": "Ask", "orderType": "Market", "quantity": "1", "reduceOnly": True}
    reduce = await call(http, emu, "POST", "/api/v1/order", instruction="orderExecute", params=flat)
    assert (reduce.status, reduce.body["code"]) == (400, "INVALID_ORDER")
    huge = limit_order((bid * D("0.9")).quantize(D("0.01")), quantity="1000")
    margin = await call(http, emu, "POST", "/api/v1/order", instruction="orderExecute", params=huge)
    assert (margin.status, margin.body["code"]) == (400, "INSUFFICIENT_MARGIN")


async def test_bad_signature_unknown_key_and_expired_window(emu: Emu, http: aiohttp.ClientSession) -> None:
    params = {"symbol": SOL}
    forged = await call(
        http, emu, "GET", "/api/v1/orders", instruction="orderQueryAll", params=params,
        signer=emu.taker, header_key=emu.maker.api_key,
    )  # fmt: skip
    assert (forged.status, forged.body) == (
        401,
        {"code": "INVALID_CLIENT_REQUEST", "message": "Invalid signature"},
    )
    stranger = Signer(generate_account().secret or "")
    unknown = await call(
        http, emu, "GET", "/api/v1/orders", instruction="orderQueryAll", params=params, signer=stranger
    )
    assert (unknown.status, unknown.body["message"]) == (401, "Invalid signature")
    stale_ms = int(time.time() * 1000) - 6000
    stale = await call(
        http, emu, "GET", "/api/v1/orders", instruction="orderQueryAll", params=params, timestamp_ms=stale_ms
    )
    assert (stale.status, stale.body) == (
        401,
        {"code": "INVALID_CLIENT_REQUEST", "message": "request expired"},
    )
    wide = await call(
        http, emu, "GET", "/api/v1/orders", instruction="orderQueryAll", params=params,
        timestamp_ms=stale_ms, window_ms=60_000,
    )  # fmt: skip
    assert wide.status == 200
    unsigned = await call(http, emu, "GET", "/api/v1/orders", params=params)
    assert unsigned.status == 401


async def test_a_fill_shows_in_position_capital_and_history(emu: Emu, http: aiohttp.ClientSession) -> None:
    await control(http, emu, "reset", {})
    await control(http, emu, "taker", {"pause": True})
    try:
        bid, ask = await touch(http, emu)
        price = bid + D("0.01")
        assert price < ask
        resting = await call(
            http, emu, "POST", "/api/v1/order", instruction="orderExecute",
            params=limit_order(price, quantity="1", postOnly=True, clientId=7),
        )  # fmt: skip
        sell = {"symbol": SOL, "side": "Ask", "orderType": "Market", "quantity": "1", "clientId": 8}
        taken = await call(
            http, emu, "POST", "/api/v1/order", instruction="orderExecute", params=sell, signer=emu.taker
        )
        assert taken.body["status"] == "Filled" and D(taken.body["executedQuoteQuantity"]) == price
        positions = (await call(http, emu, "GET", "/api/v1/position", instruction="positionQuery")).body
        assert [(p["symbol"], p["netQuantity"], D(p["entryPrice"])) for p in positions] == [(SOL, "1", price)]
        short = await call(
            http, emu, "GET", "/api/v1/position", instruction="positionQuery", signer=emu.taker
        )
        assert short.body[0]["netQuantity"] == "-1"

        maker_fee = (price * D("0.0002")).quantize(D("0.000001"))
        fills = (
            await call(http, emu, "GET", "/wapi/v1/history/fills", instruction="fillHistoryQueryAll")
        ).body
        assert len(fills) == 1
        fill = fills[0]
        assert (fill["orderId"], fill["clientId"], fill["side"], fill["isMaker"]) == (
            resting.body["id"],
            "7",
            "Bid",
            True,
        )
        assert (D(fill["price"]), fill["quantity"], D(fill["fee"]), fill["feeSymbol"]) == (
            price,
            "1",
            maker_fee,
            "USDC",
        )
        taker_fills = await call(
            http, emu, "GET", "/wapi/v1/history/fills", instruction="fillHistoryQueryAll",
            params={"symbol": SOL}, signer=emu.taker,
        )  # fmt: skip
        assert taker_fills.body[0]["isMaker"] is False
        assert D(taker_fills.body[0]["fee"]) == (price * D("0.0005")).quantize(D("0.000001"))

        collateral = (
            await call(http, emu, "GET", "/api/v1/capital/collateral", instruction="collateralQuery")
        ).body
        assert D(collateral["assetsValue"]) == D(10_000) - maker_fee
        assert D(collateral["netEquityLocked"]) > 0 and D(collateral["marginFraction"]) > 1
        capital = (await call(http, emu, "GET", "/api/v1/capital", instruction="balanceQuery")).body
        assert D(capital["USDC"]["available"]) + D(capital["USDC"]["locked"]) == D(10_000) - maker_fee
        account = (await call(http, emu, "GET", "/api/v1/account", instruction="accountQuery")).body
        assert (account["makerFee"], account["takerFee"], account["futuresMakerFee"]) == ("2", "5", "2")
        funding = await call(
            http, emu, "GET", "/wapi/v1/history/funding", instruction="fundingHistoryQueryAll"
        )
        assert funding.status == 200 and funding.body == []
    finally:
        await control(http, emu, "taker", {"pause": False})


# ---------------------------------------------------------------- WebSocket


async def receive(
    ws: aiohttp.ClientWebSocketResponse, match: Callable[[dict[str, Any]], bool], *, timeout_s: float = 10
) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"stream ended: {message.type}")
            data = json.loads(message.data)
            if match(data):
                return data


def on(stream: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get("stream") == stream


def subscription(signer: Signer, streams: list[str]) -> dict[str, Any]:
    timestamp_ms = int(time.time() * 1000)
    signature = signer.sign(signing_string("subscribe", {}, timestamp_ms=timestamp_ms, window_ms=5000))
    return {
        "method": "SUBSCRIBE",
        "params": streams,
        "signature": [signer.api_key, signature, str(timestamp_ms), "5000"],
    }


async def test_public_streams(emu: Emu, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(emu.ws_url) as ws:
        streams = [f"bookTicker.{SOL}", f"depth.{SOL}", f"trade.{SOL}", f"markPrice.{SOL}"]
        await ws.send_json({"method": "SUBSCRIBE", "params": streams})
        ticker = (await receive(ws, on(f"bookTicker.{SOL}")))["data"]
        assert ticker["e"] == "bookTicker" and ticker["s"] == SOL and D(ticker["b"]) < D(ticker["a"])
        assert abs(ticker["E"] - time.time() * 1_000_000) < 5_000_000 and isinstance(ticker["u"], str)
        first = (await receive(ws, on(f"depth.{SOL}")))["data"]
        snapshot = (await call(http, emu, "GET", "/api/v1/depth", params={"symbol": SOL})).body
        last_id = int(snapshot["lastUpdateId"])
        # The snapshot lags the stream (at most DEFAULT_LAG updates): fetched again, it reaches it.
        assert last_id >= first["U"] - 1 - DEFAULT_LAG
        async with asyncio.timeout(10):
            while last_id < first["u"]:
                snapshot = (await call(http, emu, "GET", "/api/v1/depth", params={"symbol": SOL})).body
                last_id = int(snapshot["lastUpdateId"])
        previous = first
        while previous["u"] <= last_id:
            depth = (await receive(ws, on(f"depth.{SOL}")))["data"]
            assert depth["U"] == previous["u"] + 1  # no gap
            assert depth["U"] <= depth["u"] and all(len(level) == 2 for level in depth["a"] + depth["b"])
            previous = depth
        # The first update past the snapshot continues it exactly: a client can re-seed from REST.
        assert previous["U"] <= last_id + 1 <= previous["u"] or previous is first
        trade = (await receive(ws, on(f"trade.{SOL}")))["data"]
        assert trade["e"] == "trade" and isinstance(trade["t"], int) and isinstance(trade["m"], bool)
        mark = (await receive(ws, on(f"markPrice.{SOL}")))["data"]
        assert D(mark["p"]) > 0 and mark["n"] % 1_000_000 == 0 and "f" in mark and "i" in mark
        await ws.send_json({"method": "SUBSCRIBE", "params": ["depth.DOGE"]})
        error = await receive(ws, lambda m: "error" in m)
        assert error["error"]["code"] == 4002


async def test_private_stream_reports_accept_fill_and_position(emu: Emu, http: aiohttp.ClientSession) -> None:
    await control(http, emu, "reset", {})
    async with http.ws_connect(emu.ws_url) as ws:
        forged = subscription(emu.taker, ["account.orderUpdate"])
        forged["signature"][0] = emu.maker.api_key
        await ws.send_json(forged)
        error = await receive(ws, lambda m: "error" in m)
        assert error["error"] == {"code": 4006, "message": "Invalid signature"}

        await ws.send_json(subscription(emu.maker, [f"account.orderUpdate.{SOL}", "account.positionUpdate"]))
        await ws.send_json({"method": "SUBSCRIBE", "params": [f"bookTicker.{SOL}"]})
        await receive(ws, on(f"bookTicker.{SOL}"))  # commands are handled in order: the private ones are live
        await control(http, emu, "taker", {"pause": True})
        try:
            bid, _ = await touch(http, emu)
            price = bid + D("0.01")
            placed = await call(
                http, emu, "POST", "/api/v1/order", instruction="orderExecute",
                params=limit_order(price, quantity="0.3", postOnly=True, clientId=99),
            )  # fmt: skip
            accepted = (await receive(ws, on(f"account.orderUpdate.{SOL}")))["data"]
            assert (accepted["e"], accepted["c"], accepted["i"], accepted["X"]) == (
                "orderAccepted",
                99,
                placed.body["id"],
                "New",
            )
            assert (accepted["S"], accepted["o"], accepted["f"], accepted["q"], D(accepted["p"])) == (
                "Bid",
                "LIMIT",
                "GTC",
                "0.3",
                price,
            )
            sell = {"symbol": SOL, "side": "Ask", "orderType": "Market", "quantity": "0.3"}
            await call(
                http, emu, "POST", "/api/v1/order", instruction="orderExecute", params=sell, signer=emu.taker
            )
            fill = (await receive(ws, on(f"account.orderUpdate.{SOL}")))["data"]
            assert (fill["e"], fill["X"], fill["l"], D(fill["L"]), fill["m"], fill["N"]) == (
                "orderFill",
                "Filled",
                "0.3",
                price,
                True,
                "USDC",
            )
            assert isinstance(fill["t"], int) and D(fill["n"]) > 0 and fill["z"] == "0.3" and fill["T"] > 0
            position = (await receive(ws, on("account.positionUpdate")))["data"]
            assert (position["e"], position["s"], position["q"], D(position["B"])) == (
                "positionOpened",
                SOL,
                "0.3",
                price,
            )
        finally:
            await control(http, emu, "taker", {"pause": False})
    async with http.ws_connect(emu.ws_url) as ws:
        await ws.send_json(subscription(emu.maker, ["account.positionUpdate"]))
        snapshot = (await receive(ws, on("account.positionUpdate")))["data"]
        assert "e" not in snapshot and snapshot["q"] == "0.3"  # open positions are sent on subscribe


# ---------------------------------------------------------------- control API and faults


async def test_control_state_price_and_reset(emu: Emu, http: aiohttp.ClientSession) -> None:
    await control(http, emu, "reset", {})
    await touch(http, emu)  # one venue request, counted below
    state = await control(http, emu, "state")
    assert set(state["accounts"]) == {emu.maker.api_key, emu.taker.api_key}
    mine = state["accounts"][emu.maker.api_key]
    assert mine == {
        "collateral": "10000",
        "positions": {},
        "open_orders": [],
        "fills": [],
        "orders_placed": 0,
    }
    assert set(state["markets"]) == {SOL, BTC} and state["requests"]["total"] > 0

    await control(http, emu, "price", {"symbol": SOL, "jump_to": "140.5"})
    marks = (await call(http, emu, "GET", "/api/v1/markPrices", params={"symbol": SOL})).body
    assert abs(D(marks[0]["markPrice"]) - D("140.5")) < D("0.5")  # the walk goes on after the jump
    bid, ask = await touch(http, emu)
    assert abs((bid + ask) / 2 - D("140.5")) < 1

    await control(
        http,
        emu,
        "position",
        {"api_key": emu.maker.api_key, "symbol": SOL, "quantity": "-0.5", "entry_price": "150"},
    )
    positions = (await call(http, emu, "GET", "/api/v1/position", instruction="positionQuery")).body
    assert positions[0]["netQuantity"] == "-0.5" and D(positions[0]["pnlUnrealized"]) > 0
    await call(
        http, emu, "POST", "/api/v1/order", instruction="orderExecute",
        params=limit_order((bid * D("0.9")).quantize(D("0.01"))),
    )  # fmt: skip
    state = await control(http, emu, "state")
    mine = state["accounts"][emu.maker.api_key]
    assert mine["positions"][SOL]["quantity"] == "-0.5" and mine["orders_placed"] == 1
    assert len(mine["open_orders"]) == 1 and state["requests"]["by_path"]["/api/v1/order"] >= 1

    await control(http, emu, "reset", {})
    state = await control(http, emu, "state")
    assert state["accounts"][emu.maker.api_key]["positions"] == {}
    assert state["accounts"][emu.maker.api_key]["open_orders"] == []
    assert abs(D(state["markets"][SOL]["fair"]) - 150) < 2


async def test_rest_faults(emu: Emu, http: aiohttp.ClientSession) -> None:
    try:
        await control(http, emu, "faults", {"error_rate": 1.0})
        statuses = {(await call(http, emu, "GET", "/api/v1/time")).status for _ in range(8)}
        assert statuses <= {500, 503} and statuses
        await control(http, emu, "faults", {"rate_limit_rate": 1.0})
        limited = await call(http, emu, "GET", "/api/v1/time")
        assert (limited.status, limited.body["code"]) == (429, "TOO_MANY_REQUESTS")
        assert int(limited.headers["Retry-After"]) >= 1
        await control(http, emu, "faults", {"latency_ms": 300})
        started = time.monotonic()
        assert (await call(http, emu, "GET", "/api/v1/time")).status == 200
        assert time.monotonic() - started >= 0.3
        await control(http, emu, "faults", {"clock_offset_ms": 30_000})
        skewed = (await call(http, emu, "GET", "/api/v1/time")).body
        assert 28_000 < skewed - time.time() * 1000 < 32_000
        stale = await call(http, emu, "GET", "/api/v1/orders", instruction="orderQueryAll")
        assert (stale.status, stale.body["message"]) == (401, "request expired")
        await control(http, emu, "faults", {"hang_after_execute": 1})
        bid, _ = await touch(http, emu)
        hung = limit_order((bid * D("0.9")).quantize(D("0.01")), clientId=31337)
        with pytest.raises(TimeoutError):
            await call(
                http, emu, "POST", "/api/v1/order", instruction="orderExecute", params=hung, timeout_s=1
            )
        executed = await call(
            http,
            emu,
            "GET",
            "/api/v1/order",
            instruction="orderQuery",
            params={"symbol": SOL, "clientId": "31337"},
        )
        assert executed.status == 200 and executed.body["status"] == "New"
        await control(http, emu, "faults", {"freeze_s": 1.0})
        started = time.monotonic()
        assert (await call(http, emu, "GET", "/api/v1/time")).status == 200
        assert time.monotonic() - started >= 0.8
        assert (await control(http, emu, "faults", {}))["error_rate"] == 0
    finally:
        await control(http, emu, "faults", {})
        await call(
            http, emu, "DELETE", "/api/v1/orders", instruction="orderCancelAll", params={"symbol": SOL}
        )


async def test_stream_faults_drop_and_depth_gap(emu: Emu, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(emu.ws_url) as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": [f"depth.{SOL}"]})
        previous = (await receive(ws, on(f"depth.{SOL}")))["data"]
        await control(http, emu, "faults", {"depth_gap": True})
        gaps = 0
        deadline = time.monotonic() + 2  # messages already in flight, then the dropped one, then more
        while time.monotonic() < deadline:
            depth = (await receive(ws, on(f"depth.{SOL}")))["data"]
            gaps += depth["U"] != previous["u"] + 1
            previous = depth
        assert gaps == 1
        await control(http, emu, "faults", {"drop_ws": True})
        async with asyncio.timeout(5):
            while (await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                pass
        assert ws.closed
    await control(http, emu, "faults", {})


async def test_a_scheduled_price_jump_comes_after_the_answer(emu: Emu, http: aiohttp.ClientSession) -> None:
    """``after_ms``: the answer comes at once and the book moves that much later."""
    await control(http, emu, "reset", {})
    fair = D((await control(http, emu, "state"))["markets"][SOL]["fair"])
    target = (fair + 3).quantize(D("0.01"))
    answer = await control(http, emu, "price", {"symbol": SOL, "jump_to": str(target), "after_ms": 300})
    assert answer["jump_in_ms"] == 300 and abs(D(answer["fair"]) - fair) < 1
    bid, ask = await touch(http, emu)
    assert abs((bid + ask) / 2 - fair) < 1  # not yet
    await asyncio.sleep(0.6)
    bid, ask = await touch(http, emu)
    assert abs((bid + ask) / 2 - target) < 1


async def test_an_order_keeps_when_its_request_reached_the_emulator(
    emu: Emu, http: aiohttp.ClientSession
) -> None:
    """``received_ns`` in the state: stamped as the request's handling starts (single and batch)."""
    await control(http, emu, "reset", {})
    bid, _ = await touch(http, emu)
    far = (bid * D("0.8")).quantize(D("0.01"))
    sent_ns = time.time_ns()
    await call(http, emu, "POST", "/api/v1/order", instruction="orderExecute", params=limit_order(far))
    answered_ns = time.time_ns()
    batch = [limit_order(far - 1), limit_order(far - 2)]
    await call(http, emu, "POST", "/api/v1/orders", instruction="orderExecute", params=batch)
    batch_answered_ns = time.time_ns()
    orders = {
        D(o["price"]): o
        for o in (await control(http, emu, "state"))["accounts"][emu.maker.api_key]["open_orders"]
    }
    assert sent_ns < orders[far]["received_ns"] < answered_ns
    stamps = {orders[far - 1]["received_ns"], orders[far - 2]["received_ns"]}
    assert len(stamps) == 1 and answered_ns < stamps.pop() < batch_answered_ns  # one request, one arrival
    await control(http, emu, "reset", {})


async def test_bad_control_requests_are_400(emu: Emu, http: aiohttp.ClientSession) -> None:
    for path, body in (
        ("faults", {"error_rate": 2}),
        ("faults", {"no_such_fault": 1}),
        ("price", {"symbol": "DOGE", "jump_to": "1"}),
        ("price", {"symbol": SOL}),
        ("price", {"symbol": SOL, "jump_to": "0"}),
        ("price", {"symbol": SOL, "jump_to": "140", "after_ms": -1}),
        ("price", {"symbol": SOL, "jump_to": "140", "after_ms": 10_001}),
        ("position", {"api_key": "nobody", "symbol": SOL, "quantity": "1", "entry_price": "1"}),
        ("taker", {"symbol": SOL, "rate_per_s": "-1"}),
    ):
        async with http.post(f"{emu.rest_url}/_emulator/{path}", json=body) as response:
            assert response.status == 400, (path, body)
            assert "error" in await response.json()


# ---------------------------------------------------------------- the command line


def test_cli_generates_an_owner_only_account_and_refuses_bad_options(tmp_path: Path) -> None:
    written = tmp_path / "generated.json"
    proc, line = start(["--port", "0", "--write-accounts", str(written), "--symbol", BTC])
    assert line.startswith("READY http://127.0.0.1:") and line.endswith("/")
    assert stop(proc) == 0
    assert written.stat().st_mode & 0o777 == 0o600
    [account] = json.loads(written.read_text())
    assert Signer(account["secret"]).api_key == account["api_key"] and account["collateral"] == "10000"

    for args, expected in (
        (["--symbol", "DOGE_USDC_PERP", "--write-accounts", str(written)], "unknown symbol"),
        (["--venue", "kraken", "--write-accounts", str(written)], "unknown venue"),
        ([], "--accounts"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "venues.emulator", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2 and expected in result.stderr and result.stdout == "", (
            args,
            result.stderr,
        )
