"""Paradex's JSON-RPC WebSocket, self-healing: market data, the account feed, the dead-man connection.

Each session connects, authenticates where needed (``auth`` with the bearer
JWT, once: a Paradex WebSocket needs no re-auth for its lifetime, so a refreshed
token is only used by the next connection; a token refused as invalid, error
40111, is refreshed once and sent again before anything else), subscribes and
yields ``VenueEvent``s.  On any drop it yields
``RECONNECTING``, backs off (capped, jittered), reconnects and yields ``LIVE``.
Paradex pings every 55 s and wants a pong within 5 s: websockets answers pings
itself, and our own pings find a dead TCP path.  The order book channel sends
snapshots (``update_type`` s) and possibly deltas (d): a delta must continue
the previous ``seq_no`` exactly, else the session restarts for a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import itertools
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

from services.logs import log_once
from services.wire import ExStatus, FeedState, MdStatus, Message
from venues.base import AuthError, VenueError, VenueEvent
from venues.common.book import Applied, LocalBook
from venues.common.parse import MalformedResponse, loads, skip_malformed
from venues.common.retry import backoff_s
from venues.common.ws import open_ws
from venues.paradex import sbe
from venues.paradex.auth import JwtKeeper
from venues.paradex.parse import (
    bbo_from_venue,
    book_message,
    fill_from_venue,
    mark_from_summary,
    order_from_venue,
    position_from_venue,
    trade_from_venue,
)
from venues.paradex.rest import ParadexRest

log = logging.getLogger(__name__)

INVALID_BEARER = 40111
BOOK_CHANNEL = "order_book.{symbol}." + sbe.BOOK_CHANNEL_SUFFIX


class StreamError(Exception):
    """The venue reported an error on the stream, or the stream stopped making sense."""


class Rpc:
    """One JSON-RPC connection: requests with ids, notifications handed out in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    def new_id(self) -> int:
        return next(self._ids)

    async def send(self, method: str, params: dict[str, Any], *, request_id: int | None = None) -> int:
        """Send one request (with ``request_id``, else a fresh id); its id."""
        if request_id is None:
            request_id = self.new_id()
        await self.ws.send(
            json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": request_id})
        )
        return request_id

    async def receive(self, *, timeout_s: float | None) -> dict[str, Any] | None:
        """The next message, or None after ``timeout_s`` of silence."""
        try:
            frame = await asyncio.wait_for(self.ws.recv(), timeout=timeout_s)
        except TimeoutError:
            return None
        try:
            if isinstance(frame, bytes):
                # Binary frames are SBE channel data: handed on as the JSON notification they replace.
                decoded = sbe.decode(frame)
                if decoded is None:
                    return {}
                channel, data = decoded
                return {"method": "subscription", "params": {"channel": channel, "data": data}}
            message = loads(frame)
        except MalformedResponse as exc:
            skip_malformed(log, exc, venue="paradex", kind="frame")
            return {}
        return message if isinstance(message, dict) else {}

    async def call(self, method: str, params: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """Send a request and wait for its answer (notifications meanwhile are dropped: none flow yet)."""
        request_id = await self.send(method, params)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            message = await self.receive(timeout_s=max(deadline - loop.time(), 0.001))
            if message is None:
                raise StreamError(f"no answer to {method} within {timeout_s:g} s")
            if message.get("id") == request_id:
                return message


class ParadexStream:
    """Public and private streams for one account (``rest`` gives tokens and snapshots)."""

    def __init__(
        self,
        *,
        ws_url: str,
        rest: ParadexRest,
        depth_levels: int = 10,
        open_timeout_s: float = 10.0,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 5.0,
        silence_timeout_s: float = 20.0,
        answer_timeout_s: float = 10.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_queue: int = 1024,
        sbe_public: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        parse_uri(ws_url)  # a malformed URL is a configuration error, not something to retry
        self.ws_url = ws_url
        # Paradex serves public channels only as SBE (since 2026-09-21); private ones stay JSON.
        self.public_url = f"{ws_url}{'&' if '?' in ws_url else '?'}{sbe.SBE_QUERY}" if sbe_public else ws_url
        self.rest = rest
        self.depth_levels = depth_levels
        self.open_timeout_s = open_timeout_s
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.silence_timeout_s = silence_timeout_s
        self.answer_timeout_s = answer_timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_queue = max_queue
        self._rng = rng or random.Random()

    @property
    def jwt(self) -> JwtKeeper:
        return self.rest.transport.jwt

    def public(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        """``Bbo``, ``Book`` (top ``depth_levels``), ``Trade`` and ``Mark``, with ``MdStatus`` on changes."""
        return self._supervise(symbol, private=False)

    def private(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        """``OrderUpdate``, ``Fill``, ``Position`` and ``ExStatus``; REST state after each (re)subscribe."""
        self.rest.transport.require_signer()
        return self._supervise(symbol, private=True)

    def connect(self, *, public: bool = False) -> connect:
        return open_ws(
            self.public_url if public else self.ws_url,
            open_timeout_s=self.open_timeout_s,
            ping_interval_s=self.ping_interval_s,
            ping_timeout_s=self.ping_timeout_s,
            max_queue=self.max_queue,
        )

    async def _supervise(self, symbol: str, *, private: bool) -> AsyncGenerator[VenueEvent, None]:
        failures = 0
        while True:
            reason = "closed by the venue"
            try:
                async with self.connect(public=not private) as ws:
                    session = self._private_session if private else self._public_session
                    async with aclosing(session(Rpc(ws), symbol)) as events:
                        async for event in events:
                            if (
                                isinstance(event.msg, MdStatus | ExStatus)
                                and event.msg.state is FeedState.LIVE
                            ):
                                failures = 0
                            yield event
            except (websockets.WebSocketException, OSError, TimeoutError, StreamError, VenueError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            kind = "private" if private else "public"
            log.warning("paradex %s stream %s dropped (%s)", kind, symbol, reason)
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

    async def _subscribe(self, rpc: Rpc, channel: str) -> None:
        answer = await rpc.call("subscribe", {"channel": channel}, timeout_s=self.answer_timeout_s)
        if "error" in answer:
            raise StreamError(f"subscribe {channel} refused: {answer['error']}")

    async def authenticate(self, rpc: Rpc, *, stale: str | None = None) -> None:
        """``auth`` once with a valid bearer (refreshed once if refused as invalid)."""
        token = await (self.jwt.refresh(stale=stale) if stale else self.jwt.token())
        answer = await rpc.call("auth", {"bearer": token}, timeout_s=self.answer_timeout_s)
        error = answer.get("error")
        if error is None:
            return
        if isinstance(error, dict) and error.get("code") == INVALID_BEARER and stale is None:
            return await self.authenticate(rpc, stale=token)
        raise AuthError(f"paradex stream auth refused: {error}")

    # ------------------------------------------------------------ public

    async def _public_session(self, rpc: Rpc, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        book_channel = BOOK_CHANNEL.format(symbol=symbol)
        for topic in (f"bbo.{symbol}", book_channel, f"trades.{symbol}", f"markets_summary.{symbol}"):
            await self._subscribe(rpc, topic)
        yield VenueEvent(time.time_ns(), MdStatus(state=FeedState.LIVE, symbol=symbol))
        book = LocalBook(symbol, levels=self.depth_levels)
        while True:
            message = await rpc.receive(timeout_s=self.silence_timeout_s)
            if message is None:
                raise StreamError(f"no message for {self.silence_timeout_s:g} s")
            channel, data = _notification(message)
            if channel is None:
                continue
            kind = channel.split(".", 1)[0]
            try:
                if channel == book_channel:
                    if _apply_book(book, data) is Applied.GAP:
                        raise StreamError(
                            f"order book of {symbol} lost continuity at seq_no {data.get('seq_no')}"
                        )
                    if book.seeded:
                        yield VenueEvent(_ts_ns(data), book.top())
                    continue
                msg = _market_message(kind, data)
            except MalformedResponse as exc:
                skip_malformed(log, exc, venue="paradex", kind=kind)
                continue
            if msg is not None:
                yield VenueEvent(_ts_ns(data), msg)

    # ------------------------------------------------------------ private

    async def _private_session(self, rpc: Rpc, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        await self.authenticate(rpc)
        for topic in (f"orders.{symbol}", f"fills.{symbol}", "positions"):
            await self._subscribe(rpc, topic)
        yield VenueEvent(time.time_ns(), ExStatus(state=FeedState.LIVE))
        async for event in self._account_snapshot(symbol):
            yield event
        while True:
            message = await rpc.receive(timeout_s=None)
            if not message:
                continue
            if is_invalid_bearer(message):
                # Not expected on a live connection: a new one authenticates with a fresh token.
                raise StreamError("the venue refused the bearer on a live connection")
            channel, data = _notification(message)
            if channel is None:
                continue
            try:
                if channel.startswith("orders."):
                    yield VenueEvent(_ts_ns(data), order_from_venue(data))
                elif channel.startswith("fills."):
                    yield VenueEvent(_ts_ns(data), fill_from_venue(data))
                elif channel == "positions" and data.get("market") == symbol:
                    yield VenueEvent(_ts_ns(data), position_from_venue(data, mark=None))
            except MalformedResponse as exc:
                skip_malformed(log, exc, venue="paradex", kind=channel)

    async def _account_snapshot(self, symbol: str) -> AsyncIterator[VenueEvent]:
        try:
            position = await self.rest.position(symbol)
            orders = await self.rest.open_orders(symbol)
        except VenueError as exc:
            log.warning("paradex account snapshot for %s failed (stream goes on): %s", symbol, exc)
            return
        now_ns = time.time_ns()
        yield VenueEvent(now_ns, position)
        for order in orders:
            yield VenueEvent(now_ns, order)


def _notification(message: dict[str, Any]) -> tuple[str | None, Any]:
    if message.get("method") != "subscription":
        if "error" in message:
            log_once(log, f"paradex.ws.error.{message['error']}", f"paradex stream error: {message['error']}")
        return None, None
    params = message.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("channel"), str):
        return None, None
    data = params.get("data")
    return (params["channel"], data) if isinstance(data, dict) else (None, None)


def is_invalid_bearer(message: dict[str, Any]) -> bool:
    error = message.get("error")
    return isinstance(error, dict) and error.get("code") == INVALID_BEARER


def _market_message(kind: str, data: Any) -> Message | None:
    if kind == "bbo":
        return bbo_from_venue(data)
    if kind == "trades":
        return trade_from_venue(data)
    if kind == "markets_summary":
        return mark_from_summary(data)
    return None


def _apply_book(book: LocalBook, data: Any) -> Applied:
    """A snapshot replaces the book unless older; a delta must continue ``seq_no`` by one."""
    message = book_message(data)
    if message.snapshot:
        if book.last_update_id is not None and message.seq_no < book.last_update_id:
            return Applied.STALE
        book.seed(bids=message.bids, asks=message.asks, last_update_id=message.seq_no)
        return Applied.APPLIED
    return book.apply(first_id=message.seq_no, last_id=message.seq_no, bids=message.bids, asks=message.asks)


def _ts_ns(data: Any) -> int:
    stamp = data.get("last_updated_at") or data.get("created_at") if isinstance(data, dict) else None
    return int(stamp) * 1_000_000 if isinstance(stamp, int) else time.time_ns()
