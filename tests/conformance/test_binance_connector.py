"""The unmodified third-party ``binance-futures-connector`` trades against the emulator's Aster v1 front end.

Aster's v1 (HMAC) generation is the Binance USDⓈ-M futures protocol on
``/fapi/v1``: the same ``X-MBX-APIKEY`` header, ``timestamp``/``recvWindow``
and hex HMAC-SHA256 ``signature`` over the query string.  ``UMFutures`` is used
as shipped, with only its ``base_url`` pointed at the emulator, so a difference
between the emulator and that wire protocol shows up here.  The client is
synchronous: its calls run in a worker thread beside the emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from binance.error import ClientError
from binance.um_futures import UMFutures

from venues.emulator.aster_credentials import AsterAccountSpec, generate_aster_account
from venues.emulator.server import EmulatorServer

pytestmark = pytest.mark.timeout(60)

SYMBOL = "SOLUSDT"
T = TypeVar("T")


async def run(call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(call, *args, **kwargs)


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[EmulatorServer, AsterAccountSpec]]:
    account = generate_aster_account()
    async with EmulatorServer(venue="aster", seed=3, symbols=[SYMBOL], accounts=[account]) as emu:
        yield emu, account


def client(emu: EmulatorServer, account: AsterAccountSpec, *, secret: str | None = None) -> UMFutures:
    return UMFutures(key=account.api_key, secret=secret or account.secret, base_url=emu.rest_url)


async def test_public_market_data(emulator: tuple[EmulatorServer, AsterAccountSpec]) -> None:
    emu, account = emulator
    futures = client(emu, account)
    assert abs((await run(futures.time))["serverTime"] - emu.core.now_ms()) < 2000
    info = await run(futures.exchange_info)
    (market,) = info["symbols"]
    filters = {f["filterType"]: f for f in market["filters"]}
    assert market["symbol"] == SYMBOL and filters["PRICE_FILTER"]["tickSize"] == "0.01"
    assert filters["LOT_SIZE"]["stepSize"] == "0.01" and filters["MIN_NOTIONAL"]["notional"] == "5"
    depth = await run(futures.depth, SYMBOL, limit=5)
    assert len(depth["bids"]) == 5 and Decimal(depth["bids"][0][0]) < Decimal(depth["asks"][0][0])
    ticker = await run(futures.book_ticker, SYMBOL)
    assert ticker["bidPrice"] == depth["bids"][0][0]
    premium = await run(futures.mark_price, SYMBOL)
    assert Decimal(premium["markPrice"]) > 0


async def test_places_queries_and_cancels_orders(emulator: tuple[EmulatorServer, AsterAccountSpec]) -> None:
    emu, account = emulator
    futures = client(emu, account)
    depth = await run(futures.depth, SYMBOL, limit=5)
    far_bid = (Decimal(depth["bids"][-1][0]) * Decimal("0.95")).quantize(Decimal("0.01"))
    placed = await run(
        futures.new_order,
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="GTX",
        quantity=0.5,
        price=str(far_bid),
        newClientOrderId="conformance-1",
    )
    assert placed["status"] == "NEW" and placed["clientOrderId"] == "conformance-1"
    assert placed["timeInForce"] == "GTX" and Decimal(placed["price"]) == far_bid
    queried = await run(futures.query_order, SYMBOL, origClientOrderId="conformance-1")
    assert queried["orderId"] == placed["orderId"]
    opened = await run(futures.get_open_orders, SYMBOL, orderId=placed["orderId"])
    assert opened["orderId"] == placed["orderId"]
    cancelled = await run(futures.cancel_order, SYMBOL, orderId=placed["orderId"])
    assert cancelled["status"] == "CANCELED"
    with pytest.raises(ClientError) as unknown:
        await run(futures.cancel_order, SYMBOL, origClientOrderId="conformance-1")
    assert unknown.value.error_code == -2011

    # An order without a client id gets one from the venue; cancel-all and the countdown both work.
    second = await run(
        futures.new_order,
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity=0.5,
        price=str(far_bid),
    )
    assert second["clientOrderId"]
    done = await run(futures.cancel_open_orders, SYMBOL)
    assert done["code"] == 200
    assert emu.engine.open_orders(account.account_id) == []
    countdown = await run(futures.countdown_cancel_order, SYMBOL, countdownTime=60_000)
    assert countdown == {"symbol": SYMBOL, "countdownTime": "60000"}


async def test_fills_and_listen_key(emulator: tuple[EmulatorServer, AsterAccountSpec]) -> None:
    emu, account = emulator
    futures = client(emu, account)
    # The venue's default answer is ACK (NEW); RESULT answers a market order's outcome.
    acked = await run(futures.new_order, symbol=SYMBOL, side="BUY", type="MARKET", quantity=0.1)
    assert acked["status"] == "NEW" and acked["executedQty"] == "0"
    queried = await run(futures.query_order, SYMBOL, orderId=acked["orderId"])
    assert queried["status"] == "FILLED"
    taken = await run(
        futures.new_order, symbol=SYMBOL, side="BUY", type="MARKET", quantity=0.1, newOrderRespType="RESULT"
    )
    assert taken["status"] == "FILLED" and taken["executedQty"] == "0.1"
    trades = await run(futures.get_account_trades, SYMBOL)
    assert sum(Decimal(t["qty"]) for t in trades) == Decimal("0.2")
    assert {t["orderId"] for t in trades} == {acked["orderId"], taken["orderId"]}
    key = (await run(futures.new_listen_key))["listenKey"]
    assert key and (await run(futures.renew_listen_key, key)) == {}


async def test_refusals_carry_the_venue_codes(emulator: tuple[EmulatorServer, AsterAccountSpec]) -> None:
    emu, account = emulator
    futures = client(emu, account)
    with pytest.raises(ClientError) as small:
        await run(
            futures.new_order,
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity=0.01,
            price="100",
        )
    assert small.value.error_code == -4164
    ask = (await run(futures.book_ticker, SYMBOL))["askPrice"]
    # A post-only order that would take is no error: it expires at once (RESULT shows it).
    taker = await run(
        futures.new_order,
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="GTX",
        quantity=1,
        price=ask,
        newOrderRespType="RESULT",
    )
    assert taker["status"] == "EXPIRED" and taker["executedQty"] == "0"
    with pytest.raises(ClientError) as tick:
        await run(
            futures.new_order,
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity=1,
            price="100.001",
        )
    assert tick.value.error_code == -4014
    wrong = client(emu, account, secret="f" * 64)
    with pytest.raises(ClientError) as signature:
        await run(wrong.get_orders, symbol=SYMBOL)
    assert signature.value.error_code == -1022
