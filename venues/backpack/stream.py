"""Backpack's WebSocket streams, self-healing: public market data and the private account feed.

Each stream connects, subscribes and yields ``VenueEvent``s stamped with the
exchange's event time.  On any drop it yields ``RECONNECTING`` (``MdStatus``
or ``ExStatus``), backs off (capped exponential with jitter), reconnects,
re-subscribes (re-seeding the book) and yields ``LIVE`` again.  The REST
depth snapshot lags the stream, so the book is seeded as
``venues.common.depth_sync`` describes, and a gap re-seeds it the same way on
the open connection.

Keepalive: websockets answers the venue's pings (sent every 60 s, pong due
within 120 s) by itself; our own pings every ``ping_interval_s`` find a dead
TCP path within ``ping_interval_s + ping_timeout_s``.  Market data never
pauses on a live venue, so a public stream silent for ``silence_timeout_s``
is treated as dropped; the account stream may be quiet and relies on pings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.uri import parse_uri

from services.wire import ExStatus, FeedState, MdStatus, Message
from venues.backpack.events import (
    bbo_from_ws,
    event_time_ns,
    fill_from_ws,
    mark_from_ws,
    order_from_ws,
    position_from_ws,
    trade_from_ws,
)
from venues.backpack.rest import BackpackRest
from venues.base import AuthError, VenueError, VenueEvent
from venues.common.book import Applied, LocalBook
from venues.common.depth_sync import Delta, DepthSync
from venues.common.parse import MalformedResponse, field, integer, levels, loads, skip_malformed
from venues.common.retry import backoff_s
from venues.common.ws import open_ws

log = logging.getLogger(__name__)


class StreamError(Exception):
    """The venue reported an error on the stream, or the stream stopped making sense."""


class BackpackStream:
    """Public and private streams for one account (``rest`` seeds books and snapshots)."""

    def __init__(
        self,
        *,
        ws_url: str,
        rest: BackpackRest,
        depth_levels: int = 10,
        open_timeout_s: float = 10.0,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
        silence_timeout_s: float = 20.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_queue: int = 1024,
        seed_retry_s: float = 0.5,
        seed_quiet_s: float = 1.0,
        max_buffered_depth: int = 10_000,
        rng: random.Random | None = None,
    ) -> None:
        parse_uri(ws_url)  # a malformed URL is a configuration error, not something to retry
        self.ws_url = ws_url
        self.rest = rest
        self.depth_levels = depth_levels
        self.open_timeout_s = open_timeout_s
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.silence_timeout_s = silence_timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        # Messages buffered while the book is seeded over REST; past it websockets stops
        # reading the socket (TCP backpressure), it never drops a message.
        self.max_queue = max_queue
        # Book seeding (depth_sync.DepthSync): a snapshot too old is fetched again after seed_retry_s at
        # the latest; a depth stream silent for seed_quiet_s after subscribe is a quiet book.
        self.seed_retry_s = seed_retry_s
        self.seed_quiet_s = seed_quiet_s
        self.max_buffered_depth = max_buffered_depth
        self._rng = rng or random.Random()

    def public(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        """``Bbo``, ``Book`` (top ``depth_levels``), ``Trade`` and ``Mark``, with ``MdStatus`` on changes."""
        return self._supervise(symbol, private=False)

    def private(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        """``OrderUpdate``, ``Fill`` and ``Position``, with ``ExStatus`` on changes.

        After every (re)subscribe it yields the REST position and open orders, since
        whatever changed while disconnected sent no event.
        """
        if self.rest.transport.signer is None:
            raise AuthError("the private stream needs an API secret")
        return self._supervise(symbol, private=True)

    async def _supervise(self, symbol: str, *, private: bool) -> AsyncGenerator[VenueEvent, None]:
        failures = 0
        while True:
            reason = "closed by the venue"
            try:
                async with self._connect() as ws:
                    session = self._private_session if private else self._public_session
                    # aclosing: a consumer that stops early finalizes the session at once.
                    async with aclosing(session(ws, symbol)) as events:
                        async for event in events:
                            if _is_live(event.msg):
                                failures = 0
                            yield event
            except (websockets.WebSocketException, OSError, TimeoutError, StreamError, VenueError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if private and ("expired" in reason.lower() or "timestamp" in reason.lower()):
                    await self._resync_clock()
            log.warning(
                "backpack %s stream %s dropped (%s)", "private" if private else "public", symbol, reason
            )
            yield VenueEvent(time.time_ns(), _status(FeedState.RECONNECTING, symbol, reason, private=private))
            await asyncio.sleep(
                backoff_s(failures, base_s=self.backoff_base_s, cap_s=self.backoff_cap_s, rng=self._rng)
            )
            failures += 1

    def _connect(self) -> connect:
        return open_ws(
            self.ws_url,
            open_timeout_s=self.open_timeout_s,
            ping_interval_s=self.ping_interval_s,
            ping_timeout_s=self.ping_timeout_s,
            max_queue=self.max_queue,
        )

    async def _resync_clock(self) -> None:
        try:
            await self.rest.transport.sync_clock()
        except VenueError as exc:
            log.warning("backpack clock re-sync failed: %s", exc)

    # ------------------------------------------------------------ public

    async def _public_session(self, ws: ClientConnection, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        streams = [f"bookTicker.{symbol}", f"depth.{symbol}", f"trade.{symbol}", f"markPrice.{symbol}"]
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": streams}))
        clock = asyncio.get_running_loop().time
        # Deltas are buffered from subscribe: the REST snapshot lags the stream (depth_sync).
        sync = DepthSync(
            LocalBook(symbol, levels=self.depth_levels),
            now_s=clock(),
            retry_s=self.seed_retry_s,
            quiet_s=self.seed_quiet_s,
            max_buffered=self.max_buffered_depth,
        )
        yield VenueEvent(time.time_ns(), MdStatus(state=FeedState.LIVE, symbol=symbol))
        heard_s = clock()
        while True:
            if sync.fetch_due(now_s=clock()):
                if sync.snapshot(await self.rest.depth(symbol), now_s=clock()):
                    yield VenueEvent(sync.ts_ns or time.time_ns(), sync.book.top())
                continue
            silence_left_s = self.silence_timeout_s - (clock() - heard_s)
            fetch_in_s = sync.wait_s(now_s=clock())
            received = await self._receive(
                ws, timeout_s=silence_left_s if fetch_in_s is None else min(fetch_in_s, silence_left_s)
            )
            if received is None:
                if clock() - heard_s >= self.silence_timeout_s:
                    raise StreamError(f"no message for {self.silence_timeout_s:g} s")
                continue
            heard_s = clock()
            stream, data = received
            kind = stream.split(".", 1)[0]
            ts_ns = _ts_ns(data)
            if kind != "depth":
                try:
                    msg = _market_message(kind, data)
                except MalformedResponse as exc:
                    skip_malformed(log, exc, venue="backpack", kind=kind)
                    continue
                if msg is not None:
                    yield VenueEvent(ts_ns, msg)
                continue
            delta = _depth_delta(data, ts_ns)
            if delta is None:
                sync.lost(clock())  # an update we cannot read is an update missed
                continue
            try:
                result = sync.delta(delta, now_s=clock())
            except OverflowError as exc:
                raise StreamError(f"depth of {symbol}: {exc}") from None
            if result is Applied.APPLIED:
                yield VenueEvent(ts_ns, sync.book.top())
            elif result is Applied.GAP:
                log.warning("backpack depth gap on %s at update %s; re-seeding", symbol, delta.first_id)

    # ------------------------------------------------------------ private

    async def _private_session(self, ws: ClientConnection, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        await self.rest.transport.keep_clock()
        for stream in (f"account.orderUpdate.{symbol}", f"account.positionUpdate.{symbol}"):
            signature = self.rest.transport.subscribe_signature()
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [stream], "signature": signature}))
        yield VenueEvent(time.time_ns(), ExStatus(state=FeedState.LIVE))
        async for event in self._account_snapshot(symbol):
            yield event
        while True:
            received = await self._receive(ws, timeout_s=None)
            if received is None:
                continue
            stream, data = received
            ts_ns = _ts_ns(data)
            try:
                if stream.startswith("account.orderUpdate"):
                    order = order_from_ws(data)
                    fill = fill_from_ws(data)
                    # The fill first: a consumer that sees the order filled has its fill already.
                    if fill is not None:
                        yield VenueEvent(ts_ns, fill)
                    yield VenueEvent(ts_ns, order)
                elif stream.startswith("account.positionUpdate"):
                    yield VenueEvent(ts_ns, position_from_ws(data))
            except MalformedResponse as exc:
                skip_malformed(log, exc, venue="backpack", kind=stream)

    async def _account_snapshot(self, symbol: str) -> AsyncIterator[VenueEvent]:
        # Events buffered meanwhile follow it, so the last state seen is still the newest.
        try:
            position = await self.rest.position(symbol)
            orders = await self.rest.open_orders(symbol)
        except VenueError as exc:
            log.warning("backpack account snapshot for %s failed (stream goes on): %s", symbol, exc)
            return
        now_ns = time.time_ns()
        yield VenueEvent(now_ns, position)
        for order in orders:
            yield VenueEvent(now_ns, order)

    # ------------------------------------------------------------ frames

    async def _receive(self, ws: ClientConnection, *, timeout_s: float | None) -> tuple[str, Any] | None:
        """The next ``(stream, data)``, None after ``timeout_s``; raises ``StreamError`` on a venue error."""
        while True:
            try:
                # Not wait_for: on 3.11 it can swallow a cancel when a frame arrives at the same moment,
                # and a busy stream then never stops.
                async with asyncio.timeout(timeout_s):
                    frame = await ws.recv()
            except TimeoutError:
                return None
            try:
                message = loads(frame)
            except MalformedResponse as exc:
                skip_malformed(log, exc, venue="backpack", kind="frame")
                continue
            if not isinstance(message, dict):
                continue
            if message.get("error") is not None:
                raise StreamError(f"venue error: {message['error']}")
            stream, data = message.get("stream"), message.get("data")
            if isinstance(stream, str) and isinstance(data, dict):
                return stream, data


def _market_message(kind: str, data: Any) -> Message | None:
    if kind == "bookTicker":
        return bbo_from_ws(data)
    if kind == "trade":
        return trade_from_ws(data)
    if kind == "markPrice":
        return mark_from_ws(data)
    return None


def _depth_delta(data: Any, ts_ns: int) -> Delta | None:
    """One depth event as a ``Delta``; None (logged) when malformed."""
    try:
        first_id, last_id = integer(field(data, "U")), integer(field(data, "u"))
        bids, asks = levels(data.get("b") or []), levels(data.get("a") or [])
    except MalformedResponse as exc:
        skip_malformed(log, exc, venue="backpack", kind="depth")
        return None
    return Delta(first_id=first_id, last_id=last_id, bids=bids, asks=asks, ts_ns=ts_ns)


def _ts_ns(data: Any) -> int:
    try:
        stamp = event_time_ns(data)
    except MalformedResponse:
        stamp = None
    return stamp if stamp is not None else time.time_ns()


def _is_live(msg: Message) -> bool:
    return isinstance(msg, (MdStatus, ExStatus)) and msg.state is FeedState.LIVE


def _status(state: FeedState, symbol: str, reason: str, *, private: bool) -> Message:
    return (
        ExStatus(state=state, reason=reason)
        if private
        else MdStatus(state=state, symbol=symbol, reason=reason)
    )
