"""Paradex's conditional orders over the emulator: stops, stop-losses and take-profits rest untriggered.

From docs.paradex.trade and the official SDK (paradex-py ``OrderType`` and the
order status enum): ``POST /orders`` also takes ``STOP_LIMIT``, ``STOP_MARKET``,
``TAKE_PROFIT_LIMIT``, ``TAKE_PROFIT_MARKET``, ``STOP_LOSS_LIMIT`` and
``STOP_LOSS_MARKET`` with a ``trigger_price`` (a ``*_LIMIT`` one with its limit
``price``), signed like any order with its own type name.  It answers ``NEW``,
then rests as ``UNTRIGGERED`` (listed by ``GET /orders``, shown by ``GET
/orders/{id}``, cancelled by ``DELETE /orders/{id}``, streamed on ``orders``)
until the trigger price is crossed; then the same order id goes to the book as
a limit or market order of its type.  This is how the trader's web app leaves
orders that perp-mm did not place on the account.

Where the docs are silent the emulator takes the stricter reading: the trigger
is the mark price reaching ``trigger_price`` from the side it was on when the
order was placed, and ``DELETE /orders`` (cancel all, like cancel-on-disconnect)
does not reach untriggered orders: a client that must remove them cancels them
one by one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.wire import OrderStatus, OrderType, TimeInForce
from venues.emulator.core import EmulatorCore
from venues.emulator.engine import Engine
from venues.emulator.events import Event, MarkEvent
from venues.emulator.paradex_auth import ApiError, ParadexAuth, validation_error
from venues.emulator.paradex_format import INSTRUCTIONS, SIDE_FROM, OrderMeta, order_json
from venues.emulator.paradex_orders import _CLOSED_AT_ONCE, MAX_CLIENT_ID_LENGTH, ParadexOrders
from venues.emulator.records import UINT32_MAX, Order, OrderRejected, OrderRequest
from venues.emulator.records import SelfTradePrevention as Stp
from venues.precision import fmt

# The type each conditional order becomes once triggered.
CONDITIONAL_TYPES: dict[str, OrderType] = {
    "STOP_LIMIT": OrderType.LIMIT,
    "STOP_MARKET": OrderType.MARKET,
    "TAKE_PROFIT_LIMIT": OrderType.LIMIT,
    "TAKE_PROFIT_MARKET": OrderType.MARKET,
    "STOP_LOSS_LIMIT": OrderType.LIMIT,
    "STOP_LOSS_MARKET": OrderType.MARKET,
}
CLOSED_MEMORY = 1_000  # cancelled untriggered orders kept for GET /orders/{id}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Streams one order's state on the ``orders`` channel: (order, meta, status, cancel reason).
Notify = Callable[[Order, OrderMeta, str, str], None]


@dataclass(slots=True)
class Untriggered:
    order: Order
    meta: OrderMeta
    request: OrderRequest
    trigger: Decimal
    rising: bool  # triggers when the mark reaches ``trigger`` from below (else from above)

    def crossed(self, mark: Decimal) -> bool:
        return mark >= self.trigger if self.rising else mark <= self.trigger


def _positive(body: dict[str, Any], name: str) -> Decimal:
    raw = body.get(name)
    try:
        value = Decimal(raw) if isinstance(raw, str) else None
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise validation_error(f"{name} must be a positive decimal string")
    return value


class ParadexTriggers:
    """Every account's untriggered orders, served in front of ``ParadexOrders`` by ``route``."""

    def __init__(
        self, core: EmulatorCore, auth: ParadexAuth, orders: ParadexOrders, *, notify: Notify
    ) -> None:
        self.core = core
        self.auth = auth
        self.orders = orders
        self.notify = notify
        self.resting: dict[str, Untriggered] = {}
        self.closed: dict[str, tuple[Order, OrderMeta, str]] = {}  # with the cancel reason
        self._engine: Engine | None = None
        core.add_listener(self.on_events)

    def _sync(self) -> Engine:
        """The current engine; a reset forgets every conditional order with the old one."""
        engine = self.core.engine
        if engine is not self._engine:
            self._engine = engine
            self.resting.clear()
            self.closed.clear()
        return engine

    # ------------------------------------------------------------ requests

    async def route(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Serve what concerns conditional orders; hand everything else to ``handler``."""
        self._sync()
        method, path = request.method, request.path
        if method == "POST" and path == "/v1/orders":
            body = self._json(await request.text())
            if isinstance(body, dict) and body.get("type") in CONDITIONAL_TYPES:
                account = self.auth.account_of(request)
                return web.json_response(self.place(account, body), status=201)
        elif path.startswith("/v1/orders/") and method in ("GET", "DELETE"):
            order_id = path.removeprefix("/v1/orders/")
            if order_id in self.resting or order_id in self.closed:
                return self._one(self.auth.account_of(request), order_id, cancel=method == "DELETE")
        elif method == "GET" and path == "/v1/orders":
            return self._with_untriggered(request, await handler(request))
        return await handler(request)

    @staticmethod
    def _json(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            return None  # the order handler answers the malformed body

    def place(self, account: str, body: dict[str, Any]) -> dict[str, Any]:
        """Validate, verify and rest one conditional order: the order as ``NEW``."""
        engine = self._sync()
        market, side = body.get("market"), SIDE_FROM.get(str(body.get("side")))
        if not isinstance(market, str) or market not in self.core.profiles:
            raise validation_error(f"market {market!r} is not listed")
        if side is None:
            raise validation_error("side must be BUY or SELL")
        venue_type = str(body["type"])
        kind = CONDITIONAL_TYPES[venue_type]
        instruction, flags = body.get("instruction") or "GTC", body.get("flags") or []
        if instruction not in INSTRUCTIONS:
            raise validation_error(f"instruction must be one of {', '.join(INSTRUCTIONS)}")
        if not isinstance(flags, list) or any(flag != "REDUCE_ONLY" for flag in flags):
            raise validation_error("flags may only hold REDUCE_ONLY")
        client_id = body.get("client_id") or ""
        if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH:
            raise validation_error("client_id must be a string of at most 64 characters")
        size, trigger = _positive(body, "size"), _positive(body, "trigger_price")
        price = _positive(body, "price") if kind is OrderType.LIMIT else None
        rules = self.core.profiles[market].rules
        if size % rules.step_size or any(p % rules.tick_size for p in (trigger, price) if p is not None):
            raise validation_error("size must be a multiple of the size increment and prices of the tick")
        self.orders._check_signature(account, body, market=market, size=size, price=price)
        now_ms = self.core.now_ms()
        request = OrderRequest(
            symbol=market,
            side=side,
            order_type=kind,
            quantity=size,
            price=price,
            tif=TimeInForce.IOC if kind is OrderType.MARKET or instruction == "IOC" else TimeInForce.GTC,
            post_only=instruction == "POST_ONLY",
            reduce_only="REDUCE_ONLY" in flags,
            client_id=int(client_id) if client_id.isdigit() and int(client_id) <= UINT32_MAX else None,
            stp=Stp.REJECT_TAKER,
        )
        order = Order(
            order_id=engine.ids.order(),
            account_id=account,
            symbol=market,
            side=side,
            order_type=kind,
            price=price,
            quantity=size,
            quote_quantity=None,
            tif=request.tif,
            fill_or_kill=False,
            post_only=request.post_only,
            reduce_only=request.reduce_only,
            client_id=request.client_id,
            stp=request.stp,
            created_ms=now_ms,
        )
        meta = OrderMeta(
            client_id=client_id,
            instruction=instruction,
            signature_ms=int(body["signature_timestamp"]),
            received_ms=now_ms,
            seq_no=next(self.orders.keeper.seq),
            venue_type=venue_type,
            trigger_price=fmt(trigger),
        )
        mark = engine.mark_state(market).mark
        rising = mark is None or trigger > mark
        self.resting[order.order_id] = Untriggered(order, meta, request, trigger, rising)
        self.notify(order, meta, "NEW", "")
        self.notify(order, meta, "UNTRIGGERED", "")
        return order_json(order, meta, status="NEW")

    def cancel(self, account: str, order_id: str) -> bool:
        """Cancel an untriggered order of ``account`` (REST and ``order.cancel``); False: it has none."""
        self._sync()
        resting = self.resting.get(order_id)
        if resting is None or resting.order.account_id != account:
            return False
        del self.resting[order_id]
        resting.order.status = OrderStatus.CANCELLED
        self._remember(resting.order, resting.meta, "USER_CANCELED")
        self.notify(resting.order, resting.meta, "CLOSED", "USER_CANCELED")
        return True

    def _one(self, account: str, order_id: str, *, cancel: bool) -> web.Response:
        resting = self.resting.get(order_id)
        if resting is not None and resting.order.account_id == account:
            if not cancel:
                return web.json_response(order_json(resting.order, resting.meta, status="UNTRIGGERED"))
            self.cancel(account, order_id)
            return web.Response(status=204)
        closed = self.closed.get(order_id)
        if closed is None or closed[0].account_id != account:
            raise ApiError(404, "ORDER_ID_NOT_FOUND", f"order {order_id} not found")
        if cancel:
            raise ApiError(400, "ORDER_IS_CLOSED", f"order {order_id} is closed")
        order, meta, reason = closed
        return web.json_response(order_json(order, meta, status="CLOSED", reason=reason))

    def _remember(self, order: Order, meta: OrderMeta, reason: str) -> None:
        self.closed[order.order_id] = (order, meta, reason)
        while len(self.closed) > CLOSED_MEMORY:
            del self.closed[next(iter(self.closed))]

    def _with_untriggered(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """``GET /orders`` lists the account's untriggered orders with the ones on the book."""
        if (
            not isinstance(response, web.Response)
            or response.status != 200
            or not isinstance(response.body, bytes)
        ):
            return response
        _, _, token = request.headers.get("Authorization", "").partition(" ")
        bearer = self.auth.bearer(token.strip())
        market = request.query.get("market")
        rows = [
            order_json(item.order, item.meta, status="UNTRIGGERED")
            for item in self.resting.values()
            if bearer is not None
            and item.order.account_id == bearer.account
            and market in (None, item.order.symbol)
        ]
        if not rows:
            return response
        answer = json.loads(response.body)
        answer["results"] = [*answer.get("results", []), *rows]
        return web.json_response(answer)

    # ------------------------------------------------------------ triggering

    def on_events(self, events: Sequence[Event]) -> None:
        """A mark that crosses a trigger price sends that order to the book (after this batch)."""
        marks = {event.symbol: event.mark for event in events if isinstance(event, MarkEvent)}
        if not marks or not self.resting:
            return
        due = [
            order_id
            for order_id, item in self.resting.items()
            if item.order.symbol in marks and item.crossed(marks[item.order.symbol])
        ]
        if due:
            loop = asyncio.get_running_loop()
            for order_id in due:
                loop.call_soon(self._trigger, order_id)

    def _trigger(self, order_id: str) -> None:
        engine = self._sync()
        item = self.resting.pop(order_id, None)
        if item is None:
            return
        self.orders.keeper.meta[order_id] = item.meta
        try:
            _, events = engine.place(
                item.order.account_id, item.request, now_ms=self.core.now_ms(), order_id=order_id
            )
        except OrderRejected as error:
            # Triggered but refused (a reduce-only stop with no position left): closed with the reason.
            item.order.status = OrderStatus.REJECTED
            reason = _CLOSED_AT_ONCE.get(error.detail, "UNEXPECTED_FAILURE")
            self._remember(item.order, item.meta, reason)
            self.notify(item.order, item.meta, "CLOSED", reason)
            return
        self.core.publish(events)
