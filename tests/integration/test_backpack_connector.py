"""Every Backpack connector call against the real emulator (its REST, WebSocket and fault control API)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

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
)
from venues.backpack.venue import BackpackVenue
from venues.base import RateLimited, Rejected, Unavailable, UnknownOrderState, VenueEvent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "SOL_USDC_PERP"
M = TypeVar("M", bound=Message)
_client_ids = itertools.count(int(time.time()) % 1_000_000 * 1000)


@dataclass(frozen=True)
class Emulator:
    rest_url: str
    ws_url: str
    accounts: list[dict[str, Any]]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    accounts_file = tmp_path_factory.mktemp("backpack") / "accounts.json"
    command = [
        sys.executable,
        "-m",
        "venues.emulator",
        "--venue",
        "backpack",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        "1",
        "--symbol",
        SYMBOL,
        "--write-accounts",
        str(accounts_file),
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while not line.startswith("READY"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([proc.stdout], [], [], max(remaining, 0))
            if not ready or proc.poll() is not None:
                pytest.fail(f"emulator did not print READY (exit code {proc.poll()})")
            line = proc.stdout.readline().strip()
        _, rest_url, ws_url = line.split()
        yield Emulator(rest_url=rest_url, ws_url=ws_url, accounts=json.loads(accounts_file.read_text()))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def control(emulator: Emulator, path: str, body: dict[str, Any] | None = None) -> Any:
    async with aiohttp.ClientSession() as session:
        method = "POST" if body is not None else "GET"
        async with session.request(method, f"{emulator.rest_url}/_emulator/{path}", json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()


def make_venue(emulator: Emulator, account: int = 0, **options: Any) -> BackpackVenue:
    settings: dict[str, Any] = {
        "timeout_s": 2.0,
        "resolve_poll_s": 0.1,
        "resolve_timeout_s": 8.0,
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.2,
        "reconnect_base_s": 0.1,
        "reconnect_cap_s": 0.5,
    }
    settings.update(options)
    spec = emulator.accounts[account]
    return BackpackVenue(
        api_url=emulator.rest_url,
        ws_url=emulator.ws_url,
        api_key=spec["api_key"],
        secret=spec["secret"],
        **settings,
    )


@pytest.fixture
async def venue(emulator: Emulator) -> AsyncIterator[BackpackVenue]:
    connector = make_venue(emulator)
    yield connector
    await control(emulator, "faults", {})
    await connector.cancel_all(SYMBOL)
    position = await connector.position(SYMBOL)
    if position.quantity:
        side = Side.SELL if position.quantity > 0 else Side.BUY
        await connector.place_order(market(side, abs(position.quantity), reduce_only=True))
    await connector.close()


def quote(side: Side, price: Decimal, quantity: Decimal = Decimal("0.1")) -> Place:
    return Place(
        client_id=next(_client_ids), symbol=SYMBOL, side=side, quantity=quantity, price=price, post_only=True
    )


def market(side: Side, quantity: Decimal, *, reduce_only: bool = False) -> Place:
    return Place(
        client_id=next(_client_ids),
        symbol=SYMBOL,
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET,
        reduce_only=reduce_only,
    )


async def passive_prices(venue: BackpackVenue) -> tuple[Decimal, Decimal]:
    """A bid and an ask well away from the touch (post-only safe), on the tick."""
    rules = (await venue.load_markets())[SYMBOL]
    snapshot = await venue.rest.depth(SYMBOL)
    best_bid, best_ask = snapshot.bids[0][0], snapshot.asks[0][0]
    return best_bid - 50 * rules.tick_size, best_ask + 50 * rules.tick_size


async def until(
    events: AsyncGenerator[VenueEvent, None], kind: type[M], *, timeout_s: float = 15.0, **match: Any
) -> tuple[VenueEvent, M]:
    async with asyncio.timeout(timeout_s):
        async for event in events:
            msg = event.msg
            if isinstance(msg, kind) and all(getattr(msg, key) == value for key, value in match.items()):
                return event, msg
    raise AssertionError("stream ended")


# ---------------------------------------------------------------- public data and account


async def test_markets_time_and_mark(venue: BackpackVenue) -> None:
    rules = await venue.load_markets()
    sol = rules[SYMBOL]
    assert sol.base_asset == "SOL" and sol.quote_asset == "USDC"
    assert sol.tick_size > 0 and sol.step_size > 0 and sol.min_quantity > 0 and sol.min_notional == 0
    assert abs(await venue.server_time_ms() - time.time() * 1000) < 5000
    assert await venue.mark_price(SYMBOL) > 0
    mark = await venue.mark(SYMBOL)
    assert mark.symbol == SYMBOL and mark.mark > 0
    assert await venue.leverage(SYMBOL) == Decimal(10)  # the emulator's default --leverage


async def test_collateral_position_and_histories(venue: BackpackVenue, emulator: Emulator) -> None:
    balance = await venue.collateral()
    assert balance.asset == "USDC" and balance.equity > 0 and 0 < balance.available <= balance.equity
    position = await venue.position(SYMBOL)
    assert position.symbol == SYMBOL and position.quantity == 0
    assert isinstance(await venue.fills(SYMBOL), list)
    assert isinstance(await venue.funding_payments(SYMBOL), list)


# ---------------------------------------------------------------- orders


async def test_quote_lifecycle(venue: BackpackVenue) -> None:
    bid, _ = await passive_prices(venue)
    placed = await venue.place_order(quote(Side.BUY, bid))
    assert placed.status is OrderStatus.NEW and placed.post_only and placed.price == bid
    assert [order.client_id for order in await venue.open_orders(SYMBOL)].count(placed.client_id) == 1
    found = await venue.get_order(SYMBOL, client_id=placed.client_id)
    assert found is not None and found.order_id == placed.order_id
    by_id = await venue.get_order(SYMBOL, order_id=placed.order_id)
    assert by_id is not None and by_id.client_id == placed.client_id
    cancelled = await venue.cancel_order(SYMBOL, client_id=placed.client_id)
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.order_id == placed.order_id
    assert await venue.get_order(SYMBOL, client_id=placed.client_id) is None
    with pytest.raises(Rejected) as caught:
        await venue.cancel_order(SYMBOL, order_id=placed.order_id)
    assert caught.value.reason is RejectReason.UNKNOWN_ORDER


async def test_post_only_that_would_take_is_refused(venue: BackpackVenue) -> None:
    snapshot = await venue.rest.depth(SYMBOL)
    with pytest.raises(Rejected) as caught:
        await venue.place_order(quote(Side.BUY, snapshot.asks[0][0]))
    assert caught.value.reason is RejectReason.POST_ONLY_WOULD_TAKE


async def test_off_tick_price_is_refused_locally(venue: BackpackVenue) -> None:
    bid, _ = await passive_prices(venue)
    rules = (await venue.load_markets())[SYMBOL]
    with pytest.raises(Rejected) as caught:
        await venue.place_order(quote(Side.BUY, bid + rules.tick_size / 3))
    assert caught.value.reason is RejectReason.BAD_PRICE


async def test_market_fill_position_fills_and_reduce_only_close(venue: BackpackVenue) -> None:
    since_ms = await venue.server_time_ms() - 1000
    bought = await venue.place_order(market(Side.BUY, Decimal("0.2")))
    assert bought.status is OrderStatus.FILLED and bought.filled_quantity == Decimal("0.2")
    position = await venue.position(SYMBOL)
    assert position.quantity == Decimal("0.2") and position.entry_price > 0
    fills = [
        fill for fill in await venue.fills(SYMBOL, since_ms=since_ms) if fill.client_id == bought.client_id
    ]
    assert sum(fill.quantity for fill in fills) == Decimal("0.2")
    assert all(fill.side is Side.BUY and not fill.is_maker and fill.fee_asset for fill in fills)
    closed = await venue.place_order(market(Side.SELL, Decimal("0.2"), reduce_only=True))
    assert closed.status is OrderStatus.FILLED and closed.reduce_only
    assert (await venue.position(SYMBOL)).quantity == 0
    with pytest.raises(Rejected) as caught:
        await venue.place_order(market(Side.SELL, Decimal("0.1"), reduce_only=True))
    assert caught.value.reason is RejectReason.REDUCE_ONLY


async def test_cancel_all(venue: BackpackVenue) -> None:
    bid, ask = await passive_prices(venue)
    for placed in (quote(Side.BUY, bid), quote(Side.BUY, bid - 1), quote(Side.SELL, ask)):
        await venue.place_order(placed)
    assert await venue.cancel_all(SYMBOL) == 3
    assert await venue.open_orders(SYMBOL) == []


# ---------------------------------------------------------------- streams


async def test_public_stream(venue: BackpackVenue) -> None:
    events = venue.public_stream(SYMBOL)
    try:
        await until(events, MdStatus, state=FeedState.LIVE)
        event, book = await until(events, Book)
        assert book.bids and book.asks and book.bids[0][0] < book.asks[0][0]
        assert len(book.bids) <= 10 and abs(event.ts_ns - time.time_ns()) < 10 * 10**9
        _, bbo = await until(events, Bbo)
        assert bbo.bid < bbo.ask
        _, mark = await until(events, Mark)
        assert mark.mark > 0
    finally:
        await events.aclose()


async def test_private_stream_reports_orders_fills_and_position(venue: BackpackVenue) -> None:
    events = venue.private_stream(SYMBOL)
    try:
        await until(events, ExStatus, state=FeedState.LIVE)
        bid, _ = await passive_prices(venue)
        placed = await venue.place_order(quote(Side.BUY, bid))
        _, accepted = await until(events, OrderUpdate, client_id=placed.client_id)
        assert accepted.status is OrderStatus.NEW and accepted.order_id == placed.order_id
        bought = await venue.place_order(market(Side.BUY, Decimal("0.1")))
        _, fill = await until(events, Fill, client_id=bought.client_id)
        assert fill.quantity > 0 and fill.side is Side.BUY
        _, position = await until(events, Position, symbol=SYMBOL)
        assert position.quantity > 0
    finally:
        await events.aclose()


# ---------------------------------------------------------------- faults


async def test_a_hung_order_execute_is_resolved_by_client_id(
    venue: BackpackVenue, emulator: Emulator
) -> None:
    bid, _ = await passive_prices(venue)
    await control(emulator, "faults", {"hang_after_execute": 1})
    placed = await venue.place_order(quote(Side.BUY, bid))
    assert placed.status is OrderStatus.NEW and placed.price == bid
    mine = [order for order in await venue.open_orders(SYMBOL) if order.client_id == placed.client_id]
    assert len(mine) == 1


async def test_an_unreachable_order_outcome_is_unknown(venue: BackpackVenue, emulator: Emulator) -> None:
    bid, _ = await passive_prices(venue)
    slow = make_venue(emulator, resolve_timeout_s=1.0, max_attempts=2)
    try:
        await slow.load_markets()
        await control(emulator, "faults", {"error_rate": 1.0})
        place = quote(Side.BUY, bid)
        with pytest.raises(UnknownOrderState) as caught:
            await slow.place_order(place)
        assert caught.value.client_id == place.client_id
        await control(emulator, "faults", {})
        assert await slow.get_order(SYMBOL, client_id=place.client_id) is None
    finally:
        await slow.close()


async def test_a_slow_venue_times_reads_out(emulator: Emulator) -> None:
    impatient = make_venue(emulator, timeout_s=0.3, max_attempts=2)
    try:
        await impatient.server_time_ms()
        await control(emulator, "faults", {"latency_ms": 1000})
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await impatient.position(SYMBOL)
        assert "timed out" in str(caught.value) and time.monotonic() - started < 5
    finally:
        await control(emulator, "faults", {})
        await impatient.close()


async def test_rate_limits_are_honoured_then_raised(venue: BackpackVenue, emulator: Emulator) -> None:
    await control(emulator, "faults", {"rate_limit_rate": 1.0})
    with pytest.raises(RateLimited) as caught:
        await venue.open_orders(SYMBOL)
    assert caught.value.retry_after_s >= 0


async def test_a_clock_jump_is_resynced(venue: BackpackVenue, emulator: Emulator) -> None:
    await venue.open_orders(SYMBOL)
    await control(emulator, "faults", {"clock_offset_ms": 30_000})
    assert await venue.open_orders(SYMBOL) is not None
    assert abs(venue.transport.offset_ms - 30_000) < 2000


async def test_a_dropped_public_stream_reconnects(venue: BackpackVenue, emulator: Emulator) -> None:
    events = venue.public_stream(SYMBOL)
    try:
        await until(events, Book)
        await control(emulator, "faults", {"drop_ws": True})
        await until(events, MdStatus, state=FeedState.RECONNECTING)
        await until(events, MdStatus, state=FeedState.LIVE)
        await until(events, Book)
    finally:
        await events.aclose()


async def test_a_dropped_private_stream_reconnects(venue: BackpackVenue, emulator: Emulator) -> None:
    events = venue.private_stream(SYMBOL)
    try:
        await until(events, ExStatus, state=FeedState.LIVE)
        await control(emulator, "faults", {"drop_ws": True})
        await until(events, ExStatus, state=FeedState.RECONNECTING)
        await until(events, ExStatus, state=FeedState.LIVE)
        bid, _ = await passive_prices(venue)
        placed = await venue.place_order(quote(Side.BUY, bid))
        await until(events, OrderUpdate, client_id=placed.client_id)
    finally:
        await events.aclose()


async def test_a_depth_gap_reseeds_the_book(
    venue: BackpackVenue, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="venues.backpack.stream")
    events = venue.public_stream(SYMBOL)
    try:
        await until(events, Book)
        await control(emulator, "faults", {"depth_gap": True})
        async with asyncio.timeout(30):
            while not any("depth gap" in record.getMessage() for record in caplog.records):
                await until(events, Book)
        _, book = await until(events, Book)
        assert book.bids and book.asks and book.bids[0][0] < book.asks[0][0]
    finally:
        await events.aclose()


async def test_a_frozen_feed_is_detected(emulator: Emulator) -> None:
    watcher = make_venue(emulator, silence_timeout_s=1.0)
    events = watcher.public_stream(SYMBOL)
    try:
        await until(events, Book)
        await control(emulator, "faults", {"freeze_s": 3.0})
        _, drop = await until(events, MdStatus, state=FeedState.RECONNECTING)
        assert drop.reason
        await until(events, MdStatus, state=FeedState.LIVE, timeout_s=20)
    finally:
        await events.aclose()
        await control(emulator, "faults", {})
        await watcher.close()
