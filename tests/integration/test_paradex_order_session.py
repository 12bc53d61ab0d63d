"""The Paradex connector's dead-man switch against the emulator: orders over the armed WebSocket.

Cancel-on-disconnect covers only orders placed over the connection that armed
it (the emulator enforces exactly that), so a trading venue places and cancels
over that connection, reports its private stream ``LIVE`` only while it is
armed, and re-arms after a drop before reporting ``LIVE`` again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from decimal import Decimal
from typing import TypeVar

import pytest
from paradex_kit import SYMBOL, paradex_emulator, paradex_venue
from test_paradex_foreign import place_stop

from services.wire import ExStatus, FeedState, Message, OrderStatus, OrderType, Place, Side
from venues.base import UnknownOrderState
from venues.emulator.credentials import AccountSpec
from venues.emulator.faults import FaultSpec
from venues.emulator.server import EmulatorServer
from venues.paradex.venue import ParadexVenue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
M = TypeVar("M", bound=Message)
_client_ids = itertools.count(7000)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[EmulatorServer, AccountSpec]]:
    emu, account = await paradex_emulator(seed=7)
    try:
        yield emu, account
    finally:
        await emu.stop()


def _resting(emu: EmulatorServer) -> Place:
    """A sell far above the best ask: it rests until cancelled."""
    _, ask = emu.engine.top(SYMBOL)
    assert ask is not None
    return Place(
        client_id=next(_client_ids),
        symbol=SYMBOL,
        side=Side.SELL,
        quantity=Decimal("0.01"),
        price=ask[0] + 500,
        order_type=OrderType.LIMIT,
    )


def _open(emu: EmulatorServer, account: AccountSpec) -> set[str]:
    return {order.order_id for order in emu.engine.open_orders(hex(int(account.api_key, 16)))}


async def _status(events: AsyncIterator[object]) -> ExStatus:
    async with asyncio.timeout(20):
        async for event in events:
            msg = getattr(event, "msg", None)
            if isinstance(msg, ExStatus):
                return msg
    raise AssertionError("the stream ended")


async def _until(check: Callable[[], bool], *, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.02)


def _drop(venue: ParadexVenue) -> None:
    """Lose the switch's connection without a close handshake (as a killed process or a cut cable)."""
    rpc = venue.dead_man._rpc
    assert rpc is not None
    rpc.ws.transport.abort()


async def test_orders_go_over_the_armed_connection_and_a_drop_cancels_them(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    trader, other = paradex_venue(emu, account), paradex_venue(emu, account)
    try:
        async with aclosing(trader.private_stream(SYMBOL)) as events:
            assert (await _status(events)).state is FeedState.LIVE
            assert trader.dead_man.armed  # LIVE only once the switch covers what is placed
            foreign = await other.place_order(_resting(emu))  # REST, not over the armed connection
            ours = {(await trader.place_order(_resting(emu))).order_id for _ in range(2)}
            assert _open(emu, account) == {foreign.order_id, *ours}
            _drop(trader)
            down = await _status(events)
            assert down.state is FeedState.RECONNECTING and "cancel-on-disconnect" in down.reason
            await _until(lambda: _open(emu, account) == {foreign.order_id})
            assert (await _status(events)).state is FeedState.LIVE
            assert trader.dead_man.arms == 2
            again = await trader.place_order(_resting(emu))
            cancelled = await trader.cancel_order(SYMBOL, order_id=again.order_id)
            assert cancelled.status is OrderStatus.CANCELLED
    finally:
        await trader.close()
        await other.close()


async def test_a_clean_close_leaves_the_orders_to_the_normal_path(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    trader = paradex_venue(emu, account)
    try:
        await trader.arm(SYMBOL, timeout_s=10)
        placed = await trader.place_order(_resting(emu))
    finally:
        await trader.close()
    await _until(lambda: emu.front.streams.connected == 0)  # type: ignore[attr-defined]
    assert _open(emu, account) == {placed.order_id}
    assert emu.front.streams.ws_orders.fired == 0  # type: ignore[attr-defined]


async def test_disarm_leaves_orders(setup: tuple[EmulatorServer, AccountSpec]) -> None:
    emu, account = setup
    guardian = paradex_venue(emu, account)
    try:
        await guardian.arm(SYMBOL, timeout_s=10)
        placed = await guardian.place_order(_resting(emu))
        await guardian.disarm(SYMBOL)
        await _until(lambda: emu.front.streams.connected == 0)  # type: ignore[attr-defined]
        assert _open(emu, account) == {placed.order_id}
    finally:
        await guardian.close()


async def test_an_unanswered_create_is_resolved_by_client_id(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    trader = paradex_venue(emu, account, timeout_s=1.0)
    try:
        await trader.arm(SYMBOL, timeout_s=10)
        emu.core.apply_faults(FaultSpec(hang_after_execute=1))
        order = _resting(emu)
        found = await trader.place_order(order)  # order.create carried out, never answered
        assert found.client_id == order.client_id and found.status is OrderStatus.NEW
        assert _open(emu, account) == {found.order_id}
    finally:
        await trader.close()


async def test_an_internal_error_on_create_is_an_unknown_outcome(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    trader = paradex_venue(emu, account, resolve_timeout_s=0.5, max_attempts=1)
    try:
        await trader.arm(SYMBOL, timeout_s=10)
        await trader.load_markets()
        emu.core.apply_faults(FaultSpec(error_rate=1.0))
        order = _resting(emu)
        with pytest.raises(UnknownOrderState) as unknown:
            await trader.place_order(order)
        assert unknown.value.client_id == order.client_id
        emu.core.apply_faults(FaultSpec())
        # The fault answered instead of acting: the order does not exist.
        assert await trader.get_order(SYMBOL, client_id=order.client_id) is None
    finally:
        await trader.close()


async def test_a_foreign_stop_is_cancelled_over_the_connection_but_never_by_its_switch(
    setup: tuple[EmulatorServer, AccountSpec],
) -> None:
    emu, account = setup
    trader = paradex_venue(emu, account)
    try:
        await trader.arm(SYMBOL, timeout_s=10)
        mark = emu.engine.mark_state(SYMBOL).mark
        assert mark is not None
        below = (mark * Decimal("0.9")).quantize(Decimal("0.1"))
        stops = [
            await place_stop(
                trader, kind="STOP_MARKET", side=Side.SELL, size="0.01", trigger=below, reduce_only=True
            )
            for _ in range(2)
        ]
        _drop(trader)  # placed over REST (the web app): the switch does not cover them
        await _until(lambda: trader.dead_man.arms == 2 and trader.dead_man.armed)
        assert {o.order_id for o in await trader.open_orders(SYMBOL)} == set(stops)
        cancelled = await trader.cancel_order(SYMBOL, order_id=stops[0])  # order.cancel reaches it
        assert cancelled.status is OrderStatus.CANCELLED
        assert [o.order_id for o in await trader.open_orders(SYMBOL)] == [stops[1]]
    finally:
        await trader.close()
