"""Paradex's order entry over the emulator: signed orders, asynchronous outcomes, cancels, queries.

An accepted order answers 201 with status ``NEW``; what became of it (``OPEN``,
or ``CLOSED`` with a ``cancel_reason``) shows in ``GET /orders/{id}`` and the
``orders`` channel, as on the venue.  A post-only order that would cross, a
reduce-only order that would increase and an order without margin are
accepted and then closed (``POST_ONLY_WOULD_CROSS``,
``REDUCE_ONLY_WOULD_INCREASE``, ``NOT_ENOUGH_MARGIN``); malformed ones, off-tick
or off-step ones and a bad signature are refused at once with 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from itertools import count
from typing import Any

from aiohttp import web

from services.wire import OrderStatus, OrderType, TimeInForce
from venues.emulator.arrival import arrival_ns
from venues.emulator.core import EmulatorCore
from venues.emulator.engine import Engine
from venues.emulator.faults import HANG_S
from venues.emulator.paradex_auth import ApiError, ParadexAuth, validation_error
from venues.emulator.paradex_format import (
    INSTRUCTIONS,
    ORDER_TYPE_FROM,
    SIDE_FROM,
    OrderMeta,
    order_json,
)
from venues.emulator.records import (
    UINT32_MAX,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    RejectDetail,
)
from venues.emulator.records import SelfTradePrevention as Stp
from venues.paradex.signing import order_hash, order_message

SIGNATURE_SKEW_MS = 300_000  # how far an order's signature_timestamp may be from the emulator's clock
MAX_BATCH = 10
MAX_CLIENT_ID_LENGTH = 64
_CLOSED_AT_ONCE = {
    RejectDetail.POST_ONLY_TAKER: "POST_ONLY_WOULD_CROSS",
    RejectDetail.REDUCE_ONLY_NOT_REDUCING: "REDUCE_ONLY_WOULD_INCREASE",
    RejectDetail.INSUFFICIENT_MARGIN: "NOT_ENOUGH_MARGIN",
}
# Told to the orders channel: an order closed at once, with its reason.
Closed = Callable[[Order, OrderMeta, str], None]


def _decimal(body: Mapping[str, Any], name: str) -> Decimal:
    raw = body.get(name)
    if not isinstance(raw, str):
        raise validation_error(f"{name} must be a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise validation_error(f"{name} is not a decimal") from None
    if not value.is_finite() or value < 0:
        raise validation_error(f"{name} must be a finite decimal >= 0")
    return value


class OrderBookKeeper:
    """The Paradex facts about orders that the engine does not keep, reset with the engine."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.meta: dict[str, OrderMeta] = {}
        self.closed_at_once: dict[str, tuple[Order, str]] = {}
        self.seq = count(1)

    def sync(self, engine: Engine) -> None:
        if engine is not self.engine:
            self.engine = engine
            self.meta.clear()
            self.closed_at_once.clear()


class ParadexOrders:
    def __init__(self, core: EmulatorCore, auth: ParadexAuth, *, on_closed: Closed) -> None:
        self.core = core
        self.auth = auth
        self.keeper = OrderBookKeeper()
        self.on_closed = on_closed

    def install(self, app: web.Application) -> None:
        routes = app.router
        routes.add_post("/v1/orders", self.place)
        routes.add_post("/v1/orders/batch", self.place_batch)
        routes.add_delete("/v1/orders/by_client_id/{client_id}", self.cancel_by_client_id)
        routes.add_delete("/v1/orders/{order_id}", self.cancel)
        routes.add_delete("/v1/orders", self.cancel_all)
        routes.add_get("/v1/orders/by_client_id/{client_id}", self.get_by_client_id)
        routes.add_get("/v1/orders/{order_id}", self.get)
        routes.add_get("/v1/orders", self.open_orders)

    @property
    def engine(self) -> Engine:
        self.keeper.sync(self.core.engine)
        return self.core.engine

    def meta(self, order_id: str) -> OrderMeta | None:
        self.keeper.sync(self.core.engine)
        return self.keeper.meta.get(order_id)

    def order_view(self, order: Order, **overrides: Any) -> dict[str, Any]:
        return order_json(order, self.meta(order.order_id), **overrides)

    # ------------------------------------------------------------ placing

    def market(self, raw: Any) -> str:
        if not isinstance(raw, str) or raw not in self.core.profiles:
            raise validation_error(f"market {raw!r} is not listed")
        return raw

    def place_one(self, account: str, body: Any, *, received_ns: int | None) -> dict[str, Any]:
        """Validate, verify and place one order (REST and ``order.create``): the order as ``NEW``."""
        if not isinstance(body, dict):
            raise validation_error("an order must be a JSON object")
        market = self.market(body.get("market"))
        side, order_type = SIDE_FROM.get(str(body.get("side"))), ORDER_TYPE_FROM.get(str(body.get("type")))
        if side is None or order_type is None:
            raise validation_error("side must be BUY or SELL and type LIMIT or MARKET")
        instruction = body.get("instruction") or "GTC"
        flags = body.get("flags") or []
        if instruction not in INSTRUCTIONS:
            raise validation_error(f"instruction must be one of {', '.join(INSTRUCTIONS)}")
        if not isinstance(flags, list) or any(flag != "REDUCE_ONLY" for flag in flags):
            raise validation_error("flags may only hold REDUCE_ONLY")
        client_id = body.get("client_id") or ""
        if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH:
            raise validation_error("client_id must be a string of at most 64 characters")
        size = _decimal(body, "size")
        if order_type is OrderType.MARKET and body.get("price") is not None:
            # The official SDK sends none; the stricter reading of the docs refuses one.
            raise validation_error("a market order takes no price")
        price = _decimal(body, "price") if order_type is OrderType.LIMIT else None
        if size == 0 or (price is not None and price == 0):
            raise validation_error("size and a limit order's price must be positive")
        if order_type is OrderType.MARKET and instruction == "POST_ONLY":
            raise validation_error("a market order cannot be POST_ONLY")
        self._check_signature(account, body, market=market, size=size, price=price)
        if client_id and any(
            meta.client_id == client_id
            for order in self.engine.open_orders(account)
            if (meta := self.meta(order.order_id)) is not None
        ):
            raise ApiError(400, "DUPLICATED_CLIENT_ID", f"an open order already has client_id {client_id}")
        rules = self.core.profiles[market].rules
        reduce_only = "REDUCE_ONLY" in flags
        if price is not None and not reduce_only and rules.min_notional and price * size < rules.min_notional:
            raise validation_error(f"order notional {price * size} is below the minimum {rules.min_notional}")
        request = OrderRequest(
            symbol=market,
            side=side,
            order_type=order_type,
            quantity=size,
            price=price,
            tif=TimeInForce.IOC
            if instruction == "IOC" or order_type is OrderType.MARKET
            else TimeInForce.GTC,
            post_only=instruction == "POST_ONLY",
            reduce_only=reduce_only,
            client_id=int(client_id) if client_id.isdigit() and int(client_id) <= UINT32_MAX else None,
            stp=Stp.REJECT_TAKER,
        )
        now_ms = self.core.now_ms()
        meta = OrderMeta(
            client_id=client_id,
            instruction=instruction,
            signature_ms=int(body["signature_timestamp"]),
            received_ms=now_ms,
            seq_no=next(self.keeper.seq),
        )
        try:
            order, events = self.engine.place(account, request, now_ms=now_ms, received_ns=received_ns)
        except OrderRejected as error:
            reason = _CLOSED_AT_ONCE.get(error.detail)
            if reason is None:
                raise validation_error(str(error)) from None
            return self._close_at_once(account, request, meta, reason, now_ms=now_ms)
        self.keeper.meta[order.order_id] = meta
        self.core.publish(events)
        return order_json(order, meta, status="NEW")

    def _check_signature(
        self, account: str, body: Mapping[str, Any], *, market: str, size: Decimal, price: Decimal | None
    ) -> None:
        stamp = body.get("signature_timestamp")
        if isinstance(stamp, bool) or not isinstance(stamp, int):
            raise validation_error("signature_timestamp must be an integer of milliseconds")
        if abs(self.core.now_ms() - stamp) > SIGNATURE_SKEW_MS:
            raise ApiError(400, "INVALID_TIMESTAMP", "signature_timestamp is too far from the server time")
        try:
            message = order_message(
                timestamp_ms=stamp,
                market=market,
                side=str(body["side"]),
                order_type=str(body["type"]),
                size=size,
                price=price,
            )
        except ValueError:
            raise validation_error("size and price may have at most 8 decimals") from None
        msg_hash = order_hash(self.auth.chain_id, int(account, 16), message)
        self.auth.check_signature(account, msg_hash, body.get("signature"), error="INVALID_ORDER_SIGNATURE")

    def _close_at_once(
        self, account: str, request: OrderRequest, meta: OrderMeta, reason: str, *, now_ms: int
    ) -> dict[str, Any]:
        order = Order(
            order_id=self.engine.ids.order(),
            account_id=account,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            price=request.price,
            quantity=request.quantity,
            quote_quantity=None,
            tif=request.tif,
            fill_or_kill=False,
            post_only=request.post_only,
            reduce_only=request.reduce_only,
            client_id=request.client_id,
            stp=request.stp,
            created_ms=now_ms,
            status=OrderStatus.REJECTED,
        )
        self.keeper.meta[order.order_id] = meta
        self.keeper.closed_at_once[order.order_id] = (order, reason)
        self.on_closed(order, meta, reason)
        return order_json(order, meta, status="NEW")

    async def _body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.text())
        except ValueError:
            raise validation_error("request body is not JSON") from None

    async def place(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        result = self.place_one(account, await self._body(request), received_ns=arrival_ns())
        if self.core.faults.take_hang():
            await self.core.hold(HANG_S)
        return web.json_response(result, status=201)

    async def place_batch(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        body = await self._body(request)
        if not isinstance(body, list) or not 1 <= len(body) <= MAX_BATCH:
            raise validation_error(f"a batch holds 1 to {MAX_BATCH} orders")
        orders: list[dict[str, Any]] = []
        errors: list[dict[str, str] | None] = []
        for item in body:
            try:
                orders.append(self.place_one(account, item, received_ns=arrival_ns()))
                errors.append(None)
            except ApiError as error:
                errors.append(error.to_body())
        return web.json_response({"orders": orders, "errors": errors}, status=201)

    # ------------------------------------------------------------ cancelling

    def _cancel(self, account: str, order: Order) -> None:
        _, events = self.engine.cancel(
            account, order.symbol, order_id=order.order_id, now_ms=self.core.now_ms()
        )
        self.core.publish(events)

    def cancel_open(
        self, account: str, *, order_id: str | None, client_id: str | None, market: str | None
    ) -> Order:
        """Cancel one open order by venue id or client id (REST and ``order.cancel``); a known order
        that is no longer open is 400 ``ORDER_IS_NOT_OPEN``, one never seen 404."""
        if order_id is not None:
            found = next((o for o in self.engine.open_orders(account) if o.order_id == order_id), None)
        else:
            found = self._open_by_client_id(account, str(client_id), market)
        try:
            if found is None:
                raise OrderNotFound(order_id or client_id)
            self._cancel(account, found)
        except OrderNotFound:
            if order_id is not None:
                raise self._not_open(account, order_id) from None
            raise ApiError(
                404, "CLIENT_ORDER_ID_NOT_FOUND", f"no open order with client_id {client_id}"
            ) from None
        return found

    def cancel_status(self, account: str, *, order_id: str | None, client_id: str | None) -> dict[str, Any]:
        """One item of a batch cancel: ``QUEUED_FOR_CANCELLATION``, ``ALREADY_CLOSED`` or ``NOT_FOUND``."""
        for order, _ in reversed(self.history(account)):
            meta = self.meta(order.order_id)
            if order_id is not None and order.order_id != order_id:
                continue
            if order_id is None and (meta is None or meta.client_id != client_id):
                continue
            status = "ALREADY_CLOSED"
            if order.status.is_open and order.order_id not in self.keeper.closed_at_once:
                self._cancel(account, order)
                status = "QUEUED_FOR_CANCELLATION"
            return {
                "id": order.order_id,
                "client_id": meta.client_id if meta else "",
                "account": account,
                "market": order.symbol,
                "status": status,
            }
        return {"id": order_id, "client_id": client_id, "status": "NOT_FOUND"}

    async def cancel(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        self.cancel_open(account, order_id=request.match_info["order_id"], client_id=None, market=None)
        return web.Response(status=204)

    def _not_open(self, account: str, order_id: str) -> ApiError:
        """The venue's refusal to cancel an order that is not open: closed, or never seen."""
        if any(order.order_id == order_id for order, _ in self.history(account)):
            return ApiError(400, "ORDER_IS_NOT_OPEN", f"order {order_id} is not open")
        return ApiError(404, "ORDER_ID_NOT_FOUND", f"order {order_id} not found")

    def _open_by_client_id(self, account: str, client_id: str, market: str | None) -> Order | None:
        for order in reversed(self.engine.open_orders(account)):
            meta = self.meta(order.order_id)
            if meta is not None and meta.client_id == client_id and market in (None, order.symbol):
                return order
        return None

    async def cancel_by_client_id(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        market = self.market(request.query.get("market"))
        self.cancel_open(account, order_id=None, client_id=request.match_info["client_id"], market=market)
        return web.Response(status=204)

    def cancel_every(self, account: str, raw_market: Any) -> None:
        """Cancel the account's open orders on one market, or on all of them when none is named."""
        markets = [self.market(raw_market)] if raw_market is not None else list(self.core.profiles)
        for market in markets:
            _, events = self.engine.cancel_all(account, market, now_ms=self.core.now_ms())
            self.core.publish(events)

    async def cancel_all(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        self.cancel_every(account, request.query.get("market"))
        return web.Response(status=204)

    # ------------------------------------------------------------ queries

    def history(self, account: str) -> list[tuple[Order, str]]:
        """Every order of the account, oldest first, with its cancel reason override."""
        engine = self.engine
        known = [(order, "") for order in engine.account(account).closed_orders]
        known += [(order, "") for order in engine.open_orders(account)]
        known += [pair for pair in self.keeper.closed_at_once.values() if pair[0].account_id == account]
        known.sort(key=lambda pair: int(pair[0].order_id))
        return known

    def view(self, order: Order, reason: str) -> dict[str, Any]:
        return self.order_view(order, status="CLOSED", reason=reason) if reason else self.order_view(order)

    async def get(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        order_id = request.match_info["order_id"]
        for order, reason in reversed(self.history(account)):
            if order.order_id == order_id:
                return web.json_response(self.view(order, reason))
        raise ApiError(404, "ORDER_ID_NOT_FOUND", f"order {order_id} not found")

    async def get_by_client_id(self, request: web.Request) -> web.Response:
        """Open orders only, as documented: a filled, cancelled or refused order is not found here."""
        account = self.auth.account_of(request)
        client_id = request.match_info["client_id"]
        found = self._open_by_client_id(account, client_id, request.query.get("market"))
        if found is None:
            raise ApiError(404, "CLIENT_ORDER_ID_NOT_FOUND", f"no open order with client_id {client_id}")
        return web.json_response(self.order_view(found))

    async def open_orders(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        raw = request.query.get("market")
        market = self.market(raw) if raw is not None else None
        orders = self.engine.open_orders(account, market)
        return web.json_response({"results": [self.order_view(order) for order in orders]})
