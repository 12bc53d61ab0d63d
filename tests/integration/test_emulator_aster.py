"""The emulator's Aster front end on the wire: auth refusals, order rules, batches, live WebSocket commands.

Requests are built by hand (with the connector's signers), so every refusal
the front end can give is seen with its venue code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from venues.aster.signing import Eip712Signer, HmacSigner, param_string
from venues.emulator.aster_credentials import AsterAccountSpec, generate_aster_account
from venues.emulator.server import EmulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
SYMBOL = "SOLUSDT"


@pytest.fixture
async def setup() -> AsyncIterator[tuple[EmulatorServer, AsterAccountSpec, aiohttp.ClientSession]]:
    account = generate_aster_account()
    async with (
        EmulatorServer(venue="aster", symbols=[SYMBOL], accounts=[account]) as emu,
        aiohttp.ClientSession() as http,
    ):
        yield emu, account, http


def v1(account: AsterAccountSpec) -> HmacSigner:
    assert account.api_key and account.secret
    return HmacSigner(account.api_key, account.secret)


def v3(account: AsterAccountSpec) -> Eip712Signer:
    assert account.user and account.signer and account.signer_private_key
    return Eip712Signer(user=account.user, signer=account.signer, private_key=account.signer_private_key)


async def send(
    http: aiohttp.ClientSession,
    emu: EmulatorServer,
    method: str,
    path: str,
    text: str,
    *,
    key: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    headers = {"X-MBX-APIKEY": key} if key else {}
    url = f"{emu.rest_url}{path}"
    if method in ("GET", "DELETE"):
        request = http.request(method, f"{url}?{text}", headers=headers)
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = http.request(method, url, data=text, headers=headers)
    async with request as response:
        return response.status, await response.json(), dict(response.headers)


def order(**fields: str) -> list[tuple[str, str]]:
    values = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1"}
    return list((values | fields).items())


async def test_v1_auth_refusals(
    setup: tuple[EmulatorServer, AsterAccountSpec, aiohttp.ClientSession],
) -> None:
    emu, account, http = setup
    signer = v1(account)
    now_ms = emu.core.now_ms()
    good = signer.sign([("symbol", SYMBOL)], now_ms=now_ms)
    status, body, headers = await send(http, emu, "GET", "/fapi/v1/openOrders", good, key=signer.api_key)
    assert (status, body) == (200, []) and int(headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    cases = [
        (param_string([("symbol", SYMBOL), ("timestamp", str(now_ms))]), signer.api_key, -1102),
        (good, "unknown-key", -2015),
        (good.replace("symbol=SOLUSDT", "symbol=BTCUSDT"), signer.api_key, -1022),
        (signer.sign([("symbol", SYMBOL)], now_ms=now_ms - 10_000), signer.api_key, -1021),
        (signer.sign([("symbol", SYMBOL)], now_ms=now_ms + 5_000), signer.api_key, -1021),
    ]
    for text, key, code in cases:
        status, body, _ = await send(http, emu, "GET", "/fapi/v1/openOrders", text, key=key)
        assert body["code"] == code, (text, body)
    wide = HmacSigner(signer.api_key, str(account.secret), recv_window_ms=60_000)
    text = wide.sign([("symbol", SYMBOL)], now_ms=now_ms).replace("recvWindow=60000", "recvWindow=70000")
    assert (await send(http, emu, "GET", "/fapi/v1/openOrders", text, key=signer.api_key))[1]["code"] == -1131
    # v3 paths do not take v1 auth.
    status, body, _ = await send(http, emu, "GET", "/fapi/v3/openOrders", good, key=signer.api_key)
    assert body["code"] == -1102 and "user" in body["msg"]


async def test_v3_auth_refusals(
    setup: tuple[EmulatorServer, AsterAccountSpec, aiohttp.ClientSession],
) -> None:
    emu, account, http = setup
    signer = v3(account)
    now_ms = emu.core.now_ms()
    assert (
        await send(http, emu, "GET", "/fapi/v3/openOrders", signer.sign([("symbol", SYMBOL)], now_ms=now_ms))
    )[0] == 200
    # A fresh signer (no later nonce yet), beyond the 60 s nonce window.
    stale = v3(account).sign([("symbol", SYMBOL)], now_ms=now_ms - 70_000)
    assert (await send(http, emu, "GET", "/fapi/v3/openOrders", stale))[1]["code"] == -4225
    other = generate_aster_account()
    impostor = Eip712Signer(
        user=str(account.user), signer=str(other.signer), private_key=str(other.signer_private_key)
    )
    text = impostor.sign([("symbol", SYMBOL)], now_ms=now_ms)
    assert (await send(http, emu, "GET", "/fapi/v3/openOrders", text))[1]["code"] == -1022
    forged = signer.sign([("symbol", SYMBOL)], now_ms=now_ms).replace(
        f"user={account.user}", f"user={other.user}"
    )
    assert (await send(http, emu, "GET", "/fapi/v3/openOrders", forged))[1]["code"] == -1022
    # The signature goes 0x-prefixed, as the venue's demos send it: bare hex is refused.
    bare = signer.sign([("symbol", SYMBOL)], now_ms=now_ms).replace("&signature=0x", "&signature=")
    assert (await send(http, emu, "GET", "/fapi/v3/openOrders", bare))[1]["code"] == -1022


async def test_order_rules_and_batch(
    setup: tuple[EmulatorServer, AsterAccountSpec, aiohttp.ClientSession],
) -> None:
    emu, account, http = setup
    signer = v1(account)
    bid = emu.engine.top(SYMBOL)[0]
    assert bid is not None
    price = str(bid[0] - 1)

    async def place(params: list[tuple[str, str]], path: str = "/fapi/v1/order") -> Any:
        text = signer.sign(params, now_ms=emu.core.now_ms())
        return (await send(http, emu, "POST", path, text, key=signer.api_key))[1]

    placed = await place(order(price=price, newClientOrderId="dup-1", reduceOnly="false"))
    assert (
        placed["status"] == "NEW" and placed["clientOrderId"] == "dup-1" and placed["positionSide"] == "BOTH"
    )
    assert (await place(order(price=price, newClientOrderId="dup-1")))["code"] == -4116
    assert (await place(order(price=price, positionSide="LONG")))["code"] == -4061
    assert (await place(order(price=price, type="OCO")))["code"] == -1116
    assert (await place(order(price=price, type="STOP")))["code"] == -1102  # no stopPrice
    # Conditional orders: refused when they would trigger at once or lack what their type needs.
    stop = {"type": "STOP_MARKET", "side": "SELL", "timeInForce": "GTC"}
    assert (await place(order(**stop, stopPrice=str(bid[0] + 5), workingType="MARK_PRICE")))["code"] == -2021
    assert (await place(order(**stop, stopPrice=price, closePosition="true")))["code"] == -1106
    trailing = order(type="TRAILING_STOP_MARKET", side="SELL", callbackRate="9")
    assert (await place(trailing))["code"] == -1130
    resting = await place(order(**stop, stopPrice=str(bid[0] - 5), quantity="0.1", newClientOrderId="sl-1"))
    assert (resting["type"], resting["status"], resting["clientOrderId"]) == ("STOP_MARKET", "NEW", "sl-1")
    assert (await place(order(**stop, stopPrice=str(bid[0] - 6), newClientOrderId="sl-1")))["code"] == -4116
    assert (await place(order(price=price, timeInForce="GTD")))["code"] == -1115
    assert (await place([(k, v) for k, v in order(price=price) if k != "timeInForce"]))["code"] == -1102
    assert (await place(order(price=price, newClientOrderId="bad id!")))["code"] == -4015
    assert (await place(order(price=price, quantity="0.001")))["code"] == -4023
    assert (await place(order(price=price, reduceOnly="maybe")))["code"] == -1130
    assert (await place(order(price="1", quantity="1")))["code"] == -4164
    batch = json.dumps(
        [
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTX",
                "quantity": "0.1",
                "price": price,
            },
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.1",
                "price": "1",
            },
        ]
    )
    results = await place([("batchOrders", batch)], "/fapi/v1/batchOrders")
    assert results[0]["status"] == "NEW" and results[0]["timeInForce"] == "GTX"
    assert results[1] == {"code": -4164, "msg": results[1]["msg"]}
    resting = emu.engine.open_orders(account.account_id)
    assert len(resting) == 2
    # Each order keeps when the request placing it reached the emulator (the batch's is later).
    assert all(order.received_ns is not None for order in resting)
    assert resting[0].received_ns < resting[1].received_ns  # type: ignore[operator]


async def test_live_subscribe_raw_streams_and_position_mode(
    setup: tuple[EmulatorServer, AsterAccountSpec, aiohttp.ClientSession],
) -> None:
    emu, account, http = setup
    emu.simulator.set_taker_rate(SYMBOL, 20.0)
    async with http.ws_connect(f"{emu.rest_url}/ws") as ws:
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["solusdt@aggTrade", "solusdt@depth@100ms"], "id": 7}
        )
        assert await ws.receive_json(timeout=5) == {"result": None, "id": 7}
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 8})
        seen: dict[str, Any] = {}
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            message = await ws.receive_json(timeout=5)
            seen[message.get("e") or ("list" if "result" in message else "other")] = message
        assert seen["list"] == {"result": ["solusdt@aggTrade", "solusdt@depth@100ms"], "id": 8}
        assert seen["aggTrade"]["s"] == SYMBOL and "pu" in seen["depthUpdate"]
        await ws.send_json({"method": "SUBSCRIBE", "params": ["dogeusdt@aggTrade"], "id": 9})
        reply = await ws.receive_json(timeout=5)
        while "id" not in reply:
            reply = await ws.receive_json(timeout=5)
        assert reply["code"] == 2 and reply["id"] == 9
    async with http.ws_connect(f"{emu.rest_url}/ws/solusdt@markPrice") as ws:
        mark = await asyncio.wait_for(ws.receive_json(), 5)
        assert mark["e"] == "markPriceUpdate" and "stream" not in mark
    async with http.get(f"{emu.rest_url}/ws/nonsense") as response:
        assert response.status == 400
    signer = v1(account)
    text = signer.sign([], now_ms=emu.core.now_ms())
    status, body, _ = await send(http, emu, "GET", "/fapi/v1/positionSide/dual", text, key=signer.api_key)
    assert (status, body) == (200, {"dualSidePosition": False})
