"""Aster's WebSocket streams, self-healing: public market data and the listenKey user-data feed.

Public: one combined connection (``/stream?streams=...``) for ``bookTicker``,
``depth@100ms`` (diffs kept in a local book seeded from REST; each event's
``pu`` must be the previous ``u``, else the book is re-seeded), ``aggTrade``
and ``markPrice``.  Private: a listenKey from REST, ``/ws/<listenKey>``, the key
kept alive every ``keepalive_s`` (30 minutes; it lives 60), and a new key and
connection on ``listenKeyExpired`` or when the keep-alive is refused.  After
every (re)connect the REST position and open orders are yielded, since what
changed while disconnected sent no event.  User-data events may arrive out
of order: position legs follow event time ``E`` and an order update never
takes an order back (``ordering.OrderProgress``).  On any drop the stream yields
``RECONNECTING``, backs off (capped exponential with jitter) and reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.uri import parse_uri

from services.wire import ExStatus, FeedState, MdStatus, Message, OrderUpdate
from venues.aster.events import (
    bbo_from_ws,
    event_time_ns,
    fill_from_ws,
    mark_from_ws,
    order_from_ws,
    trade_from_ws,
)
from venues.aster.ordering import OrderProgress
from venues.aster.parse import PositionLegs, update_legs_from_ws
from venues.aster.rest import AsterRest
from venues.base import AuthError, DepthSnapshot, VenueError, VenueEvent
from venues.common.book import Applied, LocalBook
from venues.common.parse import MalformedResponse, field, integer, levels, loads, skip_malformed
from venues.common.retry import backoff_s
from venues.common.ws import open_ws

log = logging.getLogger(__name__)

LISTEN_KEY_KEEPALIVE_S = 30 * 60.0


class StreamError(Exception):
    """The venue reported an error on the stream, or the stream stopped making sense."""


class AsterStream:
    """Public and private streams for one account (``rest`` seeds books, snapshots and listen keys)."""

    def __init__(
        self,
        *,
        ws_url: str,
        rest: AsterRest,
        depth_levels: int = 10,
        open_timeout_s: float = 10.0,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
        silence_timeout_s: float = 20.0,
        keepalive_s: float = LISTEN_KEY_KEEPALIVE_S,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_queue: int = 1024,
        max_gap_reseeds: int = 3,
        rng: random.Random | None = None,
    ) -> None:
        parse_uri(ws_url)  # a malformed URL is a configuration error, not something to retry
        self.ws_url = ws_url.rstrip("/")
        self.rest = rest
        self.depth_levels = depth_levels
        self.open_timeout_s = open_timeout_s
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.silence_timeout_s = silence_timeout_s
        self.keepalive_s = keepalive_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        # Messages buffered while the book is seeded over REST; past it websockets stops
        # reading the socket (TCP backpressure), it never drops a message.
        self.max_queue = max_queue
        self.max_gap_reseeds = max_gap_reseeds
        self._rng = rng or random.Random()

    def public(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        """``Bbo``, ``Book`` (top ``depth_levels``), ``Trade`` and ``Mark``, with ``MdStatus`` on changes."""
        return self._supervise(symbol, private=False)

    def private(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        """``OrderUpdate``, ``Fill`` and ``Position``, with ``ExStatus`` on changes."""
        if self.rest.transport.signer is None:
            raise AuthError("the private stream needs API credentials")
        return self._supervise(symbol, private=True)

    async def _supervise(self, symbol: str, *, private: bool) -> AsyncGenerator[VenueEvent, None]:
        failures = 0
        while True:
            reason = "closed by the venue"
            try:
                session = self._private_session(symbol) if private else self._public_session(symbol)
                async with aclosing(session) as events:
                    async for event in events:
                        if isinstance(event.msg, MdStatus | ExStatus) and event.msg.state is FeedState.LIVE:
                            failures = 0
                        yield event
            except (websockets.WebSocketException, OSError, TimeoutError, StreamError, VenueError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            log.warning("aster %s stream %s dropped (%s)", "private" if private else "public", symbol, reason)
            status: Message = (
                ExStatus(state=FeedState.RECONNECTING, reason=reason)
                if private
                else MdStatus(state=FeedState.RECONNECTING, symbol=symbol, reason=reason)
            )
            yield VenueEvent(time.time_ns(), status)
            await asyncio.sleep(
                backoff_s(failures, base_s=self.backoff_base_s, cap_s=self.backoff_cap_s, rng=self._rng)
            )
            failures += 1

    def _connect(self, url: str) -> connect:
        return open_ws(
            url,
            open_timeout_s=self.open_timeout_s,
            ping_interval_s=self.ping_interval_s,
            ping_timeout_s=self.ping_timeout_s,
            max_queue=self.max_queue,
        )

    # ------------------------------------------------------------ public

    async def _public_session(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        lower = symbol.lower()
        streams = f"{lower}@bookTicker/{lower}@depth@100ms/{lower}@aggTrade/{lower}@markPrice"
        async with self._connect(f"{self.ws_url}/stream?streams={streams}") as ws:
            book = LocalBook(symbol, levels=self.depth_levels)
            seeded = self._seed(book, await self.rest.depth(symbol))
            yield VenueEvent(time.time_ns(), MdStatus(state=FeedState.LIVE, symbol=symbol))
            yield seeded
            gaps = 0
            while True:
                data = await _receive(ws, timeout_s=self.silence_timeout_s)
                kind = str(data.get("e") or "")
                ts_ns = _ts_ns(data)
                if kind != "depthUpdate":
                    try:
                        msg = _market_message(kind, data)
                    except MalformedResponse as exc:
                        skip_malformed(log, exc, venue="aster", kind=kind)
                        continue
                    if msg is not None:
                        yield VenueEvent(ts_ns, msg)
                    continue
                result = _apply_depth(book, data)
                if result is Applied.APPLIED:
                    gaps = 0
                    yield VenueEvent(ts_ns, book.top())
                elif result is Applied.GAP:
                    gaps += 1
                    if gaps > self.max_gap_reseeds:
                        raise StreamError(
                            f"depth of {symbol} still gapped after {self.max_gap_reseeds} re-seeds"
                        )
                    log.warning("aster depth gap on %s at pu=%s; re-seeding", symbol, data.get("pu"))
                    yield self._seed(book, await self.rest.depth(symbol))

    def _seed(self, book: LocalBook, snapshot: DepthSnapshot) -> VenueEvent:
        book.seed(bids=snapshot.bids, asks=snapshot.asks, last_update_id=snapshot.last_update_id)
        return VenueEvent(snapshot.ts_ns or time.time_ns(), book.top())

    # ------------------------------------------------------------ private

    async def _private_session(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        listen_key = await self.rest.listen_key("POST")
        async with self._connect(f"{self.ws_url}/ws/{listen_key}") as ws:
            yield VenueEvent(time.time_ns(), ExStatus(state=FeedState.LIVE))
            legs = PositionLegs(symbol)
            progress = OrderProgress()
            async for event in self._account_snapshot(symbol):
                if isinstance(event, PositionLegs):
                    legs = event
                    yield VenueEvent(time.time_ns(), legs.net())
                elif not isinstance(event.msg, OrderUpdate) or progress.admit(event.msg):
                    yield event
            loop = asyncio.get_running_loop()
            keepalive_at = loop.time() + self.keepalive_s
            while True:
                try:
                    data = await _receive(ws, timeout_s=max(keepalive_at - loop.time(), 0.0))
                except TimeoutError:
                    await self._keepalive()
                    keepalive_at = loop.time() + self.keepalive_s
                    continue
                kind = data.get("e")
                if kind == "listenKeyExpired":
                    raise StreamError("listenKey expired; opening a new one")
                try:
                    for event in _account_events(kind, data, legs):
                        if isinstance(event.msg, OrderUpdate):
                            if not progress.admit(event.msg):
                                log.info("aster: dropped a late update of order %s", event.msg.order_id)
                                continue
                            self.rest.client_ids.remember(event.msg)
                        yield event
                except MalformedResponse as exc:
                    skip_malformed(log, exc, venue="aster", kind=str(kind))

    async def _keepalive(self) -> None:
        try:
            await self.rest.listen_key("PUT")
        except VenueError as exc:
            # A key the venue no longer knows cannot be revived: reconnect with a new one.
            raise StreamError(f"listenKey keep-alive refused: {exc}") from exc

    async def _account_snapshot(self, symbol: str) -> AsyncIterator[VenueEvent | PositionLegs]:
        try:
            legs = await self.rest.position_legs(symbol)
            orders = await self.rest.open_orders(symbol)
        except VenueError as exc:
            log.warning("aster account snapshot for %s failed (stream goes on): %s", symbol, exc)
            return
        yield legs
        now_ns = time.time_ns()
        for order in orders:
            yield VenueEvent(now_ns, order)


def _account_events(kind: Any, data: dict[str, Any], legs: PositionLegs) -> list[VenueEvent]:
    ts_ns = _ts_ns(data)
    if kind == "ORDER_TRADE_UPDATE":
        update = field(data, "o")
        if str(field(update, "s")) != legs.symbol:
            return []
        fill = fill_from_ws(update)
        # The fill first: a consumer that sees the order filled has its fill already.
        events = [VenueEvent(ts_ns, fill)] if fill is not None else []
        return [*events, VenueEvent(ts_ns, order_from_ws(update))]
    if kind == "ACCOUNT_UPDATE" and update_legs_from_ws(legs, data):
        return [VenueEvent(ts_ns, legs.net())]
    return []


async def _receive(ws: ClientConnection, *, timeout_s: float) -> dict[str, Any]:
    """The next event payload (combined-stream envelopes unwrapped); ``TimeoutError`` on silence."""
    while True:
        frame = await asyncio.wait_for(ws.recv(), timeout=timeout_s)
        try:
            message = loads(frame)
        except MalformedResponse as exc:
            skip_malformed(log, exc, venue="aster", kind="frame")
            continue
        if not isinstance(message, dict):
            continue
        if message.get("error") is not None:
            raise StreamError(f"venue error: {message['error']}")
        data = message.get("data") if "stream" in message else message
        if isinstance(data, dict) and "e" in data:
            return data


def _market_message(kind: str, data: Any) -> Message | None:
    if kind == "bookTicker":
        return bbo_from_ws(data)
    if kind == "aggTrade":
        return trade_from_ws(data)
    if kind == "markPriceUpdate":
        return mark_from_ws(data)
    return None


def _apply_depth(book: LocalBook, data: Any) -> Applied:
    """Apply one depth event; a malformed one leaves the book unknown, so it counts as a gap."""
    try:
        first_id, last_id = integer(field(data, "U")), integer(field(data, "u"))
        previous_id = integer(field(data, "pu"))
        bids, asks = levels(data.get("b") or []), levels(data.get("a") or [])
    except MalformedResponse as exc:
        skip_malformed(log, exc, venue="aster", kind="depth")
        book.reset()
        return Applied.GAP
    return book.apply(first_id=first_id, last_id=last_id, previous_id=previous_id, bids=bids, asks=asks)


def _ts_ns(data: Any) -> int:
    try:
        stamp = event_time_ns(data)
    except MalformedResponse:
        stamp = None
    return stamp if stamp is not None else time.time_ns()
