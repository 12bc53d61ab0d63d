"""Paradex's whole protocol over the emulator core: REST under ``/v1``, JWT auth and the JSON-RPC stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from venues.emulator.core import EmulatorCore
from venues.emulator.faults import RestFault
from venues.emulator.paradex_account import ParadexAccount
from venues.emulator.paradex_auth import ApiError, ParadexAuth
from venues.emulator.paradex_format import OrderMeta
from venues.emulator.paradex_orders import ParadexOrders
from venues.emulator.paradex_public import ParadexPublic
from venues.emulator.paradex_triggers import ParadexTriggers
from venues.emulator.paradex_ws import ParadexStreams
from venues.emulator.records import Order

DEFAULT_JWT_LIFETIME_S = 300.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_response(fault: RestFault) -> web.Response:
    if fault is RestFault.RATE_LIMITED:
        return ApiError(429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded", retry_after_s=1).response()
    if fault is RestFault.UNAVAILABLE:
        return ApiError(503, "SERVICE_UNAVAILABLE", "service unavailable").response()
    return ApiError(500, "INTERNAL_ERROR", "internal server error").response()


class ParadexFrontEnd:
    def __init__(self, core: EmulatorCore, *, jwt_lifetime_s: float = DEFAULT_JWT_LIFETIME_S) -> None:
        self.core = core
        self.auth = ParadexAuth(core, jwt_lifetime_s=jwt_lifetime_s)
        self.public = ParadexPublic(core)
        self.orders = ParadexOrders(core, self.auth, on_closed=self._on_closed)
        self.account = ParadexAccount(core, self.auth, self.orders)
        self.streams = ParadexStreams(
            core, auth=self.auth, public=self.public, orders=self.orders, account=self.account
        )
        self.triggers = ParadexTriggers(core, self.auth, self.orders, notify=self._notify)
        self.streams.ws_orders.cancel_untriggered = self.triggers.cancel
        self.middleware = self._middleware

    def _on_closed(self, order: Order, meta: OrderMeta, reason: str) -> None:
        self.streams.on_closed(order, meta, reason)

    def _notify(self, order: Order, meta: OrderMeta, status: str, reason: str) -> None:
        """A conditional order's state on the ``orders`` channel (placed, untriggered, cancelled)."""
        self.streams._order_message(order, meta, status, reason)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/v1", self.streams.handle)
        app.router.add_post("/v1/auth", self.auth.auth)
        self.public.install(app)
        self.orders.install(app)
        self.account.install(app)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count venue requests, apply injected latency, freezes and error answers, render errors."""
        if request.path.startswith("/_emulator") or request.path == "/v1":
            return await handler(request)
        self.core.count_request(
            request.path if request.match_info.http_exception is None else "<unrouted>", request.method
        )
        spec = self.core.faults.spec
        await self.core.hold(spec.latency_ms / 1000 + self.core.freeze_remaining_s())
        fault = self.core.faults.draw_rest_fault()
        if fault is not None:
            return fault_response(fault)
        try:
            return await self.triggers.route(request, handler)
        except ApiError as error:
            return error.response()

    def drop_connections(self) -> None:
        self.streams.drop_connections()

    async def close(self) -> None:
        await self.streams.close()
