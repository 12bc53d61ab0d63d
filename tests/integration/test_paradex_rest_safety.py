"""Paradex REST as the venue documents it: unknown outcomes resolved from the order history, the
account's leverage, no polling GET after a place or a cancel, refusals of a cancel of a closed order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from paradex_kit import SYMBOL, paradex_emulator, paradex_venue

from services.wire import (
    ExStatus,
    FeedState,
    Fill,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    RejectReason,
    Side,
    TimeInForce,
)
from venues.base import Rejected
from venues.emulator.credentials import AccountSpec
from venues.emulator.paradex_accounts import generate_paradex_account
from venues.emulator.server import EmulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TICK = Decimal("0.1")
_client_ids = itertools.count(7000)
# What the private stream reads over REST once live (positions, markets summary, open orders).
STREAM_STARTUP_GETS = 3
MAKER_ATTEMPTS = 5


async def _emulator(**options: object) -> tuple[EmulatorServer, AccountSpec]:
    return await paradex_emulator(seed=5, **options)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[EmulatorServer, AccountSpec]]:
    emu, account = await _emulator()
    try:
        yield emu, account
    finally:
        await emu.stop()


def _place(side: Side, price: Decimal | None, *, quantity: str = "0.01", **options: object) -> Place:
    return Place(
        client_id=next(_client_ids),
        symbol=SYMBOL,
        side=side,
        quantity=Decimal(quantity),
        price=price,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        **options,  # type: ignore[arg-type]
    )


def _away(emu: EmulatorServer, side: Side, ticks: int) -> Decimal:
    bid, ask = emu.engine.top(SYMBOL)
    assert bid is not None and ask is not None
    return bid[0] - ticks * TICK if side is Side.BUY else ask[0] + ticks * TICK


async def _hang_next_place(emu: EmulatorServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emu.rest_url}/_emulator/faults", json={"hang_after_execute": 1}) as answer,
    ):
        assert answer.status == 200, await answer.text()


async def test_a_timed_out_place_that_filled_resolves_to_its_fill(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    venue = paradex_venue(emu, account, timeout_s=1.0, resolve_timeout_s=10.0)
    try:
        await venue.open_orders(SYMBOL)  # authenticated, chain id and clock known
        await _hang_next_place(emu)
        order = _place(Side.BUY, None, tif=TimeInForce.IOC)
        # The answer never comes; the order filled meanwhile and is no longer open.
        found = await venue.place_order(order)
        assert found.client_id == order.client_id and found.status is OrderStatus.FILLED
        assert found.filled_quantity == Decimal("0.01")
    finally:
        await venue.close()


async def test_a_timed_out_place_that_was_refused_resolves_to_the_refusal(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    venue = paradex_venue(emu, account, timeout_s=1.0, resolve_timeout_s=10.0)
    try:
        await venue.open_orders(SYMBOL)
        await _hang_next_place(emu)
        crossing = _place(Side.BUY, _away(emu, Side.BUY, -1000), post_only=True)
        with pytest.raises(Rejected) as refused:
            await venue.place_order(crossing)
        assert refused.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
    finally:
        await venue.close()


async def test_get_by_client_id_sees_open_orders_only_and_get_order_sees_all(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    venue = paradex_venue(emu, account)
    try:
        filled = await venue.place_order(_place(Side.BUY, None, tif=TimeInForce.IOC))
        assert filled.status is OrderStatus.FILLED
        path = f"/orders/by_client_id/{filled.client_id}"
        with pytest.raises(Rejected) as absent:
            await venue.transport.call("GET", path, params={"market": SYMBOL}, private=True)
        assert absent.value.reason is RejectReason.UNKNOWN_ORDER
        again = await venue.get_order(SYMBOL, client_id=filled.client_id)
        assert again is not None and again.status is OrderStatus.FILLED
    finally:
        await venue.close()


async def test_leverage_is_the_accounts_capped_by_the_markets() -> None:
    for engine_leverage, expected in ((10, Decimal(10)), (100, Decimal(50))):
        emu, account = await _emulator(leverage=engine_leverage)
        venue = paradex_venue(emu, account)
        try:
            assert await venue.leverage(SYMBOL) == expected
        finally:
            await venue.close()
            await emu.stop()


async def test_cancel_of_a_closed_order_is_an_unknown_order(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    venue = paradex_venue(emu, account)
    try:
        filled = await venue.place_order(_place(Side.SELL, None, tif=TimeInForce.IOC))
        with pytest.raises(Rejected) as by_id:
            await venue.cancel_order(SYMBOL, order_id=filled.order_id)
        with pytest.raises(Rejected) as by_client_id:
            await venue.cancel_order(SYMBOL, client_id=filled.client_id)
        assert by_id.value.reason is by_client_id.value.reason is RejectReason.UNKNOWN_ORDER
    finally:
        await venue.close()


async def test_no_get_follows_a_place_or_a_cancel_while_the_private_stream_runs(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    venue = paradex_venue(emu, account)
    live = asyncio.Event()
    updates: list[OrderUpdate] = []

    async def consume() -> None:
        async for event in venue.private_stream(SYMBOL):
            if isinstance(event.msg, ExStatus) and event.msg.state is FeedState.LIVE:
                live.set()
            elif isinstance(event.msg, OrderUpdate):
                updates.append(event.msg)

    reader = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(live.wait(), timeout=15)
        await venue.load_markets()
        # The stream reads the position and open orders once it is live: let that pass first.
        await asyncio.sleep(0)
        before = dict(emu.core.methods)
        # Over REST (the path while the WebSocket order session is down), then over that session.
        rest = venue.rest
        placed = [
            await rest.place_order(_place(side, _away(emu, side, 50 + i), post_only=True))
            for i in range(3)
            for side in (Side.BUY, Side.SELL)
        ]
        for order in placed[:3]:
            cancelled = await rest.cancel_order(SYMBOL, order_id=order.order_id)
            assert cancelled.status is OrderStatus.CANCELLED
        for order in placed[3:]:
            cancelled = await rest.cancel_order(SYMBOL, client_id=order.client_id)
            assert cancelled.status is OrderStatus.CANCELLED
        for i in range(2):
            order = await venue.place_order(_place(Side.BUY, _away(emu, Side.BUY, 70 + i), post_only=True))
            cancelled = await venue.cancel_order(SYMBOL, order_id=order.order_id)
            assert cancelled.status is OrderStatus.CANCELLED
        # The outcomes came on the stream: no GET for them (the stream's own start-up reads aside).
        spent = {method: n - before.get(method, 0) for method, n in emu.core.methods.items()}
        assert spent.get("GET", 0) <= STREAM_STARTUP_GETS
        assert (spent.get("POST"), spent.get("DELETE")) == (6, 6)
        assert emu.engine.open_orders(account.api_key) == []
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await venue.close()


async def test_a_maker_fill_carries_our_own_side_on_each_side() -> None:
    """A fill's ``side`` is the account's own (the SBE fill schema, CCXT), not the taker's, with
    ``liquidity`` telling maker from taker: our resting bid hit by a seller is a BUY maker fill."""
    maker, taker = generate_paradex_account(), generate_paradex_account()
    emu = EmulatorServer(venue="paradex", symbols=[SYMBOL], accounts=[maker, taker], seed=5)
    await emu.start()
    ours, theirs = paradex_venue(emu, maker), paradex_venue(emu, taker)
    try:
        for side, against in ((Side.BUY, Side.SELL), (Side.SELL, Side.BUY)):
            mine: list[Fill] = []
            # The simulated market moves on its own: retry until the taker's IOC at our price meets ours.
            for _ in range(MAKER_ATTEMPTS):
                bid, ask = emu.engine.top(SYMBOL)
                assert bid is not None and ask is not None
                price = bid[0] + TICK if side is Side.BUY else ask[0] - TICK
                if not bid[0] < price < ask[0]:
                    price = bid[0] if side is Side.BUY else ask[0]
                resting = await ours.place_order(_place(side, price, post_only=True))
                await theirs.place_order(_place(against, price, tif=TimeInForce.IOC))
                mine = [f for f in await ours.fills(SYMBOL) if f.order_id == resting.order_id]
                await ours.cancel_all(SYMBOL)
                if mine:
                    break
            assert mine, f"our {side.value} was never reached in {MAKER_ATTEMPTS} attempts"
            assert all(f.side is side and f.is_maker for f in mine)
            taken = [f for f in await theirs.fills(SYMBOL) if f.trade_id in {m.trade_id for m in mine}]
            assert taken and all(f.side is against and not f.is_maker for f in taken)
    finally:
        await ours.close()
        await theirs.close()
        await emu.stop()


async def test_the_guardians_position_and_mark_poll_is_one_summary_get(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    venue = paradex_venue(emu, account)
    try:
        await venue.position(SYMBOL)  # authenticated
        before = emu.core.requests["/v1/markets/summary"]
        position, mark = await asyncio.gather(venue.position(SYMBOL), venue.mark_price(SYMBOL))
        assert position.mark_price == mark
        assert emu.core.requests["/v1/markets/summary"] - before == 1
    finally:
        await venue.close()
