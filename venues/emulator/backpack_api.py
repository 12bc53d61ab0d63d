"""Backpack's order entry over the emulator (signed REST), and the middleware every venue request passes.

The middleware counts requests and applies injected latency, freezes and
error answers; handlers answer with Backpack's paths, field names, statuses and
error bodies (``ApiError``).  With the ``cancel_accepted_ms`` fault a cancel
answers 202 with no body and is executed that much later.  Trigger orders
(``triggerPrice``) are the ``TriggerDesk``'s; they are listed, queried and
cancelled with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from services.wire import OrderType, TimeInForce
from venues.emulator.arrival import arrival_ns
from venues.emulator.backpack_auth import Authenticator, client_id_param, optional_symbol, symbol_param
from venues.emulator.backpack_errors import (
    ApiError,
    fault_response,
    invalid_request,
    order_not_found,
    rejection,
)
from venues.emulator.backpack_format import (
    ORDER_TYPE_FROM,
    SIDE_FROM,
    STP_FROM,
    order_json,
    trigger_json,
)
from venues.emulator.backpack_trigger_desk import TriggerDesk
from venues.emulator.core import EmulatorCore
from venues.emulator.faults import HANG_S
from venues.emulator.records import OrderNotFound, OrderRejected, OrderRequest

# Take-profit and stop-loss attached to an order are not emulated (trigger orders of their own are).
_ATTACHED_TRIGGERS = ("stopLossTriggerPrice", "takeProfitTriggerPrice")
_CANCEL_ALL_TYPES = (None, "RestingLimitOrder", "ConditionalOrder")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _decimal(body: Mapping[str, Any], name: str) -> Decimal | None:
    raw = body.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise invalid_request(f"Invalid {name}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise invalid_request(f"Invalid {name}") from None
    if not value.is_finite():
        raise invalid_request(f"Invalid {name}")
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    raw = body.get(name, False)
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    raise invalid_request(f"Invalid {name}")


class BackpackApi:
    def __init__(self, core: EmulatorCore, triggers: TriggerDesk) -> None:
        self.core = core
        self.auth = Authenticator(core)
        self.triggers = triggers
        self._pending: set[asyncio.TimerHandle] = set()

    def install(self, app: web.Application) -> None:
        routes = app.router
        routes.add_post("/api/v1/order", self.execute)
        routes.add_post("/api/v1/orders", self.execute_batch)
        routes.add_delete("/api/v1/order", self.cancel)
        routes.add_delete("/api/v1/orders", self.cancel_all)
        routes.add_get("/api/v1/order", self.query)
        routes.add_get("/api/v1/orders", self.query_all)

    # ------------------------------------------------------------ middleware

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count venue requests and apply injected latency, freezes and error answers before handling."""
        if request.path.startswith("/_emulator") or request.path == "/":
            return await handler(request)
        # Unrouted paths share one counter, so random URLs cannot grow the table.
        self.core.count_request(request.path if request.match_info.http_exception is None else "<unrouted>")
        spec = self.core.faults.spec
        await self.core.hold(spec.latency_ms / 1000 + self.core.freeze_remaining_s())
        fault = self.core.faults.draw_rest_fault()
        if fault is not None:
            return fault_response(fault)
        try:
            return await handler(request)
        except ApiError as error:
            return error.response()

    # ------------------------------------------------------------ orders

    def _order_request(self, body: Mapping[str, Any]) -> OrderRequest:
        symbol = symbol_param(self.core, body)
        side = SIDE_FROM.get(body.get("side"))  # type: ignore[arg-type]
        order_type = ORDER_TYPE_FROM.get(body.get("orderType"))  # type: ignore[arg-type]
        if side is None:
            raise invalid_request("Invalid side")
        if order_type is None:
            raise invalid_request("Invalid orderType")
        if any(body.get(name) is not None for name in _ATTACHED_TRIGGERS):
            raise ApiError(400, "INVALID_ORDER", "Attached stop loss and take profit are not emulated")
        tif = body.get("timeInForce") or "GTC"
        if tif not in ("GTC", "IOC", "FOK"):
            raise invalid_request("Invalid timeInForce")
        stp = STP_FROM.get(body.get("selfTradePrevention") or "RejectTaker")
        if stp is None:
            raise invalid_request("Invalid selfTradePrevention")
        return OrderRequest(
            symbol=symbol,
            side=side,
            order_type=order_type,
            quantity=_decimal(body, "quantity"),
            # A market order has no limit price on Backpack; one sent along is ignored.
            price=_decimal(body, "price") if order_type is OrderType.LIMIT else None,
            quote_quantity=_decimal(body, "quoteQuantity"),
            tif=TimeInForce.GTC if tif == "GTC" else TimeInForce.IOC,
            fill_or_kill=tif == "FOK",
            post_only=_flag(body, "postOnly"),
            reduce_only=_flag(body, "reduceOnly"),
            client_id=client_id_param(body.get("clientId")),
            stp=stp,
        )

    def _place(self, api_key: str, body: Mapping[str, Any], *, received_ns: int | None) -> dict[str, Any]:
        request = self._order_request(body)
        for flag in ("autoLend", "autoLendRedeem", "autoBorrow", "autoBorrowRepay"):
            _flag(body, flag)  # spot-margin flags: accepted and validated, meaningless for perps
        if body.get("triggerPrice") is not None:
            return self.triggers.place(api_key, request, body)
        try:
            order, events = self.core.engine.place(
                api_key, request, now_ms=self.core.now_ms(), received_ns=received_ns
            )
        except OrderRejected as error:
            raise rejection(error) from None
        self.core.publish(events)
        return order_json(order)

    async def execute(self, request: web.Request) -> web.Response:
        api_key, body = await self.auth.signed(request, "orderExecute")
        result = self._place(api_key, body, received_ns=arrival_ns())
        if self.core.faults.take_hang():
            await self.core.hold(HANG_S)
        return web.json_response(result)

    async def execute_batch(self, request: web.Request) -> web.Response:
        api_key, items = await self.auth.signed(request, "orderExecute", batch=True)
        results: list[dict[str, Any]] = []
        for body in items:
            try:
                results.append(self._place(api_key, body, received_ns=arrival_ns()))
            except ApiError as error:
                results.append(error.to_body() | {"operation": "Execute"})
        if self.core.faults.take_hang():
            await self.core.hold(HANG_S)
        return web.json_response(results)

    def _order_ref(self, params: Mapping[str, Any]) -> tuple[str, str | None, int | None]:
        symbol = symbol_param(self.core, params)
        order_id, client_id = params.get("orderId"), params.get("clientId")
        if (order_id is None) == (client_id is None):
            raise invalid_request("Exactly one of orderId and clientId must be given")
        if order_id is not None and not isinstance(order_id, str):
            raise invalid_request("Invalid orderId")
        return symbol, order_id, client_id_param(client_id)

    def _later(self, action: Callable[[], object]) -> web.Response:
        """Answer 202 "accepted but not yet executed" and run ``action`` after ``cancel_accepted_ms``."""
        delay_s = self.core.faults.spec.cancel_accepted_ms / 1000

        def run() -> None:
            self._pending.discard(handle)
            with contextlib.suppress(OrderNotFound):  # filled or cancelled meanwhile: nothing to cancel
                action()

        handle = asyncio.get_running_loop().call_later(delay_s, run)
        self._pending.add(handle)
        return web.Response(status=202)

    async def cancel(self, request: web.Request) -> web.Response:
        api_key, body = await self.auth.signed(request, "orderCancel")
        symbol, order_id, client_id = self._order_ref(body)
        trigger = self.triggers.find(api_key, symbol, order_id=order_id, client_id=client_id)

        def execute() -> dict[str, Any]:
            if trigger is not None:
                return self.triggers.cancel(trigger)
            order, events = self.core.engine.cancel(
                api_key, symbol, order_id=order_id, client_id=client_id, now_ms=self.core.now_ms()
            )
            self.core.publish(events)
            return order_json(order)

        if (
            trigger is None
            and self.core.engine.find_open(api_key, symbol, order_id=order_id, client_id=client_id) is None
        ):
            raise order_not_found(query=False)
        if self.core.faults.spec.cancel_accepted_ms:
            return self._later(execute)
        try:
            return web.json_response(execute())
        except OrderNotFound:
            raise order_not_found(query=False) from None

    async def cancel_all(self, request: web.Request) -> web.Response:
        """Every open order of the market; ``orderType`` narrows it to resting or conditional ones."""
        api_key, body = await self.auth.signed(request, "orderCancelAll")
        symbol = symbol_param(self.core, body)
        kind = body.get("orderType")
        if kind not in _CANCEL_ALL_TYPES:
            raise invalid_request("Invalid orderType")

        def execute() -> list[dict[str, Any]]:
            triggers = self.triggers.open(api_key, symbol) if kind != "RestingLimitOrder" else []
            done = []
            if kind != "ConditionalOrder":
                orders, events = self.core.engine.cancel_all(api_key, symbol, now_ms=self.core.now_ms())
                self.core.publish(events)
                done += [order_json(order) for order in orders]
            return done + [self.triggers.cancel(trigger) for trigger in triggers]

        if self.core.faults.spec.cancel_accepted_ms:
            return self._later(execute)
        return web.json_response(execute())

    @property
    def pending_cancels(self) -> int:
        """Cancels answered 202 and not yet executed."""
        return len(self._pending)

    def close(self) -> None:
        """Drop the cancels still waiting to execute (the emulator is stopping)."""
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()

    async def query(self, request: web.Request) -> web.Response:
        """An open order; 404 once it left the book (filled, cancelled or expired), as the venue does."""
        api_key, params = await self.auth.signed(request, "orderQuery")
        symbol, order_id, client_id = self._order_ref(params)
        order = self.core.engine.find_open(api_key, symbol, order_id=order_id, client_id=client_id)
        if order is not None:
            return web.json_response(order_json(order))
        trigger = self.triggers.find(api_key, symbol, order_id=order_id, client_id=client_id)
        if trigger is None:
            raise order_not_found(query=True)
        return web.json_response(trigger_json(trigger))

    async def query_all(self, request: web.Request) -> web.Response:
        api_key, params = await self.auth.signed(request, "orderQueryAll")
        symbol = optional_symbol(self.core, params)
        orders = [order_json(o) for o in self.core.engine.open_orders(api_key, symbol)]
        return web.json_response(orders + [trigger_json(t) for t in self.triggers.open(api_key, symbol)])
