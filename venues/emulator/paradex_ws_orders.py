"""Paradex's order methods over the JSON-RPC WebSocket, and its connection-scoped cancel-on-disconnect.

``order.create`` takes the ``POST /orders`` body as params and answers
``{"order": <the order, NEW>, "created_at", "received_at"}``; ``order.cancel``
takes ``{"id"}`` or ``{"client_id", "market"}`` and answers ``{"order_id",
"status": "QUEUED_FOR_CANCELLATION"}``; ``order.cancel_batch`` takes
``{"order_ids": [...], "client_order_ids": [...]}`` and answers ``{"results":
[...]}``, one item per id (``QUEUED_FOR_CANCELLATION``, ``ALREADY_CLOSED`` or
``NOT_FOUND``), as ``DELETE /orders/batch`` does; ``order.cancel_all`` takes
``{"market"}`` (optional) and answers ``{"status": "ok"}``.  They run the REST
code: the same signature checks, validation and per-account rate limits (the
venue documents shared counters) and the same injected faults: latency and a
freeze delay the answer, a drawn rate limit or 5xx answers instead of acting
(a 5xx as -32603, an internal error), and ``hang_after_execute`` places the
order and never answers.  A refusal is a JSON-RPC error with code 100 (the
docs' "method error"), the REST error name as ``message`` and its text as
``data``.

Cancel-on-disconnect (docs.paradex.trade, ``order.cancel_on_disconnect``): off
on every new connection; once enabled it covers the orders placed over *that*
connection only (REST orders and other connections' orders are never touched)
and fires when the connection is lost without a close handshake from the
client (a killed process, a lost network, a server-side drop), never on the
client's clean close.  It does not survive a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from venues.emulator.arrival import arrival_ns
from venues.emulator.core import EmulatorCore
from venues.emulator.faults import RestFault
from venues.emulator.paradex_auth import ApiError, ParadexAuth, validation_error
from venues.emulator.paradex_orders import MAX_BATCH, ParadexOrders
from venues.emulator.records import OrderNotFound

log = logging.getLogger(__name__)
METHOD_ERROR = 100
NOT_AUTHENTICATED = 40110
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
METHODS = frozenset(
    {"order.create", "order.cancel", "order.cancel_batch", "order.cancel_all", "order.cancel_on_disconnect"}
)


class RpcError(Exception):
    """A JSON-RPC error answer: ``{"code", "message", "data"}``."""

    def __init__(self, code: int, message: str, data: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data:
            body["data"] = self.data
        return body


@dataclass(slots=True)
class OrderScope:
    """One connection's order state: its account, whether its switch is armed, what it placed."""

    account: str | None = None
    cancel_on_disconnect: bool = False
    placed: set[str] = field(default_factory=set)


class NoAnswer(Exception):
    """The request was carried out and is deliberately left unanswered (the hang fault)."""


class WsOrders:
    """The order methods and the switch for every connection of the Paradex front end."""

    def __init__(self, core: EmulatorCore, *, auth: ParadexAuth, orders: ParadexOrders) -> None:
        self.core = core
        self.auth = auth
        self.orders = orders
        self.fired = 0  # connections whose switch fired (tests read it)
        # Cancels an untriggered conditional order by (account, id); set by the front end.
        self.cancel_untriggered: Callable[[str, str], bool] = lambda account, order_id: False
        self._later: set[asyncio.Task[None]] = set()

    def handle(
        self,
        scope: OrderScope,
        send: Callable[[dict[str, Any]], bool],
        request_id: Any,
        method: str,
        params: dict[str, Any],
    ) -> None:
        """Answer one order method with ``send``: at once, or after the injected latency or freeze."""
        delay_s = self.core.faults.spec.latency_ms / 1000 + self.core.freeze_remaining_s()
        if delay_s <= 0:
            self._answer(scope, send, request_id, method, params)
            return

        async def later() -> None:
            await self.core.hold(delay_s)
            self._answer(scope, send, request_id, method, params)

        task = asyncio.create_task(later(), name=f"paradex-{method}")
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def _answer(
        self,
        scope: OrderScope,
        send: Callable[[dict[str, Any]], bool],
        request_id: Any,
        method: str,
        params: dict[str, Any],
    ) -> None:
        try:
            result = self.call(scope, method, params)
        except RpcError as error:
            send({"jsonrpc": "2.0", "id": request_id, "error": error.to_body()})
        except NoAnswer:
            log.info("paradex %s (id %s) carried out, left unanswered (hang fault)", method, request_id)
        else:
            now_us = time.time_ns() // 1000
            send({"jsonrpc": "2.0", "id": request_id, "result": result, "usIn": now_us, "usDiff": 0})

    async def close(self) -> None:
        for task in list(self._later):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def call(self, scope: OrderScope, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one order method for the connection of ``scope``; ``RpcError`` or ``NoAnswer`` otherwise."""
        account = scope.account
        if account is None:
            raise RpcError(NOT_AUTHENTICATED, "not authenticated")
        if method == "order.cancel_on_disconnect":
            enabled = params.get("enabled")
            if not isinstance(enabled, bool):
                raise RpcError(INVALID_PARAMS, "Invalid params: enabled must be a boolean")
            scope.cancel_on_disconnect = enabled
            return {"enabled": enabled}
        fault = self.core.faults.draw_rest_fault()
        if fault is RestFault.RATE_LIMITED:
            raise RpcError(METHOD_ERROR, "RATE_LIMIT_EXCEEDED", "rate limit exceeded")
        if fault is not None:
            raise RpcError(INTERNAL_ERROR, "Internal error", f"injected {fault.value} fault")
        try:
            self.auth.charge(account, read=False)
            if method == "order.create":
                return self._create(scope, account, params)
            if method == "order.cancel":
                return self._cancel(account, params)
            if method == "order.cancel_batch":
                return self._cancel_batch(account, params)
            return self._cancel_all(account, params)
        except ApiError as error:
            raise RpcError(METHOD_ERROR, error.error, error.message) from None

    def _create(self, scope: OrderScope, account: str, params: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.place_one(account, params, received_ns=arrival_ns())
        scope.placed.add(str(order["id"]))
        if self.core.faults.take_hang():
            raise NoAnswer
        return {"order": order, "created_at": order["created_at"], "received_at": order["received_at"]}

    def _cancel(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        order_id, client_id = params.get("id"), params.get("client_id")
        if isinstance(order_id, str) and order_id:
            if self.cancel_untriggered(account, order_id):
                return {"order_id": order_id, "status": "QUEUED_FOR_CANCELLATION"}
            found = self.orders.cancel_open(account, order_id=order_id, client_id=None, market=None)
        elif isinstance(client_id, str) and client_id:
            market = self.orders.market(params.get("market"))
            found = self.orders.cancel_open(account, order_id=None, client_id=client_id, market=market)
        else:
            raise validation_error("give id, or client_id and market")
        return {"order_id": found.order_id, "status": "QUEUED_FOR_CANCELLATION"}

    def _cancel_batch(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        order_ids, client_ids = params.get("order_ids") or [], params.get("client_order_ids") or []
        valid = isinstance(order_ids, list) and isinstance(client_ids, list)
        if not valid or not all(isinstance(i, str) and i for i in [*order_ids, *client_ids]):
            raise validation_error("order_ids and client_order_ids must be lists of strings")
        if not 1 <= len(order_ids) + len(client_ids) <= MAX_BATCH:
            raise validation_error(f"a batch cancels 1 to {MAX_BATCH} orders")
        results = [self.orders.cancel_status(account, order_id=i, client_id=None) for i in order_ids]
        results += [self.orders.cancel_status(account, order_id=None, client_id=i) for i in client_ids]
        return {"results": results}

    def _cancel_all(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        self.orders.cancel_every(account, params.get("market"))
        return {"status": "ok"}

    def on_lost(self, scope: OrderScope, *, clean: bool) -> int:
        """The connection is gone: an armed switch cancels what it placed unless the client closed cleanly."""
        account = scope.account
        if clean or not scope.cancel_on_disconnect or account is None:
            return 0
        engine = self.core.engine
        if not engine.has_account(account):
            return 0
        self.fired += 1
        cancelled = 0
        for order in engine.open_orders(account):
            if order.order_id not in scope.placed:
                continue
            try:
                _, events = engine.cancel(
                    account, order.symbol, order_id=order.order_id, now_ms=self.core.now_ms()
                )
            except OrderNotFound:
                continue
            cancelled += 1
            self.core.publish(events)
        log.info("cancel-on-disconnect fired: cancelled %d order(s) placed over the connection", cancelled)
        return cancelled
