"""Paradex's account endpoints over the emulator: positions, balance, account, margin configuration,
fills, funding payments and order history.

``GET /account/margin?market=`` gives the account's leverage on the market
(cross margin, the engine's leverage); ``GET /orders-history`` lists every
order of the account, open or closed, filtered by ``client_id``, ``market``
and ``status``: the one lookup that finds a filled or refused order by its
client id (``/orders/by_client_id`` sees open orders only).

History lists are newest first and paged with ``page_size`` and an opaque
``cursor`` (the answer's ``next``; null on the last page), filtered by
``market`` and ``start_at``/``end_at`` in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web

from venues.emulator.core import EmulatorCore
from venues.emulator.paradex_auth import ParadexAuth, validation_error
from venues.emulator.paradex_format import fill_json, funding_json, money, position_json
from venues.emulator.paradex_orders import ParadexOrders

MAX_PAGE_SIZE = 5000
T = TypeVar("T")


def _query_int(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise validation_error(f"{name} must be between {low} and {high}")
    return value


def page(request: web.Request, rows: Sequence[T], *, ts_ms: Callable[[T], int]) -> tuple[list[T], str | None]:
    """Filter by ``start_at``/``end_at``, newest first, one page from ``cursor``; and the next cursor."""
    start_ms = _query_int(request, "start_at", default=0, low=0, high=2**62)
    end_ms = _query_int(request, "end_at", default=2**62, low=0, high=2**62)
    size = _query_int(request, "page_size", default=100, low=1, high=MAX_PAGE_SIZE)
    offset = _query_int(request, "cursor", default=0, low=0, high=2**62)
    chosen = [row for row in rows if start_ms <= ts_ms(row) <= end_ms]
    chosen.reverse()
    end = offset + size
    return chosen[offset:end], (str(end) if end < len(chosen) else None)


class ParadexAccount:
    def __init__(self, core: EmulatorCore, auth: ParadexAuth, orders: ParadexOrders) -> None:
        self.core = core
        self.auth = auth
        self.orders = orders

    def install(self, app: web.Application) -> None:
        routes = app.router
        routes.add_get("/v1/positions", self.positions)
        routes.add_get("/v1/balance", self.balance)
        routes.add_get("/v1/account", self.account)
        routes.add_get("/v1/fills", self.fills)
        routes.add_get("/v1/funding/payments", self.funding_payments)
        routes.add_get("/v1/account/margin", self.margin_config)
        routes.add_get("/v1/orders-history", self.orders_history)

    def _market(self, request: web.Request) -> str | None:
        raw = request.query.get("market")
        if raw is not None and raw not in self.core.profiles:
            raise validation_error(f"market {raw!r} is not listed")
        return raw

    def position_rows(self, account: str) -> list[dict[str, Any]]:
        now_ms = self.core.now_ms()
        return [
            position_json(view, account=account, now_ms=now_ms, seq_no=now_ms)
            for view in self.core.engine.positions(account)
        ]

    async def positions(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        return web.json_response({"results": self.position_rows(account)})

    async def balance(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        collateral = self.core.engine.account(account).collateral
        row = {"token": "USDC", "size": money(collateral), "last_updated_at": self.core.now_ms()}
        return web.json_response({"results": [row]})

    async def account(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        engine = self.core.engine
        margin = engine.margin(account)
        maintenance = margin.position_notional * engine.maintenance_margin_fraction
        return web.json_response(
            {
                "account": account,
                "account_value": money(margin.equity),
                "total_collateral": money(margin.collateral),
                "free_collateral": money(max(margin.available, Decimal(0))),
                "initial_margin_requirement": money(margin.initial_margin),
                "maintenance_margin_requirement": money(maintenance),
                "margin_cushion": money(margin.equity - maintenance),
                "settlement_asset": "USDC",
                "status": "ACTIVE",
                "seq_no": self.core.now_ms(),
                "updated_at": self.core.now_ms(),
            }
        )

    async def fills(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        market = self._market(request)
        rows = [f for f in self.core.engine.account(account).fills if market in (None, f.symbol)]
        chosen, cursor = page(request, rows, ts_ms=lambda f: f.ts_ms)
        results = []
        for fill in chosen:
            meta = self.orders.meta(fill.order_id)
            client_id = (
                meta.client_id if meta else (str(fill.client_id) if fill.client_id is not None else "")
            )
            results.append(fill_json(fill, client_id=client_id))
        return web.json_response({"next": cursor, "prev": None, "results": results})

    async def funding_payments(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        market = self._market(request)
        rows = [r for r in self.core.engine.account(account).funding_rows if market in (None, r.symbol)]
        chosen, cursor = page(request, rows, ts_ms=lambda r: r.interval_end_ms)
        results = [funding_json(row, account=account) for row in chosen]
        return web.json_response({"next": cursor, "prev": None, "results": results})

    async def margin_config(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        market = self._market(request)
        if market is None:
            raise validation_error("market is required")
        leverage = int(self.core.engine.leverage)
        config = {
            "market": market,
            "leverage": leverage,
            "margin_type": "CROSS",
            "isolated_margin_leverage": leverage,
        }
        return web.json_response(
            {"account": account, "margin_methodology": "cross_margin", "configs": [config]}
        )

    async def orders_history(self, request: web.Request) -> web.Response:
        account = self.auth.account_of(request)
        market = self._market(request)
        client_id = request.query.get("client_id")
        status = request.query.get("status")
        rows = []
        for order, reason in self.orders.history(account):
            meta = self.orders.meta(order.order_id)
            if market not in (None, order.symbol):
                continue
            if client_id is not None and (meta is None or meta.client_id != client_id):
                continue
            view = self.orders.view(order, reason)
            if status in (None, view["status"]):
                rows.append(view)
        chosen, cursor = page(request, rows, ts_ms=lambda row: int(row["created_at"]))
        return web.json_response({"next": cursor, "prev": None, "results": chosen})
