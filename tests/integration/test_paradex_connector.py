"""Every Paradex connector call against the emulator's Paradex front end (REST, JWT auth, JSON-RPC stream)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from decimal import Decimal
from typing import TypeVar

import aiohttp
import pytest
from harness import counter_total
from paradex_kit import SYMBOL, paradex_emulator, paradex_venue

from md_gateway.service import rest_snapshot
from services import metrics
from services.wire import (
    Bbo,
    Book,
    ExStatus,
    FeedState,
    Fill,
    Mark,
    MdStatus,
    Message,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    RejectReason,
    Side,
    TimeInForce,
    Trade,
)
from venues.base import AuthError, RateLimited, Rejected, Unavailable, UnknownOrderState, VenueEvent
from venues.emulator.credentials import AccountSpec
from venues.emulator.faults import FaultSpec
from venues.emulator.server import EmulatorServer
from venues.paradex.signing import StarkSigner
from venues.paradex.venue import ParadexVenue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TICK = Decimal("0.1")
M = TypeVar("M", bound=Message)
_client_ids = itertools.count(1000)


async def _emulator(**options: object) -> tuple[EmulatorServer, AccountSpec]:
    return await paradex_emulator(seed=3, **options)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[EmulatorServer, AccountSpec, ParadexVenue]]:
    emu, account = await _emulator()
    venue = paradex_venue(emu, account)
    try:
        yield emu, account, venue
    finally:
        await venue.close()
        await emu.stop()


def _quote(emu: EmulatorServer, side: Side, *, away_ticks: int) -> Decimal:
    """A price ``away_ticks`` behind the best on our side (negative: through the other side)."""
    bid, ask = emu.engine.top(SYMBOL)
    assert bid is not None and ask is not None
    return bid[0] - away_ticks * TICK if side is Side.BUY else ask[0] + away_ticks * TICK


def _place(side: Side, price: Decimal | None, *, quantity: str = "0.01", **options: object) -> Place:
    order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    return Place(
        client_id=next(_client_ids),
        symbol=SYMBOL,
        side=side,
        quantity=Decimal(quantity),
        price=price,
        order_type=order_type,
        **options,  # type: ignore[arg-type]
    )


async def _first(
    events: AsyncIterator[object], kind: type[M], *, where: Callable[[M], bool] = lambda m: True
) -> M:
    async def scan() -> M:
        async for event in events:
            msg = event.msg  # type: ignore[attr-defined]
            if isinstance(msg, kind) and where(msg):
                return msg
        raise AssertionError("stream ended")

    return await asyncio.wait_for(scan(), timeout=15)


async def test_markets_time_and_mark(setup: tuple[EmulatorServer, AccountSpec, ParadexVenue]) -> None:
    emu, _, venue = setup
    rules = (await venue.load_markets())[SYMBOL]
    assert (rules.tick_size, rules.step_size, rules.min_notional) == (TICK, Decimal("0.001"), Decimal(10))
    assert (rules.base_asset, rules.quote_asset) == ("BTC", "USDC")
    assert abs(await venue.server_time_ms() - time.time() * 1000) < 5000
    assert await venue.mark_price(SYMBOL) == emu.engine.mark_state(SYMBOL).mark
    mark = await venue.mark(SYMBOL)
    assert mark.funding_rate == emu.engine.mark_state(SYMBOL).funding_rate


async def test_place_query_cancel(setup: tuple[EmulatorServer, AccountSpec, ParadexVenue]) -> None:
    emu, account, venue = setup
    order = _place(Side.BUY, _quote(emu, Side.BUY, away_ticks=50), post_only=True)
    placed = await venue.place_order(order)
    assert placed.status is OrderStatus.NEW and placed.client_id == order.client_id and placed.post_only
    assert [o.order_id for o in emu.engine.open_orders(account.api_key)] == [placed.order_id]
    assert (await venue.get_order(SYMBOL, order_id=placed.order_id)) == placed
    assert (await venue.get_order(SYMBOL, client_id=order.client_id)) == placed
    assert [o.order_id for o in await venue.open_orders(SYMBOL)] == [placed.order_id]
    cancelled = await venue.cancel_order(SYMBOL, client_id=order.client_id)
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.reason == "USER_CANCELED"
    assert emu.engine.open_orders(account.api_key) == []
    with pytest.raises(Rejected) as refused:
        await venue.cancel_order(SYMBOL, order_id=placed.order_id)
    assert refused.value.reason is RejectReason.UNKNOWN_ORDER
    assert await venue.get_order(SYMBOL, client_id=999_999) is None


async def test_cancel_all_counts(setup: tuple[EmulatorServer, AccountSpec, ParadexVenue]) -> None:
    emu, account, venue = setup
    for away in (40, 50, 60):
        await venue.place_order(_place(Side.SELL, _quote(emu, Side.SELL, away_ticks=away), post_only=True))
    assert await venue.cancel_all(SYMBOL) == 3
    assert emu.engine.open_orders(account.api_key) == []


async def test_refusals_are_typed(setup: tuple[EmulatorServer, AccountSpec, ParadexVenue]) -> None:
    emu, _, venue = setup
    crossing = _place(Side.BUY, _quote(emu, Side.BUY, away_ticks=-1000), post_only=True)
    with pytest.raises(Rejected) as refused:
        await venue.place_order(crossing)
    assert refused.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
    closed = await venue.get_order(SYMBOL, client_id=crossing.client_id)
    assert closed is not None and closed.status is OrderStatus.REJECTED
    with pytest.raises(Rejected) as small:
        await venue.place_order(_place(Side.BUY, Decimal(100), quantity="0.001"))
    assert small.value.reason is RejectReason.MIN_NOTIONAL
    with pytest.raises(Rejected) as off_tick:
        await venue.place_order(_place(Side.BUY, Decimal("50000.05")))
    assert off_tick.value.reason is RejectReason.BAD_PRICE
    with pytest.raises(Rejected) as reduce:
        await venue.place_order(_place(Side.BUY, None, tif=TimeInForce.IOC, reduce_only=True))
    assert reduce.value.reason is RejectReason.REDUCE_ONLY


async def test_market_fill_position_collateral_history(
    setup: tuple[EmulatorServer, AccountSpec, ParadexVenue],
) -> None:
    emu, account, venue = setup
    filled = await venue.place_order(_place(Side.BUY, None, tif=TimeInForce.IOC))
    assert filled.status is OrderStatus.FILLED and filled.filled_quantity == Decimal("0.01")
    position = await venue.position(SYMBOL)
    assert position.quantity == Decimal("0.01") and position.mark_price is not None
    fills = await venue.fills(SYMBOL)
    assert [f.order_id for f in fills] == [filled.order_id] and not fills[0].is_maker
    assert fills[0].fee_asset == "USDC" and fills[0].fee > 0
    balance = await venue.collateral()
    margin = emu.engine.margin(account.api_key)
    assert balance.equity == margin.equity.quantize(Decimal("0.000001"))
    assert balance.margin_fraction is not None and margin.margin_fraction is not None
    assert abs(balance.margin_fraction - margin.margin_fraction) < Decimal("0.1")
    await venue.place_order(_place(Side.SELL, None, tif=TimeInForce.IOC, reduce_only=True))
    assert (await venue.position(SYMBOL)).quantity == 0
    since_ms = int(time.time() * 1000) - 60_000
    assert len(await venue.fills(SYMBOL, since_ms=since_ms)) == 2
    assert await venue.funding_payments(SYMBOL) == []


@pytest.mark.parametrize("sbe_public", [True, False], ids=["sbe", "json"])
async def test_public_stream(
    setup: tuple[EmulatorServer, AccountSpec, ParadexVenue], sbe_public: bool
) -> None:
    emu, account, _ = setup
    venue = ParadexVenue(
        api_url=emu.rest_url + "/v1",
        ws_url=emu.ws_url + "v1",
        account_address=account.api_key,
        l2_private_key=account.secret,
        sbe_public=sbe_public,
    )
    async with aclosing(venue.public_stream(SYMBOL)) as events:
        status = await _first(events, MdStatus)
        assert status.state is FeedState.LIVE
        bbo = await _first(events, Bbo)
        assert bbo.bid < bbo.ask
        book = await _first(events, Book, where=lambda b: len(b.bids) >= 5)
        assert book.bids[0][0] < book.asks[0][0]
        assert (await _first(events, Mark)).mark > 0
        await venue.place_order(_place(Side.BUY, None, tif=TimeInForce.IOC))
        trade = await _first(events, Trade, where=lambda t: t.taker_side is Side.BUY)
        assert trade.quantity > 0
    await venue.close()


async def test_private_stream(setup: tuple[EmulatorServer, AccountSpec, ParadexVenue]) -> None:
    _, _, venue = setup
    async with aclosing(venue.private_stream(SYMBOL)) as events:
        assert (await _first(events, ExStatus)).state is FeedState.LIVE
        assert (await _first(events, Position)).quantity == 0
        order = _place(Side.BUY, None, tif=TimeInForce.IOC)
        await venue.place_order(order)
        fill = await _first(events, Fill)
        assert fill.client_id == order.client_id and fill.quantity == Decimal("0.01")
        done = await _first(events, OrderUpdate, where=lambda o: o.status is OrderStatus.FILLED)
        assert done.client_id == order.client_id
        assert (await _first(events, Position, where=lambda p: p.quantity != 0)).quantity == Decimal("0.01")


async def test_short_tokens_refresh_with_no_failed_request() -> None:
    """20-second tokens over about 27 s: refreshed at 12 s and 24 s in the background, nothing fails.

    The private stream, read all along, never re-authenticates its live socket: none is needed.
    """
    emu, account = await _emulator(jwt_lifetime_s=20)
    venue = paradex_venue(emu, account)
    seen: list[Message] = []

    async def read(events: AsyncIterator[VenueEvent]) -> None:
        async for event in events:
            seen.append(event.msg)

    try:
        async with aclosing(venue.private_stream(SYMBOL)) as events:
            await _first(events, ExStatus)
            reader = asyncio.create_task(read(events))
            try:
                loop = asyncio.get_running_loop()
                end = loop.time() + 27
                calls = 0
                while loop.time() < end:
                    await venue.open_orders(SYMBOL)
                    calls += 1
                    await asyncio.sleep(0.2)
                assert venue.transport.jwt.refreshes >= 3
                assert emu.front.auth.refused_tokens == 0  # type: ignore[attr-defined]  # never a 401
                assert emu.front.streams.reauths == 0  # type: ignore[attr-defined]
                order = _place(Side.SELL, _quote(emu, Side.SELL, away_ticks=30), post_only=True)
                await venue.place_order(order)
                await _until(
                    lambda: any(isinstance(m, OrderUpdate) and m.client_id == order.client_id for m in seen)
                )
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        assert calls > 100
    finally:
        await venue.close()
        await emu.stop()


async def test_a_forced_401_is_recovered(setup: tuple[EmulatorServer, AccountSpec, ParadexVenue]) -> None:
    emu, _, venue = setup
    await venue.open_orders(SYMBOL)
    before = venue.transport.jwt.refreshes
    front = emu.front
    front.auth._jwt_key = secrets.token_bytes(32)  # type: ignore[attr-defined]  # every issued token is now invalid
    assert await venue.open_orders(SYMBOL) == []
    assert venue.transport.jwt.refreshes == before + 1
    assert front.auth.refused_tokens == 1  # type: ignore[attr-defined]


async def test_bad_signatures_are_refused(setup: tuple[EmulatorServer, AccountSpec, ParadexVenue]) -> None:
    emu, account, venue = setup
    await venue.open_orders(SYMBOL)  # authenticated with the right key
    venue.transport.signer = StarkSigner(account=int(account.api_key, 16), private_key=0x1234567)
    with pytest.raises(AuthError) as order_refused:
        await venue.place_order(_place(Side.BUY, _quote(emu, Side.BUY, away_ticks=50)))
    assert "INVALID_ORDER_SIGNATURE" in str(order_refused.value)
    assert emu.engine.open_orders(account.api_key) == []
    impostor = ParadexVenue(
        api_url=emu.rest_url + "/v1", account_address=account.api_key, l2_private_key=hex(0x7654321)
    )
    try:
        with pytest.raises(AuthError) as auth_refused:
            await impostor.open_orders(SYMBOL)
        assert "STARKNET_SIGNATURE_VERIFICATION_FAILED" in str(auth_refused.value)
    finally:
        await impostor.close()


async def _until(check: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _control(emu: EmulatorServer, action: str, body: dict[str, object]) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emu.rest_url}/_emulator/{action}", json=body) as answer,
    ):
        assert answer.status == 200, await answer.text()
        result: dict[str, object] = await answer.json()
        return result


async def test_control_api_position_state_and_reset(
    setup: tuple[EmulatorServer, AccountSpec, ParadexVenue],
) -> None:
    emu, account, venue = setup
    await _control(
        emu,
        "position",
        {"api_key": account.api_key, "symbol": SYMBOL, "quantity": "-0.02", "entry_price": "60000"},
    )
    position = await venue.position(SYMBOL)
    assert (position.quantity, position.entry_price) == (Decimal("-0.02"), Decimal(60000))
    resting = _place(Side.SELL, _quote(emu, Side.SELL, away_ticks=50), post_only=True)
    sent_ns = time.time_ns()
    await venue.place_order(resting)
    placed_ns = time.time_ns()
    async with aiohttp.ClientSession() as http, http.get(f"{emu.rest_url}/_emulator/state") as answer:
        state = await answer.json()
    [order] = state["accounts"][account.api_key]["open_orders"]
    assert order["client_id"] == resting.client_id
    assert sent_ns < order["received_ns"] < placed_ns  # when the request reached the emulator
    await _control(emu, "reset", {})
    assert await venue.open_orders(SYMBOL) == []
    assert await venue.get_order(SYMBOL, client_id=resting.client_id) is None
    assert (await venue.position(SYMBOL)).quantity == 0


async def test_a_skewed_venue_clock_is_measured_and_signed_with() -> None:
    emu, account = await _emulator()
    await _control(emu, "faults", {"clock_offset_ms": 90_000})
    venue = paradex_venue(emu, account)
    try:
        assert await venue.open_orders(SYMBOL) == []
        assert abs(venue.transport.now_ms() - emu.core.now_ms()) < 2000
        placed = await venue.place_order(
            _place(Side.BUY, _quote(emu, Side.BUY, away_ticks=50), post_only=True)
        )
        assert placed.status is OrderStatus.NEW
    finally:
        await venue.close()
        await emu.stop()


async def test_injected_errors_are_typed(setup: tuple[EmulatorServer, AccountSpec, ParadexVenue]) -> None:
    emu, account, _ = setup
    venue = ParadexVenue(
        api_url=emu.rest_url + "/v1",
        account_address=account.api_key,
        l2_private_key=account.secret,
        max_attempts=2,
        resolve_timeout_s=0.5,
    )
    try:
        await venue.load_markets()
        await venue.open_orders(SYMBOL)  # authenticated, chain id and clock known
        await _control(emu, "faults", {"rate_limit_rate": 1.0})
        with pytest.raises(RateLimited):
            await venue.open_orders(SYMBOL)
        await _control(emu, "faults", {"error_rate": 1.0})
        with pytest.raises(Unavailable):
            await venue.open_orders(SYMBOL)
        order = _place(Side.BUY, _quote(emu, Side.BUY, away_ticks=50), post_only=True)
        with pytest.raises(UnknownOrderState) as unknown:
            await venue.place_order(order)
        assert unknown.value.client_id == order.client_id
        await _control(emu, "faults", {})
        # The 5xx was injected before the order reached the book: it does not exist.
        assert await venue.get_order(SYMBOL, client_id=order.client_id) is None
    finally:
        await venue.close()


async def test_a_dropped_private_stream_comes_back_live(
    setup: tuple[EmulatorServer, AccountSpec, ParadexVenue],
) -> None:
    emu, _, venue = setup
    async with aclosing(venue.private_stream(SYMBOL)) as events:
        assert (await _first(events, ExStatus)).state is FeedState.LIVE
        await _control(emu, "faults", {"drop_ws": True})
        assert (await _first(events, ExStatus)).state is FeedState.RECONNECTING
        assert (await _first(events, ExStatus)).state is FeedState.LIVE
        order = _place(Side.BUY, None, tif=TimeInForce.IOC)
        await venue.place_order(order)
        assert (await _first(events, Fill)).client_id == order.client_id


async def test_a_refused_bearer_on_the_stream_is_refreshed(
    setup: tuple[EmulatorServer, AccountSpec, ParadexVenue],
) -> None:
    emu, _, venue = setup
    await venue.open_orders(SYMBOL)  # a token is cached
    before = venue.transport.jwt.refreshes
    emu.front.auth._jwt_key = secrets.token_bytes(32)  # type: ignore[attr-defined]  # the venue drops it
    async with aclosing(venue.private_stream(SYMBOL)) as events:
        assert (await _first(events, ExStatus)).state is FeedState.LIVE  # after 40111 and a fresh token
        assert venue.transport.jwt.refreshes == before + 1


async def test_rest_depth_serves_the_market_data_gateway_fallback(
    setup: tuple[EmulatorServer, AccountSpec, ParadexVenue],
) -> None:
    emu, _, venue = setup
    before = emu.engine.ids.last_update[SYMBOL]
    depth = await venue.rest.depth(SYMBOL)
    # The simulated market moves meanwhile: the snapshot is one of the book's states since ``before``.
    assert before <= depth.last_update_id <= emu.engine.ids.last_update[SYMBOL]
    assert min(len(depth.bids), len(depth.asks)) >= 5
    assert [p for p, _ in depth.bids] == sorted((p for p, _ in depth.bids), reverse=True)
    assert [p for p, _ in depth.asks] == sorted(p for p, _ in depth.asks)
    assert depth.bids[0][0] < depth.asks[0][0]
    events = await rest_snapshot(venue, SYMBOL)
    kinds = {type(event.msg) for event in events}
    assert kinds == {Book, Bbo, Mark}
    mark = next(event.msg for event in events if isinstance(event.msg, Mark))
    assert mark.funding_rate is not None


def _malformed_total() -> float:
    return counter_total(metrics.VENUE_MALFORMED, venue="paradex")


async def test_malformed_payloads_are_skipped_and_counted_and_a_replayed_fill_arrives_again(
    setup: tuple[EmulatorServer, AccountSpec, ParadexVenue],
) -> None:
    emu, _, venue = setup
    async with aclosing(venue.private_stream(SYMBOL)) as stream:
        assert (await _first(stream, ExStatus)).state is FeedState.LIVE
        before = _malformed_total()
        emu.core.apply_faults(FaultSpec(malformed_ws=True, replay_fills=True))
        filled = await venue.place_order(_place(Side.BUY, None, quantity="0.02"))
        fills: list[Fill] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                async for event in stream:
                    if isinstance(event.msg, Fill):
                        fills.append(event.msg)
        # Every trade twice, and nothing but this order's trades: the malformed copies were skipped.
        counts = Counter(fill.trade_id for fill in fills)
        assert counts and set(counts.values()) == {2}, counts
        assert {fill.order_id for fill in fills} == {filled.order_id}
        assert _malformed_total() > before
