"""Aster's order entry over the emulator (signed REST, v1 and v3 paths), and the middleware of every request.

The middleware spends each request's weight from its IP's budget
(``X-MBX-USED-WEIGHT-1M`` on every answer, 429 then 418 past it; see
``aster_limits``), applies injected latency, freezes and error answers, and turns ``AsterApiError``
into ``{code, msg}`` bodies.  Orders: ``LIMIT`` (GTC, IOC, FOK, GTX = post-only)
and ``MARKET``; ``reduceOnly`` "true"/"false"; ``newClientOrderId``; one-way
mode (``positionSide`` BOTH); ``MIN_NOTIONAL`` enforced (-4164) except for
reduce-only orders; ``LOT_SIZE.maxQty`` and, for market orders, also
``MARKET_LOT_SIZE.maxQty`` (-4005); ``PERCENT_PRICE`` around the mark price: a
limit buy above ``mark * multiplierUp`` (-4016), a limit sell below
``mark * multiplierDown`` (-4024), a market order whose counterparty's best
price is beyond the band (-4131).  ``POST /fapi/v3/noop`` does nothing but use up its nonce:
sent with the nonce of an order still queued, it kills that order (the order
then meets -4225), as the venue documents.
Conditional types (stops, take-profits, trailing stops)
rest in ``ConditionalOrders`` until triggered, and are listed, queried and
cancelled one by one with the rest; ``allOpenOrders`` and the countdown leave
them (the docs do not say either way: the stricter reading).
``newOrderRespType`` is ``ACK`` by default, as on the venue: the answer says
``NEW`` and the outcome comes on the user stream;
``RESULT`` answers the final state of market and IOC/FOK/GTX orders.  A GTX
order that would take is accepted and expires at once (no error code).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from services.wire import OrderStatus, OrderType, TimeInForce
from venues.emulator.arrival import arrival_ns
from venues.emulator.aster_auth import AsterAuth, SignedRequest
from venues.emulator.aster_conditional import CONDITIONAL_TYPES, Conditional
from venues.emulator.aster_errors import (
    AsterApiError,
    bad_param,
    fault_response,
    missing,
    no_such_order,
    rejection,
    unexpected_response,
    unknown_order_cancel,
)
from venues.emulator.aster_filters import check_filters, check_notional, decimal_param, flag_param
from venues.emulator.aster_format import SIDE_FROM, order_json
from venues.emulator.aster_limits import AsterLimits, budgets, route_weight
from venues.emulator.aster_public import symbol_of
from venues.emulator.aster_state import CLIENT_ORDER_ID, ClientOrderIds, Countdowns, ListenKeys
from venues.emulator.aster_triggers import ConditionalOrders
from venues.emulator.core import EmulatorCore
from venues.emulator.faults import HANG_S
from venues.emulator.records import UINT32_MAX, ZERO, Order, OrderRejected, OrderRequest
from venues.emulator.validation import check_request

MAX_BATCH = 5
RESPONSE_TYPES = ("ACK", "RESULT")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AsterApi:
    def __init__(self, core: EmulatorCore, auth: AsterAuth) -> None:
        self.core = core
        self.auth = auth
        self.client_ids = ClientOrderIds()
        self.listen_keys = ListenKeys()
        self.countdowns = Countdowns()
        weight, orders = budgets(core.config.rate_limit_per_min)
        self.limits = AsterLimits(weight_per_min=weight, orders_per_min=orders)
        self.conditionals = ConditionalOrders(core, self.client_ids)

    def install(self, app: web.Application) -> None:
        routes = app.router
        for prefix in ("/fapi/v1", "/fapi/v3"):
            routes.add_post(f"{prefix}/order", self.place)
            routes.add_get(f"{prefix}/order", self.query)
            routes.add_get(f"{prefix}/openOrder", self.query_open)
            routes.add_delete(f"{prefix}/order", self.cancel)
            routes.add_post(f"{prefix}/batchOrders", self.place_batch)
            routes.add_delete(f"{prefix}/allOpenOrders", self.cancel_all)
            routes.add_get(f"{prefix}/openOrders", self.open_orders)
            routes.add_post(f"{prefix}/countdownCancelAll", self.countdown)
            for method in ("POST", "PUT", "DELETE"):
                routes.add_route(method, f"{prefix}/listenKey", self.listen_key)
        routes.add_post("/fapi/v3/noop", self.noop)

    # ------------------------------------------------------------ middleware

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count venue requests and apply injected latency, freezes and error answers before handling."""
        if not request.path.startswith("/fapi/"):
            return await handler(request)
        self.core.count_request(request.path if request.match_info.http_exception is None else "<unrouted>")
        try:
            weight = self.limits.admit(
                request.remote or "",
                route_weight(request.method, request.path, dict(request.query)),
                self.core.now_ms(),
            )
        except AsterApiError as refused:
            return refused.response()
        spec = self.core.faults.spec
        await self.core.hold(spec.latency_ms / 1000 + self.core.freeze_remaining_s())
        fault = self.core.faults.draw_rest_fault()
        if fault is not None:
            response: web.StreamResponse = fault_response(fault, limit=self.limits.weight_per_min)
        else:
            try:
                response = await handler(request)
            except AsterApiError as error:
                response = error.response()
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(weight)
        return response

    # ------------------------------------------------------------ orders

    def _order_request(self, account_id: str, params: Mapping[str, str]) -> tuple[OrderRequest, str | None]:
        symbol = symbol_of(self.core, params)
        assert symbol is not None
        side = SIDE_FROM.get(params.get("side", ""))
        if side is None:
            raise missing("side") if not params.get("side") else bad_param("Invalid side.", code=-1117)
        kind = params.get("type", "")
        if kind not in ("LIMIT", "MARKET"):
            raise missing("type") if not kind else bad_param("Invalid orderType.", code=-1116)
        if params.get("closePosition", "false").lower() == "true":
            raise bad_param("closePosition is only for STOP_MARKET and TAKE_PROFIT_MARKET.", code=-1106)
        quantity = decimal_param(params, "quantity")
        if quantity is None:
            raise missing("quantity")
        price = decimal_param(params, "price")
        tif = params.get("timeInForce", "")
        if kind == "LIMIT":
            if price is None:
                raise missing("price")
            if not tif:
                raise missing("timeInForce")
            if tif not in ("GTC", "IOC", "FOK", "GTX"):
                raise bad_param("Invalid timeInForce.", code=-1115)
        client_order_id = self._client_order_id(account_id, symbol, params)
        numeric_id = int(client_order_id) if client_order_id and client_order_id.isdigit() else None
        request = OrderRequest(
            symbol=symbol,
            side=side,
            order_type=OrderType.LIMIT if kind == "LIMIT" else OrderType.MARKET,
            quantity=quantity,
            price=price if kind == "LIMIT" else None,
            tif=TimeInForce.IOC if tif in ("IOC", "FOK") else TimeInForce.GTC,
            fill_or_kill=tif == "FOK",
            post_only=tif == "GTX",
            reduce_only=flag_param(params, "reduceOnly"),
            client_id=numeric_id if numeric_id is not None and numeric_id <= UINT32_MAX else None,
        )
        return request, client_order_id

    def _client_order_id(self, account_id: str, symbol: str, params: Mapping[str, str]) -> str | None:
        """``newClientOrderId`` when sent: well-formed and unique among the open orders."""
        client_order_id = params.get("newClientOrderId") or None
        if client_order_id is not None:
            if not CLIENT_ORDER_ID.fullmatch(client_order_id):
                raise bad_param("Client order id is not valid.", code=-4015)
            existing = self.client_ids.order_id(account_id, symbol, client_order_id)
            if existing is not None and (
                self.core.engine.find_open(account_id, symbol, order_id=existing)
                or self.conditionals.find(account_id, symbol, existing)
            ):
                raise AsterApiError(400, -4116, "ClientOrderId is duplicated.")
        return client_order_id

    def _place(
        self, account_id: str, params: Mapping[str, str], *, received_ns: int | None
    ) -> dict[str, Any]:
        response_type = params.get("newOrderRespType") or "ACK"
        if response_type not in RESPONSE_TYPES:
            raise bad_param("Invalid newOrderRespType.", code=-1136)
        if params.get("positionSide", "BOTH") != "BOTH":
            raise AsterApiError(400, -4061, "Order's position side does not match user's setting.")
        if params.get("type") in CONDITIONAL_TYPES:
            symbol = symbol_of(self.core, params)
            side = SIDE_FROM.get(params.get("side", ""))
            assert symbol is not None
            if side is None:
                raise missing("side") if not params.get("side") else bad_param("Invalid side.", code=-1117)
            client_order_id = self._client_order_id(account_id, symbol, params)
            return self.conditionals.place(
                account_id, params, symbol=symbol, side=side, client_order_id=client_order_id
            )
        request, client_order_id = self._order_request(account_id, params)
        now_ms = self.core.now_ms()
        engine = self.core.engine
        try:
            # Tick, step and minimum quantity are judged before the notional, as on the venue.
            check_request(
                request, engine.markets.get(request.symbol), known_account=engine.has_account(account_id)
            )
            check_filters(self.core, request)
            check_notional(self.core, request)
            order, events = engine.place(
                account_id, request, now_ms=now_ms, received_ns=received_ns, post_only_expires=True
            )
        except OrderRejected as error:
            raise rejection(error) from None
        self.client_ids.assign(account_id, order.symbol, order.order_id, client_order_id)
        self.core.publish(events)
        if response_type == "ACK":
            # Acknowledged only: what the matching did is told on the user stream.
            order = dataclasses.replace(
                order, status=OrderStatus.NEW, filled_quantity=ZERO, filled_quote=ZERO
            )
        return self._json(order, now_ms)

    def _json(self, order: Order, now_ms: int) -> dict[str, Any]:
        order_id = order.order_id
        return order_json(
            order,
            client_order_id=self.client_ids.of(order_id),
            update_ms=now_ms,
            orig_type=self.conditionals.original_type(order_id),
        )

    async def place(self, request: web.Request) -> web.Response:
        received_ns = arrival_ns()
        faults = self.core.faults
        if faults.take_hold():
            # Queued at the venue: nothing about it (its nonce included) is looked at yet.
            await self.core.hold(HANG_S)
        signed = await self.auth.signed(request)
        count = self.limits.count_order(request.remote or "", signed.account_id, self.core.now_ms())
        result = self._place(signed.account_id, signed.params, received_ns=received_ns)
        if faults.take_hang():
            await self.core.hold(HANG_S)
        if faults.take_unknown():
            raise unexpected_response()
        return web.json_response(result, headers={"X-MBX-ORDER-COUNT-1M": str(count)})

    async def noop(self, request: web.Request) -> web.Response:
        """Use up the request's nonce and nothing else (a queued request with that nonce then fails)."""
        await self.auth.signed(request)
        return web.json_response({"code": 200, "msg": "success"})

    async def place_batch(self, request: web.Request) -> web.Response:
        signed = await self.auth.signed(request)
        try:
            items = json.loads(signed.params.get("batchOrders") or "")
        except json.JSONDecodeError:
            raise missing("batchOrders") from None
        if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
            raise bad_param(f"batchOrders must hold 1 to {MAX_BATCH} orders.", code=-1130)
        results: list[dict[str, Any]] = []
        remote = request.remote or ""
        for item in items:
            if not isinstance(item, dict):
                results.append(bad_param("Invalid order.").to_body())
                continue
            try:
                params = {key: str(value) for key, value in item.items()}
                self.limits.count_order(remote, signed.account_id, self.core.now_ms())
                results.append(self._place(signed.account_id, params, received_ns=arrival_ns()))
            except AsterApiError as error:
                results.append(error.to_body())
        return web.json_response(results)

    def _find(self, signed: SignedRequest) -> Order | None:
        """The order named by ``orderId`` or ``origClientOrderId``, open or closed."""
        symbol = symbol_of(self.core, signed.params)
        assert symbol is not None
        order_id = signed.params.get("orderId") or None
        client_order_id = signed.params.get("origClientOrderId") or None
        if order_id is None and client_order_id is None:
            raise missing("orderId")
        if order_id is None:
            assert client_order_id is not None
            order_id = self.client_ids.order_id(signed.account_id, symbol, client_order_id)
            if order_id is None:
                return None
        engine = self.core.engine
        if not engine.has_account(signed.account_id):
            return None
        account = engine.account(signed.account_id)
        order = account.open_orders.get(order_id)
        if order is None:
            order = next((o for o in reversed(account.closed_orders) if o.order_id == order_id), None)
        return order if order is not None and order.symbol == symbol else None

    def _waiting(self, signed: SignedRequest) -> Conditional | None:
        """The conditional order named by ``orderId`` or ``origClientOrderId`` while it waits."""
        symbol = symbol_of(self.core, signed.params)
        assert symbol is not None
        order_id = signed.params.get("orderId") or None
        client_order_id = signed.params.get("origClientOrderId") or None
        if order_id is None and client_order_id is not None:
            order_id = self.client_ids.order_id(signed.account_id, symbol, client_order_id)
        return self.conditionals.find(signed.account_id, symbol, order_id) if order_id else None

    async def query(self, request: web.Request) -> web.Response:
        signed = await self.auth.signed(request)
        waiting = self._waiting(signed)
        if waiting is not None:
            return web.json_response(self.conditionals.json(waiting))
        order = self._find(signed)
        if order is None:
            raise no_such_order()
        return web.json_response(self._json(order, self.core.now_ms()))

    async def query_open(self, request: web.Request) -> web.Response:
        """``openOrder``: the order only while it rests (on the book, or waiting for its trigger)."""
        signed = await self.auth.signed(request)
        waiting = self._waiting(signed)
        if waiting is not None:
            return web.json_response(self.conditionals.json(waiting))
        order = self._find(signed)
        if order is None or not order.status.is_open:
            raise no_such_order()
        return web.json_response(self._json(order, self.core.now_ms()))

    async def cancel(self, request: web.Request) -> web.Response:
        signed = await self.auth.signed(request)
        waiting = self._waiting(signed)
        if waiting is not None:
            return web.json_response(self.conditionals.cancel(waiting))
        order = self._find(signed)
        if order is None or not order.status.is_open:
            raise unknown_order_cancel()
        now_ms = self.core.now_ms()
        cancelled, events = self.core.engine.cancel(
            signed.account_id, order.symbol, order_id=order.order_id, now_ms=now_ms
        )
        self.core.publish(events)
        return web.json_response(self._json(cancelled, now_ms))

    async def cancel_all(self, request: web.Request) -> web.Response:
        signed = await self.auth.signed(request)
        symbol = symbol_of(self.core, signed.params)
        assert symbol is not None
        _, events = self.core.engine.cancel_all(signed.account_id, symbol, now_ms=self.core.now_ms())
        self.core.publish(events)
        return web.json_response({"code": 200, "msg": "The operation of cancel all open order is done."})

    async def open_orders(self, request: web.Request) -> web.Response:
        signed = await self.auth.signed(request)
        symbol = symbol_of(self.core, signed.params, required=False)
        now_ms = self.core.now_ms()
        orders = self.core.engine.open_orders(signed.account_id, symbol)
        waiting = self.conditionals.open_json(signed.account_id, symbol)
        return web.json_response([self._json(o, now_ms) for o in orders] + waiting)

    # ------------------------------------------------------------ dead-man switch and user stream

    async def countdown(self, request: web.Request) -> web.Response:
        """Arm (countdownTime ms) or disarm (0) the cancel-all countdown of one symbol."""
        signed = await self.auth.signed(request)
        symbol = symbol_of(self.core, signed.params)
        assert symbol is not None
        raw = signed.params.get("countdownTime")
        if raw is None or not raw.isdigit():
            raise missing("countdownTime")
        self.countdowns.set(signed.account_id, symbol, countdown_ms=int(raw), now_ms=self.core.now_ms())
        return web.json_response({"symbol": symbol, "countdownTime": raw})

    def fire_countdowns(self) -> None:
        """Cancel every open order whose account and symbol's countdown has run out."""
        now_ms = self.core.now_ms()
        for account_id, symbol in self.countdowns.due(now_ms=now_ms):
            if self.core.engine.has_account(account_id):
                _, events = self.core.engine.cancel_all(account_id, symbol, now_ms=now_ms)
                self.core.publish(events)

    async def listen_key(self, request: web.Request) -> web.Response:
        """POST opens (or returns the live) key, PUT keeps it alive, DELETE closes it."""
        if request.path.startswith("/fapi/v3/"):
            account_id = (await self.auth.signed(request)).account_id
        else:
            account_id = self.auth.api_key_account(request)
        now_ms = self.core.now_ms()
        if request.method == "POST":
            return web.json_response({"listenKey": self.listen_keys.open(account_id, now_ms=now_ms)})
        if request.method == "PUT":
            if not self.listen_keys.keep_alive(account_id, now_ms=now_ms):
                raise AsterApiError(400, -1125, "This listenKey does not exist.")
            return web.json_response({})
        self.listen_keys.close(account_id)
        return web.json_response({})
