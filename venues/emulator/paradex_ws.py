"""Paradex's JSON-RPC 2.0 WebSocket over the emulator, at ``/v1`` like wss://ws.api.prod.paradex.trade/v1.

Methods: ``auth`` (``{"bearer": JWT}``, once per connection: a connection
needs no re-auth for its lifetime, so a second ``auth`` is refused; error
40111 for an invalid bearer), ``subscribe``/``unsubscribe``
(``{"channel": ...}``), and the order methods with the connection-scoped
cancel-on-disconnect (``paradex_ws_orders``).  Notifications are
``{"jsonrpc":"2.0","method":"subscription","params":{"channel","data"}}``.
Public channels ``bbo.<m>``, ``order_book.<m>.snapshot@15@100ms`` (a full
top-15 snapshot with ``seq_no`` at most every 100 ms), ``trades.<m>``,
``markets_summary.<m>`` (about once a second); private ``orders.<m>``,
``fills.<m>`` (``ALL`` for every market) and ``positions``.  A connection made
with ``?sbeSchemaId=1&sbeSchemaVersion=1`` gets public data as SBE frames.
Pings every ``ws_ping_interval_s``; a connection silent for twice that is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMsgType, web

from venues.emulator.core import EmulatorCore
from venues.emulator.events import (
    BookEvent,
    Event,
    MarkEvent,
    OrderEvent,
    OrderEventKind,
    PositionEvent,
    TradeEvent,
)
from venues.emulator.paradex_account import ParadexAccount
from venues.emulator.paradex_auth import ParadexAuth
from venues.emulator.paradex_format import SIDE, OrderMeta, fill_json, order_json, position_json
from venues.emulator.paradex_orders import ParadexOrders
from venues.emulator.paradex_public import ParadexPublic
from venues.emulator.paradex_sbe import negotiated
from venues.emulator.paradex_ws_conn import Connection
from venues.emulator.paradex_ws_orders import METHODS, NOT_AUTHENTICATED, WsOrders
from venues.emulator.records import Order
from venues.precision import fmt

log = logging.getLogger(__name__)
BOOK_INTERVAL_S = 0.1
SUMMARY_INTERVAL_S = 1.0
BOOK_LEVELS = 15
INVALID_BEARER = 40111
_PUBLIC = ("bbo", "trades", "markets_summary", "funding_data")
_PRIVATE = ("orders", "fills")


class ParadexStreams:
    def __init__(
        self,
        core: EmulatorCore,
        *,
        auth: ParadexAuth,
        public: ParadexPublic,
        orders: ParadexOrders,
        account: ParadexAccount,
    ) -> None:
        self.core = core
        self.auth = auth
        self.public = public
        self.orders = orders
        self.account = account
        self.ws_orders = WsOrders(core, auth=auth, orders=orders)
        self.reauths = 0  # auth sent again on an authenticated connection (refused; tests read it)
        self._connections: set[Connection] = set()
        self._dirty_books: set[str] = set()
        self._tops: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        # Fills to send again after their batch (the replay_fills fault): (channels, data, account).
        self._replays: list[tuple[tuple[str, ...], dict[str, Any], str]] = []
        core.add_listener(self.on_events)

    # ------------------------------------------------------------ connections

    @property
    def connected(self) -> int:
        """How many client connections are open (a closed one is counted out once its switch was judged)."""
        return len(self._connections)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a WebSocket upgrade")
        sbe = negotiated(dict(request.query))
        if sbe is None:
            return web.Response(status=400, text="unsupported SBE schema or version")
        await ws.prepare(request)
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._publish_loop(), name="paradex-book-stream")
        connection = Connection(ws, sbe=sbe)
        self._connections.add(connection)
        writer = asyncio.create_task(self._write(connection))
        pinger = asyncio.create_task(self._ping(connection))
        clean = False  # the client closed with a close handshake
        try:
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT:
                    self._command(connection, msg.data)
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.PONG:
                    connection.last_pong_s = time.monotonic()
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    clean = msg.type is WSMsgType.CLOSE
                    break
        finally:
            self._forget(connection, clean=clean)
            for task in (writer, pinger):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return ws

    async def _write(self, connection: Connection) -> None:
        while True:
            message = await connection.outbox.get()
            try:
                if isinstance(message, bytes):
                    await connection.ws.send_bytes(message)
                else:
                    await connection.ws.send_str(message)
            except (ConnectionError, RuntimeError):
                return

    async def _ping(self, connection: Connection) -> None:
        interval_s = self.core.config.ws_ping_interval_s
        while not connection.ws.closed:
            await asyncio.sleep(interval_s)
            if time.monotonic() - connection.last_pong_s > 2 * interval_s:
                self._forget(connection, clean=False)
                await connection.ws.close(code=1001, message=b"pong timeout")
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.ws.ping()

    def _forget(self, connection: Connection, *, clean: bool) -> None:
        """The connection is gone (``clean``: by the client's close handshake); its switch may fire."""
        if connection not in self._connections:
            return
        self._connections.discard(connection)
        self.ws_orders.on_lost(connection.scope, clean=clean)

    def _close_later(self, connection: Connection, *, code: int, reason: str) -> None:
        # The server drops the connection: unexpected for the client, so an armed switch fires.
        self._forget(connection, clean=False)
        task = asyncio.create_task(connection.ws.close(code=code, message=reason.encode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def drop_connections(self) -> None:
        for connection in list(self._connections):
            self._close_later(connection, code=1012, reason="service restart")

    async def close(self) -> None:
        self.drop_connections()
        await self.ws_orders.close()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ JSON-RPC

    def _reply(self, connection: Connection, request_id: Any, result: dict[str, Any]) -> None:
        now_us = time.time_ns() // 1000
        connection.send({"jsonrpc": "2.0", "id": request_id, "result": result, "usIn": now_us, "usDiff": 0})

    def _error(self, connection: Connection, request_id: Any, code: int, message: str) -> None:
        connection.send({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})

    def _command(self, connection: Connection, text: str) -> None:
        try:
            command = json.loads(text)
        except json.JSONDecodeError:
            self._error(connection, None, -32700, "Parse error")
            return
        if not isinstance(command, dict) or command.get("jsonrpc") != "2.0":
            self._error(connection, None, -32600, "Invalid Request")
            return
        request_id, method = command.get("id"), command.get("method")
        raw_params = command.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        if method == "auth":
            self._auth(connection, request_id, params)
        elif method in ("subscribe", "unsubscribe"):
            self._subscription(connection, request_id, str(params.get("channel", "")), method == "subscribe")
        elif method in METHODS:
            self.ws_orders.handle(connection.scope, connection.send, request_id, method, params)
        else:
            self._error(connection, request_id, -32601, "Method not found")

    def _auth(self, connection: Connection, request_id: Any, params: dict[str, Any]) -> None:
        if connection.scope.account is not None:
            # The stricter reading of "no re-auth for the connection's lifetime": a second auth is refused.
            self.reauths += 1
            self._error(connection, request_id, -32600, "already authenticated on this connection")
            return
        found = self.auth.bearer(str(params.get("bearer", "")))
        if found is None:
            self._error(connection, request_id, INVALID_BEARER, "invalid bearer jwt")
            return
        connection.scope.account = found.account
        self._reply(connection, request_id, {})

    def _kind(self, channel: str) -> tuple[str, str | None] | None:
        """(kind, market) of a valid channel name, else None."""
        if channel in ("positions", "account"):
            return channel, None
        kind, _, rest = channel.partition(".")
        if kind == "order_book":
            market, _, feed = rest.partition(".")
            return ("order_book", market) if market in self.core.profiles and feed else None
        if kind in _PRIVATE and (rest in self.core.profiles or rest == "ALL"):
            return kind, rest
        if kind in _PUBLIC and rest in self.core.profiles:
            return kind, rest
        return None

    def _subscription(self, connection: Connection, request_id: Any, channel: str, subscribe: bool) -> None:
        kind = self._kind(channel)
        if kind is None:
            self._error(connection, request_id, -32602, f"Invalid params: unknown channel {channel!r}")
            return
        if not subscribe:
            if channel not in connection.channels:
                self._error(connection, request_id, -32602, f"not subscribed to {channel}")
                return
            connection.channels.discard(channel)
            self._reply(connection, request_id, {"channel": channel})
            return
        if kind[0] in (*_PRIVATE, "positions", "account") and connection.scope.account is None:
            self._error(connection, request_id, NOT_AUTHENTICATED, "not authenticated")
            return
        if channel in connection.channels:
            self._error(connection, request_id, -32600, f"already subscribed to {channel}")
            return
        connection.channels.add(channel)
        self._reply(connection, request_id, {"channel": channel})
        self._initial(connection, channel, kind)

    def _initial(self, connection: Connection, channel: str, kind: tuple[str, str | None]) -> None:
        """What a fresh subscriber gets at once: the current BBO, book, summary or positions."""
        name, market = kind
        if name == "bbo" and market is not None:
            connection.notify(channel, self.public.bbo_data(market))
        elif name == "order_book" and market is not None:
            connection.notify(channel, self._book_data(market))
        elif name == "markets_summary" and market is not None:
            connection.notify(channel, self.public.summary_row(market))
        elif name == "positions" and connection.scope.account is not None:
            for row in self.account.position_rows(connection.scope.account):
                connection.notify(channel, row)

    # ------------------------------------------------------------ publishing

    def _broadcast(
        self, channels: Sequence[str], data: dict[str, Any], *, account: str | None = None
    ) -> None:
        # Fault injection: a malformed copy goes first, once per channel.
        broken = {
            channel: self.core.faults.malformed(channel, data, keep=("market",)) for channel in channels
        }
        for connection in list(self._connections):
            if account is not None and connection.scope.account != account:
                continue
            for channel in channels:
                if channel not in connection.channels:
                    continue
                copy = broken[channel]
                sent = (copy is None or connection.notify(channel, copy)) and connection.notify(channel, data)
                if not sent:
                    self._close_later(connection, code=1008, reason="slow consumer")
                    break

    def _order_message(self, order: Order, meta: OrderMeta | None, status: str, reason: str = "") -> None:
        data = order_json(order, meta, status=status, reason=reason)
        self._broadcast((f"orders.{order.symbol}", "orders.ALL"), data, account=order.account_id)

    def on_closed(self, order: Order, meta: OrderMeta, reason: str) -> None:
        """An order accepted and closed at once (post-only would cross, no margin, ...)."""
        self._order_message(order, meta, "NEW")
        self._order_message(order, meta, "CLOSED", reason)

    def on_events(self, events: Sequence[Event]) -> None:
        last_kind: dict[str, tuple[OrderEventKind, Order]] = {}
        self._replays.clear()
        for event in events:
            if isinstance(event, BookEvent):
                self._dirty_books.add(event.symbol)
            elif isinstance(event, OrderEvent):
                self._order_event(event)
                last_kind[event.order.order_id] = (event.kind, event.order)
            elif isinstance(event, PositionEvent):
                now_ms = self.core.now_ms()
                data = position_json(event.position, account=event.account_id, now_ms=now_ms, seq_no=now_ms)
                self._broadcast(("positions",), data, account=event.account_id)
            elif isinstance(event, TradeEvent):
                trade = {
                    "id": str(event.trade_id),
                    "market": event.symbol,
                    "side": SIDE[event.taker_side],
                    "price": fmt(event.price),
                    "size": fmt(event.quantity),
                    "created_at": event.ts_ms,
                    "trade_type": "FILL",
                }
                self._broadcast((f"trades.{event.symbol}",), trade)
            elif isinstance(event, MarkEvent):
                continue  # summaries go out on the timer
        for channels, data, account in self._replays:
            self._broadcast(channels, data, account=account)
        for kind, order in last_kind.values():
            if kind is OrderEventKind.ACCEPTED and order.status.is_open:
                self._order_message(order, self.orders.meta(order.order_id), "OPEN")
        for symbol in self.core.profiles:
            self._send_bbo(symbol)

    def _order_event(self, event: OrderEvent) -> None:
        order = event.order
        meta = self.orders.meta(order.order_id)
        if event.kind is OrderEventKind.ACCEPTED:
            self._order_message(order, meta, "NEW")
            return
        if event.fill is not None:
            client_id = meta.client_id if meta else ""
            data = fill_json(event.fill, client_id=client_id)
            channels = (f"fills.{order.symbol}", "fills.ALL")
            self._broadcast(channels, data, account=order.account_id)
            if self.core.faults.spec.replay_fills:
                # Fault injection: the fill again, after the rest of its batch.
                self._replays.append((channels, data, order.account_id))
        self._order_message(order, meta, "OPEN" if order.status.is_open else "CLOSED")

    def _send_bbo(self, symbol: str) -> None:
        top = self.core.engine.top(symbol)
        if top == self._tops.get(symbol) or top[0] is None or top[1] is None:
            return
        self._tops[symbol] = top
        self._broadcast((f"bbo.{symbol}",), self.public.bbo_data(symbol))

    def _book_data(self, symbol: str) -> dict[str, Any]:
        bids, asks, update_id = self.core.engine.depth(symbol, limit=BOOK_LEVELS)
        inserts = [{"side": "BUY", "price": fmt(p), "size": fmt(q)} for p, q in bids]
        inserts += [{"side": "SELL", "price": fmt(p), "size": fmt(q)} for p, q in asks]
        return {
            "market": symbol,
            "seq_no": update_id,
            "last_updated_at": self.core.now_ms(),
            "update_type": "s",
            "inserts": inserts,
            "updates": [],
            "deletes": [],
        }

    async def _publish_loop(self) -> None:
        """Book snapshots every 100 ms when the book changed; summaries every second."""
        summary_due = 0.0
        while True:
            await asyncio.sleep(BOOK_INTERVAL_S)
            if self.core.freeze_remaining_s() > 0:
                continue
            try:
                dirty, self._dirty_books = self._dirty_books, set()
                for symbol in dirty:
                    channels = [
                        channel
                        for connection in self._connections
                        for channel in connection.channels
                        if channel.startswith(f"order_book.{symbol}.")
                    ]
                    if channels:
                        self._broadcast(sorted(set(channels)), self._book_data(symbol))
                now_s = time.monotonic()
                if now_s >= summary_due:
                    summary_due = now_s + SUMMARY_INTERVAL_S
                    for symbol in self.core.profiles:
                        self._broadcast((f"markets_summary.{symbol}",), self.public.summary_row(symbol))
            except Exception:
                log.exception("paradex stream publishing failed")
