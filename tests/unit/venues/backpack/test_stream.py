"""The streams against loopback WebSocket and REST servers: mapping, book seeding, gaps, reconnects."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import InvalidURI

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
    OrderUpdate,
    Position,
    Trade,
)
from venues.backpack.signing import signing_string, verify
from venues.backpack.stream import BackpackStream
from venues.base import AuthError, VenueEvent

D = Decimal
SYMBOL = "SOL_USDC_PERP"
E_US = 1_700_000_000_123_456


class FakeWs:
    """A loopback Backpack stream server: records subscribes; tests push frames to the live connection."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.subscribes: list[dict[str, Any]] = []
        self.subscribed = asyncio.Event()
        self.server: Server | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await serve(self._handle, "127.0.0.1", 0)
        port = next(iter(self.server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        async for frame in ws:
            message = json.loads(frame)
            if message.get("method") == "SUBSCRIBE":
                self.subscribes.append(message)
                self.subscribed.set()

    async def wait_subscribed(self, count: int) -> None:
        async with asyncio.timeout(3):
            while len(self.subscribes) < count:
                self.subscribed.clear()
                await self.subscribed.wait()

    async def push(self, stream: str, data: dict[str, Any]) -> None:
        await self.connections[-1].send(json.dumps({"stream": stream, "data": data}))


@pytest.fixture
async def ws() -> AsyncIterator[FakeWs]:
    server = FakeWs()
    await server.start()
    yield server
    await server.stop()


def depth_route(fake: Any, *snapshots: int) -> None:
    """Each depth request answers the next ``lastUpdateId`` (the last one repeats)."""
    queue = list(snapshots)

    async def depth(call: Any) -> web.StreamResponse:
        last_id = queue.pop(0) if len(queue) > 1 else queue[0]
        return web.json_response(
            {
                "bids": [["100.0", "1"], ["99.9", "2"]],
                "asks": [["100.1", "1"]],
                "lastUpdateId": str(last_id),
                "timestamp": E_US,
            }
        )

    fake.on("GET", "/api/v1/depth", depth)


def make_stream(fake: Any, ws: FakeWs, **options: Any) -> BackpackStream:
    settings: dict[str, Any] = {
        "ws_url": ws.url,
        "rest": fake.rest(),
        "depth_levels": 5,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
        "rng": random.Random(3),
    }
    settings.update(options)
    return BackpackStream(**settings)


M = TypeVar("M", bound=Message)
Events = AsyncGenerator[VenueEvent, None]


async def until(events: Events, kind: type[M], state: FeedState | None = None) -> tuple[list[VenueEvent], M]:
    """The events up to and including the first ``kind`` message (in ``state``), and that message."""
    seen: list[VenueEvent] = []
    async with asyncio.timeout(5):
        async for event in events:
            seen.append(event)
            msg = event.msg
            if isinstance(msg, kind) and (state is None or getattr(msg, "state", None) is state):
                return seen, msg
    raise AssertionError("stream ended")


def depth_event(
    first_id: int, last_id: int, *, bids: Any = (), asks: Any = (), at_us: int = E_US
) -> dict[str, Any]:
    return {
        "e": "depth",
        "E": at_us,
        "s": SYMBOL,
        "U": first_id,
        "u": last_id,
        "b": list(bids),
        "a": list(asks),
    }


async def test_public_stream_maps_every_channel(fake: Any, ws: FakeWs) -> None:
    depth_route(fake, 100)
    events = make_stream(fake, ws).public(SYMBOL)
    try:
        seen, seeded = await until(events, Book)
        assert isinstance(seen[0].msg, MdStatus) and seen[0].msg.state is FeedState.LIVE
        assert seeded.bids == [(D("100.0"), D(1)), (D("99.9"), D(2))] and seeded.update_id == 100
        assert seen[-1].ts_ns == E_US * 1000
        await ws.wait_subscribed(1)
        assert ws.subscribes[0]["params"] == [
            f"bookTicker.{SYMBOL}",
            f"depth.{SYMBOL}",
            f"trade.{SYMBOL}",
            f"markPrice.{SYMBOL}",
        ]
        ticker = {
            "e": "bookTicker",
            "E": E_US,
            "s": SYMBOL,
            "a": "100.1",
            "A": "1",
            "b": "100.0",
            "B": "1",
            "u": "7",
        }
        await ws.push(f"bookTicker.{SYMBOL}", ticker)
        seen, bbo = await until(events, Bbo)
        assert seen[-1].ts_ns == E_US * 1000 and bbo.bid == D("100.0") and bbo.ask == D("100.1")
        trade_event = {"e": "trade", "E": E_US + 1, "s": SYMBOL, "p": "100.1", "q": "0.5", "t": 9, "m": False}
        await ws.push(f"trade.{SYMBOL}", trade_event)
        seen, trade = await until(events, Trade)
        assert seen[-1].ts_ns == (E_US + 1) * 1000 and trade.trade_id == "9"
        mark_event = {
            "e": "markPrice",
            "E": E_US,
            "s": SYMBOL,
            "p": "100.05",
            "f": "0.0001",
            "i": "100",
            "n": 5000,
        }
        await ws.push(f"markPrice.{SYMBOL}", mark_event)
        _, mark = await until(events, Mark)
        assert mark.mark == D("100.05") and mark.next_funding_ms == 5
        diff = depth_event(99, 101, bids=[["100.0", "0"]], asks=[["100.2", "4"]], at_us=E_US + 2)
        await ws.push(f"depth.{SYMBOL}", diff)
        seen, book = await until(events, Book)
        assert seen[-1].ts_ns == (E_US + 2) * 1000 and book.update_id == 101
        assert book.bids == [(D("99.9"), D(2))]
        assert book.asks == [(D("100.1"), D(1)), (D("100.2"), D(4))]
    finally:
        await events.aclose()


async def test_stale_depth_is_skipped_and_a_gap_reseeds_from_rest(fake: Any, ws: FakeWs) -> None:
    depth_route(fake, 100, 200)
    events = make_stream(fake, ws).public(SYMBOL)
    try:
        await until(events, Book)
        await ws.push(f"depth.{SYMBOL}", depth_event(95, 100, bids=[["1", "1"]]))
        await ws.push(f"depth.{SYMBOL}", depth_event(101, 102))
        _, applied = await until(events, Book)
        assert applied.update_id == 102 and applied.bids[0][0] == D("100.0")
        assert len(fake.hits("GET", "/api/v1/depth")) == 1
        await ws.push(f"depth.{SYMBOL}", depth_event(150, 151))
        _, reseeded = await until(events, Book)
        assert reseeded.update_id == 200
        assert len(fake.hits("GET", "/api/v1/depth")) == 2
        await ws.push(f"depth.{SYMBOL}", depth_event(201, 201, bids=[["99.8", "1"]]))
        _, after = await until(events, Book)
        assert after.update_id == 201 and (D("99.8"), D(1)) in after.bids
    finally:
        await events.aclose()


async def test_a_lagging_snapshot_is_fetched_again_until_it_reaches_the_buffered_deltas(
    fake: Any, ws: FakeWs
) -> None:
    depth_route(fake, 90, 98, 101)
    events = make_stream(fake, ws, seed_retry_s=30.0).public(SYMBOL)
    try:
        await until(events, MdStatus, FeedState.LIVE)
        await ws.wait_subscribed(1)
        await ws.push(f"depth.{SYMBOL}", depth_event(100, 100))
        # 90 is 9 short of 99: fetched again once nine more deltas are buffered, not before.
        for update_id in range(101, 110):
            bids = [["99.8", "1"]] if update_id == 105 else []
            await ws.push(f"depth.{SYMBOL}", depth_event(update_id, update_id, bids=bids))
        await ws.push(f"depth.{SYMBOL}", depth_event(110, 111, asks=[["100.1", "0"], ["100.3", "2"]]))
        _, seeded = await until(events, Book)
        assert seeded.update_id == 111 and (D("99.8"), D(1)) in seeded.bids
        assert seeded.asks == [(D("100.3"), D(2))]
        assert len(fake.hits("GET", "/api/v1/depth")) == 3
        await ws.push(f"depth.{SYMBOL}", depth_event(112, 112, bids=[["99.7", "3"]]))
        _, live = await until(events, Book)
        assert live.update_id == 112 and (D("99.7"), D(3)) in live.bids
    finally:
        await events.aclose()


async def test_a_gap_on_a_live_book_reseeds_on_the_open_connection(fake: Any, ws: FakeWs) -> None:
    depth_route(fake, 100, 140, 151)
    events = make_stream(fake, ws, seed_retry_s=0.05).public(SYMBOL)
    try:
        await until(events, MdStatus, FeedState.LIVE)
        await ws.wait_subscribed(1)
        await ws.push(f"depth.{SYMBOL}", depth_event(101, 101))
        _, first = await until(events, Book)
        assert first.update_id == 101
        await ws.push(f"depth.{SYMBOL}", depth_event(150, 151, bids=[["99.5", "1"]]))
        # 140 is too old for 150; after seed_retry_s the next snapshot (151) reaches it.
        _, reseeded = await until(events, Book)
        assert reseeded.update_id == 151 and len(fake.hits("GET", "/api/v1/depth")) == 3
        assert len(ws.connections) == 1
    finally:
        await events.aclose()


async def test_depth_that_never_lines_up_reconnects(fake: Any, ws: FakeWs) -> None:
    depth_route(fake, 10)
    events = make_stream(fake, ws, seed_retry_s=30.0, max_buffered_depth=3).public(SYMBOL)
    try:
        await until(events, MdStatus, FeedState.LIVE)
        await ws.wait_subscribed(1)
        for update_id in range(100, 104):
            await ws.push(f"depth.{SYMBOL}", depth_event(update_id, update_id))
        _, drop = await until(events, MdStatus, FeedState.RECONNECTING)
        assert "buffered" in drop.reason
    finally:
        await events.aclose()


async def test_a_dropped_connection_reconnects_resubscribes_and_reseeds(fake: Any, ws: FakeWs) -> None:
    depth_route(fake, 100, 300)
    events = make_stream(fake, ws).public(SYMBOL)
    try:
        await until(events, Book)
        await ws.connections[-1].close()
        seen, _ = await until(events, MdStatus, FeedState.LIVE)
        drop = seen[0].msg
        assert isinstance(drop, MdStatus) and drop.state is FeedState.RECONNECTING
        assert drop.symbol == SYMBOL and drop.reason
        _, book = await until(events, Book)
        assert book.update_id == 300
        await ws.wait_subscribed(2)
        assert len(ws.connections) == 2 and len(ws.subscribes) == 2
        assert ws.subscribes[1]["params"] == ws.subscribes[0]["params"]
        assert len(fake.hits("GET", "/api/v1/depth")) == 2
    finally:
        await events.aclose()


async def test_a_silent_public_stream_is_treated_as_dropped(fake: Any, ws: FakeWs) -> None:
    depth_route(fake, 100)
    events = make_stream(fake, ws, silence_timeout_s=0.2, seed_quiet_s=0.05).public(SYMBOL)
    try:
        await until(events, Book)
        _, drop = await until(events, MdStatus, FeedState.RECONNECTING)
        assert "no message" in drop.reason
        await until(events, MdStatus, FeedState.LIVE)
        assert len(ws.connections) == 2
    finally:
        await events.aclose()


async def test_a_venue_error_frame_reconnects_and_garbage_is_skipped(fake: Any, ws: FakeWs) -> None:
    depth_route(fake, 100)
    events = make_stream(fake, ws).public(SYMBOL)
    try:
        await until(events, Book)
        await ws.connections[-1].send("not json")
        await ws.push(f"trade.{SYMBOL}", {"e": "trade", "s": SYMBOL})
        await ws.push(
            f"trade.{SYMBOL}", {"e": "trade", "E": E_US, "s": SYMBOL, "p": "1", "q": "1", "t": 1, "m": True}
        )
        _, trade = await until(events, Trade)
        assert trade.trade_id == "1"
        await ws.connections[-1].send(
            json.dumps({"id": None, "error": {"code": 4005, "message": "Invalid stream"}})
        )
        _, drop = await until(events, MdStatus, FeedState.RECONNECTING)
        assert "Invalid stream" in drop.reason
    finally:
        await events.aclose()


OPEN_ORDER = {
    "id": "5",
    "clientId": 3,
    "symbol": SYMBOL,
    "side": "Ask",
    "orderType": "Limit",
    "price": "101",
    "quantity": "1",
    "executedQuantity": "0",
    "status": "New",
    "postOnly": True,
}
FILL_EVENT = {
    "e": "orderFill",
    "E": E_US,
    "s": SYMBOL,
    "c": 3,
    "S": "Ask",
    "o": "LIMIT",
    "q": "1",
    "p": "101",
    "X": "Filled",
    "i": "5",
    "t": 44,
    "l": "1",
    "z": "1",
    "L": "101",
    "m": True,
    "n": "0.02",
    "N": "USDC",
}
ACCOUNT_STREAMS = [[f"account.orderUpdate.{SYMBOL}"], [f"account.positionUpdate.{SYMBOL}"]]


async def test_private_stream_signs_subscribes_and_maps_account_events(fake: Any, ws: FakeWs) -> None:
    fake.on("GET", "/api/v1/position", static([{"symbol": SYMBOL, "netQuantity": "1", "entryPrice": "100"}]))
    fake.on("GET", "/api/v1/orders", static([OPEN_ORDER]))
    events = make_stream(fake, ws).private(SYMBOL)
    try:
        seen, resting = await until(events, OrderUpdate)
        assert isinstance(seen[0].msg, ExStatus) and seen[0].msg.state is FeedState.LIVE
        assert isinstance(seen[1].msg, Position) and seen[1].msg.quantity == D(1)
        assert resting.order_id == "5"
        await ws.wait_subscribed(2)
        assert [message["params"] for message in ws.subscribes] == ACCOUNT_STREAMS
        for message in ws.subscribes:
            key, signature, timestamp, window = message["signature"]
            text = signing_string("subscribe", {}, timestamp_ms=int(timestamp), window_ms=int(window))
            assert verify(key, text, signature)
        await ws.push(f"account.orderUpdate.{SYMBOL}", FILL_EVENT)
        seen, order = await until(events, OrderUpdate)
        fill = seen[-2].msg
        assert isinstance(fill, Fill) and fill.trade_id == "44" and fill.fee == D("0.02")
        assert seen[-2].ts_ns == E_US * 1000 and seen[-1].ts_ns == E_US * 1000
        assert order.status is OrderStatus.FILLED and order.client_id == 3
        closed_event = {
            "e": "positionClosed",
            "E": E_US + 5,
            "s": SYMBOL,
            "q": 0,
            "B": 0,
            "M": 101,
            "p": "1",
            "P": "0",
        }
        await ws.push(f"account.positionUpdate.{SYMBOL}", closed_event)
        seen, closed = await until(events, Position)
        assert closed.quantity == 0 and seen[-1].ts_ns == (E_US + 5) * 1000
        await ws.connections[-1].close()
        seen, _ = await until(events, ExStatus, FeedState.LIVE)
        drop = seen[0].msg
        assert isinstance(drop, ExStatus) and drop.state is FeedState.RECONNECTING
        await ws.wait_subscribed(4)
        assert [message["params"] for message in ws.subscribes[2:]] == ACCOUNT_STREAMS
    finally:
        await events.aclose()


async def test_private_stream_needs_a_secret_and_a_valid_url(fake: Any, ws: FakeWs) -> None:
    stream = make_stream(fake, ws, rest=fake.rest(transport=fake.transport(signer=None)))
    with pytest.raises(AuthError):
        stream.private(SYMBOL)
    with pytest.raises(InvalidURI):
        make_stream(fake, ws, ws_url="http://not-a-websocket")


def static(data: Any) -> Callable[[Any], Awaitable[web.StreamResponse]]:
    async def respond(call: Any) -> web.StreamResponse:
        return web.json_response(data)

    return respond
