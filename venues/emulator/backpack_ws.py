"""Backpack's WebSocket API over the emulator, at the root path like wss://ws.backpack.exchange.

``{"method":"SUBSCRIBE","params":[...]}`` and ``UNSUBSCRIBE``; every message is
``{"stream": name, "data": payload}`` with times in microseconds.  Public
streams: ``bookTicker.<s>``, ``depth.<s>`` (absolute levels, ``U`` = previous
``u`` + 1; the engine's changes of one batch are merged into one message as the
venue does under load), ``trade.<s>``, ``markPrice.<s>`` (at most about once a
second).  Private streams ``account.orderUpdate[.<s>]`` and
``account.positionUpdate[.<s>]`` need ``"signature": [key, sig, ts, window]``
over ``instruction=subscribe&timestamp=..&window=..``.  The server pings every
``ws_ping_interval_s`` and closes a connection that has not answered within
twice that; a client too slow to drain its bounded outbox is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from services.wire import Level
from venues.backpack.signing import signing_string, verify
from venues.emulator.backpack_format import order_update, position_payload, position_update
from venues.emulator.core import EmulatorCore
from venues.emulator.events import BookEvent, Event, MarkEvent, OrderEvent, PositionEvent, TradeEvent
from venues.precision import fmt

OUTBOX_LIMIT = 10_000  # messages queued per connection before it counts as a slow consumer
MARK_INTERVAL_MS = 1000
_PUBLIC_KINDS = ("bookTicker", "depth", "trade", "markPrice")
_PRIVATE_KINDS = ("account.orderUpdate", "account.positionUpdate")
PositionSnapshot = Callable[[str, str], dict[str, Any]]


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    keys: dict[str, str] = field(default_factory=dict)  # private stream -> the API key that subscribed
    last_pong_s: float = field(default_factory=time.monotonic)

    def send(self, text: str) -> bool:
        """Queue a message; False when the outbox is full (the caller drops the connection)."""
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True


def _message(stream: str, data: dict[str, Any]) -> str:
    return json.dumps({"stream": stream, "data": data}, separators=(",", ":"))


def _merge(events: list[BookEvent]) -> tuple[int, int, list[Level], list[Level]]:
    """One depth update from consecutive book events: first and last ids, latest quantity per level."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    for event in events:
        bids.update(event.bids)
        asks.update(event.asks)
    return (
        events[0].update_id,
        events[-1].update_id,
        sorted(bids.items(), reverse=True),
        sorted(asks.items()),
    )


class BackpackStreams:
    def __init__(self, core: EmulatorCore, *, position_snapshot: PositionSnapshot) -> None:
        self.core = core
        self._position_snapshot = position_snapshot
        self._subscribers: dict[str, set[_Connection]] = {}
        self._connections: set[_Connection] = set()
        self._tops: dict[str, tuple[Level | None, Level | None]] = {}
        self._marks_sent: dict[str, tuple[int, tuple[Any, ...]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._mark_task: asyncio.Task[None] | None = None
        core.add_listener(self.on_events)

    # ------------------------------------------------------------ connections

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a WebSocket upgrade")
        await ws.prepare(request)
        if self._mark_task is None:
            self._mark_task = asyncio.create_task(self._mark_loop(), name="backpack-mark-stream")
        connection = _Connection(ws)
        self._connections.add(connection)
        writer = asyncio.create_task(self._write(connection))
        pinger = asyncio.create_task(self._ping(connection))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._command(connection, msg.data)
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.PONG:
                    connection.last_pong_s = time.monotonic()
        finally:
            self._forget(connection)
            for task in (writer, pinger):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return ws

    async def _write(self, connection: _Connection) -> None:
        while True:
            text = await connection.outbox.get()
            try:
                await connection.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _ping(self, connection: _Connection) -> None:
        interval_s = self.core.config.ws_ping_interval_s
        while not connection.ws.closed:
            await asyncio.sleep(interval_s)
            if time.monotonic() - connection.last_pong_s > 2 * interval_s:
                await connection.ws.close(code=1001, message=b"pong timeout")
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.ws.ping()

    def _forget(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        for subscribers in self._subscribers.values():
            subscribers.discard(connection)

    def _close_later(self, connection: _Connection, *, code: int, reason: str) -> None:
        self._forget(connection)
        task = asyncio.create_task(connection.ws.close(code=code, message=reason.encode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def drop_connections(self) -> None:
        """Close every connection now (fault injection and reset)."""
        for connection in list(self._connections):
            self._close_later(connection, code=1012, reason="service restart")

    async def close(self) -> None:
        self.drop_connections()
        if self._mark_task is not None:
            self._mark_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._mark_task
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ subscriptions

    def _error(self, connection: _Connection, request_id: Any, code: int, message: str) -> None:
        connection.send(json.dumps({"id": request_id, "error": {"code": code, "message": message}}))

    def _command(self, connection: _Connection, text: str) -> None:
        try:
            command = json.loads(text)
        except json.JSONDecodeError:
            self._error(connection, None, 4000, "Invalid JSON")
            return
        if not isinstance(command, dict):
            self._error(connection, None, 4000, "Invalid request")
            return
        request_id = command.get("id")
        method, params = command.get("method"), command.get("params")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            self._error(connection, request_id, 4000, "Invalid request")
            return
        streams = [p for p in params if isinstance(p, str)]
        unknown = [s for s in streams if not self._valid_stream(s)]
        if unknown or len(streams) != len(params):
            self._error(connection, request_id, 4002, f"Invalid stream: {', '.join(unknown) or 'non-string'}")
            return
        if method == "UNSUBSCRIBE":
            for stream in streams:
                self._subscribers.get(stream, set()).discard(connection)
                connection.keys.pop(stream, None)
            return
        api_key = None
        if any(s.startswith("account.") for s in streams):
            api_key = self._verify(command.get("signature"))
            if api_key is None:
                self._error(connection, request_id, 4006, "Invalid signature")
                return
        for stream in streams:
            self._subscribers.setdefault(stream, set()).add(connection)
            if stream.startswith("account."):
                assert api_key is not None
                connection.keys[stream] = api_key
                if stream.startswith("account.positionUpdate"):
                    self._send_positions(connection, stream, api_key)

    def _valid_stream(self, stream: str) -> bool:
        for kind in _PRIVATE_KINDS:
            if stream == kind:
                return True
            if stream.startswith(kind + "."):
                return stream[len(kind) + 1 :] in self.core.profiles
        kind, _, symbol = stream.partition(".")
        return kind in _PUBLIC_KINDS and symbol in self.core.profiles

    def _verify(self, signature: Any) -> str | None:
        """The API key of a valid subscribe signature ``[key, sig, ts, window]``, else None."""
        if not isinstance(signature, list) or len(signature) != 4:
            return None
        api_key, sig, timestamp, window = signature
        try:
            timestamp_ms, window_ms = int(timestamp), int(window)
        except (TypeError, ValueError):
            return None
        if not isinstance(api_key, str) or not isinstance(sig, str) or not 0 < window_ms <= 60_000:
            return None
        if abs(self.core.now_ms() - timestamp_ms) > window_ms:
            return None
        engine = self.core.engine
        if not engine.has_account(api_key) or engine.account(api_key).house:
            return None
        text = signing_string("subscribe", {}, timestamp_ms=timestamp_ms, window_ms=window_ms)
        return api_key if verify(api_key, text, sig) else None

    def _send_positions(self, connection: _Connection, stream: str, api_key: str) -> None:
        """On subscribe the venue sends the open positions, without an event type."""
        only = stream[len("account.positionUpdate.") :] if stream != "account.positionUpdate" else None
        now_us = self.core.now_us()
        for position in self.core.engine.positions(api_key):
            if position.quantity != 0 and (only is None or position.symbol == only):
                fields = self._position_snapshot(api_key, position.symbol)
                connection.send(_message(stream, position_payload(fields, now_us=now_us, engine_us=now_us)))

    # ------------------------------------------------------------ publishing

    def _broadcast(self, stream: str, data: dict[str, Any], *, api_key: str | None = None) -> None:
        subscribers = self._subscribers.get(stream)
        if not subscribers:
            return
        text = _message(stream, data)
        broken = self.core.faults.malformed(stream, data, keep=("e", "s"))
        malformed = _message(stream, broken) if broken is not None else None
        for connection in list(subscribers):
            if api_key is not None and connection.keys.get(stream) != api_key:
                continue
            sent = (malformed is None or connection.send(malformed)) and connection.send(text)
            if not sent:
                self._close_later(connection, code=1008, reason="slow consumer")

    def _wanted(self, streams: tuple[str, ...], api_key: str) -> bool:
        """Whether any connection follows these private streams for ``api_key`` (house flow: never)."""
        return any(
            connection.keys.get(stream) == api_key
            for stream in streams
            for connection in self._subscribers.get(stream, ())
        )

    def send_order_update(self, api_key: str, data: dict[str, Any]) -> None:
        """An ``account.orderUpdate`` the engine does not make (a trigger order's own updates)."""
        for stream in ("account.orderUpdate", f"account.orderUpdate.{data['s']}"):
            self._broadcast(stream, data, api_key=api_key)

    def on_events(self, events: Sequence[Event]) -> None:
        """Turn one batch of engine events into stream messages, in order."""
        now_us = self.core.now_us()
        books: dict[str, list[BookEvent]] = {}
        replays: list[tuple[tuple[str, ...], dict[str, Any], str]] = []
        for event in events:
            if isinstance(event, BookEvent):
                books.setdefault(event.symbol, []).append(event)
            elif isinstance(event, OrderEvent):
                streams = ("account.orderUpdate", f"account.orderUpdate.{event.order.symbol}")
                if self._wanted(streams, event.account_id):
                    data = order_update(
                        event, now_us=now_us, zero_trade_id=self.core.faults.spec.zero_trade_ids
                    )
                    for stream in streams:
                        self._broadcast(stream, data, api_key=event.account_id)
                    if event.fill is not None and self.core.faults.spec.replay_fills:
                        replays.append((streams, data, event.account_id))
            elif isinstance(event, PositionEvent):
                streams = ("account.positionUpdate", f"account.positionUpdate.{event.position.symbol}")
                if self._wanted(streams, event.account_id):
                    fields = self._position_snapshot(event.account_id, event.position.symbol)
                    data = position_update(event, fields, now_us=now_us)
                    for stream in streams:
                        self._broadcast(stream, data, api_key=event.account_id)
            elif isinstance(event, TradeEvent):
                self._broadcast(f"trade.{event.symbol}", self._trade(event, now_us))
            elif isinstance(event, MarkEvent):
                self._send_mark(event.symbol, force=False)
        for replay_streams, replay, api_key in replays:
            for stream in replay_streams:
                self._broadcast(stream, replay, api_key=api_key)
        for symbol, book_events in books.items():
            self._send_depth(symbol, book_events, now_us)

    def _trade(self, event: TradeEvent, now_us: int) -> dict[str, Any]:
        return {
            "e": "trade",
            "E": now_us,
            "s": event.symbol,
            "p": fmt(event.price),
            "q": fmt(event.quantity),
            "b": event.buy_order_id,
            "a": event.sell_order_id,
            "t": event.trade_id,
            "T": event.ts_ms * 1000,
            "m": event.buyer_is_maker,
        }

    def _send_depth(self, symbol: str, events: list[BookEvent], now_us: int) -> None:
        first_id, last_id, bids, asks = _merge(events)
        engine_us = events[-1].ts_ms * 1000
        if not self.core.faults.take_depth_gap(symbol, symbols=set(self.core.profiles)):
            depth = {
                "e": "depth",
                "E": now_us,
                "s": symbol,
                "a": [[fmt(p), fmt(q)] for p, q in asks],
                "b": [[fmt(p), fmt(q)] for p, q in bids],
                "U": first_id,
                "u": last_id,
                "T": engine_us,
            }
            self._broadcast(f"depth.{symbol}", depth)
        best_bid, best_ask = top = self.core.engine.top(symbol)
        if top != self._tops.get(symbol) and best_bid is not None and best_ask is not None:
            self._tops[symbol] = top
            (bid, bid_qty), (ask, ask_qty) = best_bid, best_ask
            ticker = {
                "e": "bookTicker",
                "E": now_us,
                "s": symbol,
                "a": fmt(ask),
                "A": fmt(ask_qty),
                "b": fmt(bid),
                "B": fmt(bid_qty),
                "u": str(last_id),
                "T": engine_us,
            }
            self._broadcast(f"bookTicker.{symbol}", ticker)

    def _send_mark(self, symbol: str, *, force: bool) -> None:
        state = self.core.engine.mark_state(symbol)
        if state.mark is None or state.index is None:
            return
        now_ms = self.core.now_ms()
        values = (state.mark, state.funding_rate, state.index, state.next_funding_ms)
        last_ms, last_values = self._marks_sent.get(symbol, (0, ()))
        if values == last_values or (not force and now_ms - last_ms < MARK_INTERVAL_MS):
            return
        self._marks_sent[symbol] = (now_ms, values)
        mark = {
            "e": "markPrice",
            "E": now_ms * 1000,
            "s": symbol,
            "p": fmt(state.mark),
            "f": fmt(state.funding_rate),
            "i": fmt(state.index),
            "n": state.next_funding_ms * 1000,
        }
        self._broadcast(f"markPrice.{symbol}", mark)

    async def _mark_loop(self) -> None:
        """Every second, push marks that changed since last sent (events alone are throttled)."""
        while True:
            await asyncio.sleep(MARK_INTERVAL_MS / 1000)
            if self.core.freeze_remaining_s() > 0:
                continue
            for symbol in self.core.profiles:
                self._send_mark(symbol, force=True)
