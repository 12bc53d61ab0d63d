"""Backpack answers the connector must read as the venue means them (emulator in-process, loopback).

A flat position is only the venue's 404 ``RESOURCE_NOT_FOUND`` "Position not
found"; the mark stream's next funding time is in microseconds; a cancel the
venue accepted with a 202 (not yet executed) is followed until the order is
gone, and reports what became of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from services.wire import Fill, Mark, OrderStatus, OrderType, Place, Side
from venues.backpack.venue import BackpackVenue
from venues.base import VenueError
from venues.emulator.credentials import AccountSpec, generate_account
from venues.emulator.faults import FaultSpec
from venues.emulator.server import EmulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SOL = "SOL_USDC_PERP"
ONE = Decimal(1)


class Emu:
    def __init__(self, server: EmulatorServer, maker: AccountSpec, taker: AccountSpec) -> None:
        self.server = server
        self.maker = maker
        self.taker = taker

    def venue(self, account: AccountSpec, **options: object) -> BackpackVenue:
        settings: dict[str, object] = {"timeout_s": 3.0, "resolve_poll_s": 0.05}
        settings.update(options)
        return BackpackVenue(
            api_url=str(settings.pop("api_url", self.server.rest_url)),
            ws_url=self.server.ws_url,
            api_key=account.api_key,
            secret=account.secret,
            **settings,  # type: ignore[arg-type]
        )


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    maker, taker = generate_account(), generate_account()
    async with EmulatorServer(venue="backpack", seed=6, symbols=[SOL], accounts=[maker, taker]) as server:
        yield Emu(server, maker, taker)


def touch(emu: Emu) -> tuple[Decimal, Decimal]:
    best_bid, best_ask = emu.server.engine.top(SOL)
    assert best_bid is not None and best_ask is not None
    return best_bid[0], best_ask[0]


def limit(side: Side, price: Decimal, client_id: int, quantity: Decimal = ONE) -> Place:
    return Place(client_id=client_id, symbol=SOL, side=side, quantity=quantity, price=price, post_only=True)


async def test_only_position_not_found_is_flat(emu: Emu) -> None:
    venue = emu.venue(emu.maker)
    # A proxy or a wrong base URL answers 404 too: that is no position at all.
    misrouted = emu.venue(emu.maker, api_url=emu.server.rest_url + "/gateway")
    try:
        assert (await venue.position(SOL)).quantity == 0
        with pytest.raises(VenueError):
            await misrouted.position(SOL)
    finally:
        await venue.close()
        await misrouted.close()


async def test_the_mark_streams_next_funding_time_is_microseconds(emu: Emu) -> None:
    venue = emu.venue(emu.maker)
    events = venue.public_stream(SOL)
    try:
        rest_ms = (await venue.mark(SOL)).next_funding_ms
        async with asyncio.timeout(20):
            async for event in events:
                if isinstance(event.msg, Mark):
                    assert event.msg.next_funding_ms == rest_ms
                    break
    finally:
        await events.aclose()
        await venue.close()


async def test_a_cancel_all_accepted_with_202_is_followed_until_the_orders_are_gone(emu: Emu) -> None:
    venue = emu.venue(emu.maker)
    try:
        bid, ask = touch(emu)
        tick = (await venue.load_markets())[SOL].tick_size
        for client_id, (side, price) in enumerate(
            ((Side.BUY, bid - 20 * tick), (Side.BUY, bid - 21 * tick), (Side.SELL, ask + 20 * tick)), start=1
        ):
            await venue.place_order(limit(side, price, client_id))
        emu.server.core.apply_faults(FaultSpec(cancel_accepted_ms=300))
        assert await venue.cancel_all(SOL) == 3
        assert await venue.open_orders(SOL) == []
    finally:
        await venue.close()


async def test_a_cancel_accepted_with_202_reports_the_fill_that_beat_it(emu: Emu) -> None:
    venue, taker = emu.venue(emu.maker), emu.venue(emu.taker)
    emu.server.simulator.set_paused(True, symbol=SOL)  # nothing but the taker below fills the bid
    try:
        bid, ask = touch(emu)
        tick = (await venue.load_markets())[SOL].tick_size
        assert bid + tick < ask
        placed = await venue.place_order(limit(Side.BUY, bid + tick, 11))
        emu.server.core.apply_faults(FaultSpec(cancel_accepted_ms=2000))
        cancel = asyncio.create_task(venue.cancel_order(SOL, client_id=11))
        async with asyncio.timeout(10):
            while not emu.server.front.api.pending_cancels:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
        sell = Place(
            client_id=12, symbol=SOL, side=Side.SELL, quantity=ONE, price=None, order_type=OrderType.MARKET
        )
        await taker.place_order(sell)
        outcome = await cancel
        assert outcome.order_id == placed.order_id
        assert outcome.status is OrderStatus.FILLED and outcome.filled_quantity == ONE
    finally:
        await venue.close()
        await taker.close()


async def test_fills_with_trade_id_zero_stay_apart_and_match_between_stream_and_history(emu: Emu) -> None:
    venue = emu.venue(emu.maker)
    events = venue.private_stream(SOL)
    try:
        async for _ in events:
            break  # subscribed: LIVE
        since_ms = await venue.server_time_ms() - 1000
        emu.server.core.apply_faults(FaultSpec(zero_trade_ids=True))
        streamed: set[str] = set()
        for client_id in (21, 22):
            buy = Place(
                client_id=client_id,
                symbol=SOL,
                side=Side.BUY,
                quantity=Decimal("0.1"),
                price=None,
                order_type=OrderType.MARKET,
            )
            placed = await venue.place_order(buy)
            assert placed.status is OrderStatus.FILLED
            async with asyncio.timeout(15):
                async for event in events:
                    if isinstance(event.msg, Fill) and event.msg.client_id == client_id:
                        streamed.add(event.msg.trade_id)
                        break
        history = {fill.trade_id for fill in await venue.fills(SOL, since_ms=since_ms)}
        assert len(history) >= 2 and "0" not in history
        assert streamed <= history
    finally:
        await events.aclose()
        await venue.close()
