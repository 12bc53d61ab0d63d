"""Aster's WebSocket API over the emulator: raw (``/ws/<stream>``) and combined (``/stream?streams=``).

Public streams: ``<s>@bookTicker``, ``<s>@depth@100ms`` (also ``@depth``,
``@depth@250ms``, ``@depth@500ms``: diffs whose ``pu`` is the previous
message's ``u``; an engine batch is one message), ``<s>@aggTrade`` and
``<s>@markPrice`` (``@1s`` too; every second).  Live ``SUBSCRIBE`` and
``UNSUBSCRIBE`` answer ``{"result": null, "id": ...}``.  ``/ws/<listenKey>`` is
the account's user stream: ``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``, and
``listenKeyExpired`` before the connection closes when the key lapses.  The
server pings every ``ws_ping_interval_s``; a client too slow to drain its
bounded outbox is disconnected.
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
from venues.emulator.aster_format import account_update, order_trade_update
from venues.emulator.core import EmulatorCore
from venues.emulator.events import (
    BookEvent,
    Event,
    FundingEvent,
    OrderEvent,
    PositionEvent,
    TradeEvent,
)
from venues.precision import fmt

OUTBOX_LIMIT = 10_000
_DEPTH = ("depth", "depth@100ms", "depth@250ms", "depth@500ms")
_KINDS = ("bookTicker", *_DEPTH, "aggTrade", "markPrice", "markPrice@1s")
ClientIdOf = Callable[[str], str]
OrigTypeOf = Callable[[str], str | None]
AccountOfKey = Callable[[str], str | None]


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    combined: bool
    account_id: str | None = None
    listen_key: str | None = None
    streams: set[str] = field(default_factory=set)
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    last_pong_s: float = field(default_factory=time.monotonic)

    def send(self, stream: str, data: dict[str, Any]) -> bool:
        """Queue an event; False when the outbox is full (the caller drops the connection)."""
        return self.reply({"stream": stream, "data": data} if self.combined else data)

    def reply(self, payload: dict[str, Any]) -> bool:
        """Queue a message as it is (answers to commands); False when the outbox is full."""
        try:
            self.outbox.put_nowait(json.dumps(payload, separators=(",", ":")))
        except asyncio.QueueFull:
            return False
        return True


class AsterStreams:
    """The streams of one emulator.

    The fault ``user_events_out_of_order``: user-data events are not
    guaranteed in order on the venue; while it is set, each account's events
    are delivered in swapped pairs (one held back until the next, or until
    ``flush_held``), so a client must order them by event time ``E``.
    """

    def __init__(
        self,
        core: EmulatorCore,
        *,
        client_id_of: ClientIdOf,
        account_of_key: AccountOfKey,
        orig_type_of: OrigTypeOf = lambda _: None,
    ) -> None:
        self.core = core
        self._client_id_of = client_id_of
        self._orig_type_of = orig_type_of
        self._account_of_key = account_of_key
        self._held: dict[str, dict[str, Any]] = {}
        self._last_event_ms: dict[str, int] = {}
        self._symbols = {symbol.lower(): symbol for symbol in core.profiles}
        self._connections: set[_Connection] = set()
        self._tops: dict[str, tuple[Level | None, Level | None]] = {}
        self._last_u: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        core.add_listener(self.on_events)

    # ------------------------------------------------------------ connections

    def install(self, app: web.Application) -> None:
        app.router.add_get("/ws", self.handle)
        app.router.add_get("/ws/{path:.*}", self.handle)
        app.router.add_get("/stream", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        combined = request.path == "/stream"
        names = (
            request.query.get("streams", "").split("/") if combined else [request.match_info.get("path", "")]
        )
        names = [name for name in names if name]
        connection = _Connection(web.WebSocketResponse(autoping=False), combined=combined)
        for name in names:
            account_id = None if combined else self._account_of_key(name)
            if account_id is not None:
                connection.account_id, connection.listen_key = account_id, name
            elif self._valid(name):
                connection.streams.add(name)
            else:
                return web.json_response({"code": -1121, "msg": f"Invalid stream {name!r}."}, status=400)
        ws = connection.ws
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a WebSocket upgrade")
        await ws.prepare(request)
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
            self._connections.discard(connection)
            for task in (writer, pinger):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return ws

    def _valid(self, name: str) -> bool:
        symbol, _, kind = name.partition("@")
        return symbol in self._symbols and kind in _KINDS

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

    def _command(self, connection: _Connection, text: str) -> None:
        try:
            command = json.loads(text)
        except json.JSONDecodeError:
            command = None
        if not isinstance(command, dict):
            connection.reply({"code": 2, "msg": "Invalid request"})
            return
        request_id, method, params = command.get("id"), command.get("method"), command.get("params") or []
        if method == "LIST_SUBSCRIPTIONS":
            connection.reply({"result": sorted(connection.streams), "id": request_id})
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            connection.reply({"code": 2, "msg": "Invalid request", "id": request_id})
            return
        bad = [p for p in params if not isinstance(p, str) or not self._valid(p)]
        if bad:
            connection.reply({"code": 2, "msg": f"Invalid stream {bad[0]!r}", "id": request_id})
            return
        if method == "SUBSCRIBE":
            connection.streams.update(params)
        else:
            connection.streams.difference_update(params)
        connection.reply({"result": None, "id": request_id})

    def _close_later(self, connection: _Connection, *, code: int, reason: str) -> None:
        self._connections.discard(connection)
        task = asyncio.create_task(connection.ws.close(code=code, message=reason.encode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def drop_connections(self) -> None:
        """Close every connection now (fault injection and reset)."""
        for connection in list(self._connections):
            self._close_later(connection, code=1012, reason="service restart")

    def check_listen_keys(self) -> None:
        """End the user streams whose listen key lapsed or was closed, with ``listenKeyExpired`` first."""
        for connection in list(self._connections):
            if connection.listen_key is not None and self._account_of_key(connection.listen_key) is None:
                connection.send("", {"e": "listenKeyExpired", "E": self.core.now_ms()})
                self._close_later(connection, code=1000, reason="listenKey expired")

    async def close(self) -> None:
        self.drop_connections()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ publishing

    def _broadcast(self, symbol: str, kinds: Sequence[str], data: dict[str, Any]) -> None:
        names = [f"{symbol.lower()}@{kind}" for kind in kinds]
        # Fault injection: a malformed copy goes first, once per stream.
        broken = {name: self.core.faults.malformed(name, data, keep=("e", "s")) for name in names}
        for connection in list(self._connections):
            for name in names:
                if name in connection.streams:
                    copy = broken[name]
                    sent = (copy is None or connection.send(name, copy)) and connection.send(name, data)
                    if not sent:
                        self._close_later(connection, code=1008, reason="slow consumer")
                    break

    def to_account(self, account_id: str, data: dict[str, Any]) -> None:
        """Send one user-data event to the account's streams (swapped with the next when out of order)."""
        if not self.core.faults.spec.user_events_out_of_order:
            self._send_user(account_id, data)
            return
        # Distinct event times, so the order is recoverable from ``E`` alone.
        data["E"] = self._last_event_ms[account_id] = max(
            int(data["E"]), self._last_event_ms.get(account_id, 0) + 1
        )
        held = self._held.pop(account_id, None)
        if held is None:
            self._held[account_id] = data
            return
        self._send_user(account_id, data)
        self._send_user(account_id, held)

    def flush_held(self) -> None:
        """Deliver the user-data events held back for reordering (a lone event is late, never lost)."""
        held, self._held = self._held, {}
        for account_id, data in held.items():
            self._send_user(account_id, data)

    def _send_user(self, account_id: str, data: dict[str, Any]) -> None:
        broken = self.core.faults.malformed(f"account:{account_id}", data, keep=("e",))
        for connection in list(self._connections):
            if connection.account_id != account_id:
                continue
            if not ((broken is None or connection.send("", broken)) and connection.send("", data)):
                self._close_later(connection, code=1008, reason="slow consumer")

    def on_events(self, events: Sequence[Event]) -> None:
        """Turn one batch of engine events into stream messages, in order."""
        now_ms = self.core.now_ms()
        books: dict[str, list[BookEvent]] = {}
        accounts = {c.account_id for c in self._connections if c.account_id is not None}
        replays: list[tuple[str, dict[str, Any]]] = []
        for event in events:
            if isinstance(event, BookEvent):
                books.setdefault(event.symbol, []).append(event)
            elif isinstance(event, TradeEvent):
                self._broadcast(event.symbol, ("aggTrade",), _agg_trade(event, now_ms))
            elif isinstance(event, OrderEvent) and event.account_id in accounts:
                order_id = event.order.order_id
                update = order_trade_update(
                    event,
                    client_order_id=self._client_id_of(order_id),
                    now_ms=now_ms,
                    orig_type=self._orig_type_of(order_id),
                )
                self.to_account(event.account_id, update)
                if event.fill is not None and self.core.faults.spec.replay_fills:
                    # Fault injection: the trade again, after the rest of its batch.
                    replays.append((event.account_id, update))
            elif isinstance(event, PositionEvent | FundingEvent) and event.account_id in accounts:
                # Positions are cross margin: a funding fee moves the balance alone (no ``P`` list).
                reason, view = "FUNDING_FEE", None
                if isinstance(event, PositionEvent):
                    reason, view = "ORDER", self.core.engine.position(event.account_id, event.position.symbol)
                wallet = self.core.engine.account(event.account_id).collateral
                data = account_update(
                    view, wallet_balance=wallet, reason=reason, ts_ms=event.ts_ms, now_ms=now_ms
                )
                self.to_account(event.account_id, data)
        for account_id, update in replays:
            self.to_account(account_id, update)
        for symbol, book_events in books.items():
            self._send_depth(symbol, book_events, now_ms)

    def _send_depth(self, symbol: str, events: list[BookEvent], now_ms: int) -> None:
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for event in events:
            bids.update(event.bids)
            asks.update(event.asks)
        first_id, last_id = events[0].update_id, events[-1].update_id
        previous_id = self._last_u.get(symbol, first_id - 1)
        self._last_u[symbol] = last_id
        engine_ms = events[-1].ts_ms
        # A dropped message still moves ``pu`` on, so the client sees the gap as the venue would show it.
        if not self.core.faults.take_depth_gap(symbol, symbols=set(self.core.profiles)):
            depth = {
                "e": "depthUpdate",
                "E": now_ms,
                "T": engine_ms,
                "s": symbol,
                "U": first_id,
                "u": last_id,
                "pu": previous_id,
                "b": [[fmt(p), fmt(q)] for p, q in sorted(bids.items(), reverse=True)],
                "a": [[fmt(p), fmt(q)] for p, q in sorted(asks.items())],
            }
            self._broadcast(symbol, _DEPTH, depth)
        best_bid, best_ask = top = self.core.engine.top(symbol)
        if top != self._tops.get(symbol) and best_bid is not None and best_ask is not None:
            self._tops[symbol] = top
            ticker = {
                "e": "bookTicker",
                "u": last_id,
                "E": now_ms,
                "T": engine_ms,
                "s": symbol,
                "b": fmt(best_bid[0]),
                "B": fmt(best_bid[1]),
                "a": fmt(best_ask[0]),
                "A": fmt(best_ask[1]),
            }
            self._broadcast(symbol, ("bookTicker",), ticker)

    def send_marks(self) -> None:
        """Push every symbol's mark and funding (the venue sends them on a timer, changed or not)."""
        now_ms = self.core.now_ms()
        for symbol in self.core.profiles:
            state = self.core.engine.mark_state(symbol)
            if state.mark is None or state.index is None:
                continue
            mark = {
                "e": "markPriceUpdate",
                "E": now_ms,
                "s": symbol,
                "p": fmt(state.mark),
                "i": fmt(state.index),
                "P": fmt(state.index),
                "r": fmt(state.funding_rate),
                "T": state.next_funding_ms,
            }
            self._broadcast(symbol, ("markPrice", "markPrice@1s"), mark)


def _agg_trade(event: TradeEvent, now_ms: int) -> dict[str, Any]:
    return {
        "e": "aggTrade",
        "E": now_ms,
        "s": event.symbol,
        "a": event.trade_id,
        "p": fmt(event.price),
        "q": fmt(event.quantity),
        "f": event.trade_id,
        "l": event.trade_id,
        "T": event.ts_ms,
        "m": event.buyer_is_maker,
    }
