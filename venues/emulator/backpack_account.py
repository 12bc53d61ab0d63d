"""Backpack's account endpoints over the emulator: positions, capital, collateral, account, history."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.wire import Side
from venues.emulator.accounts import estimated_liquidation_price
from venues.emulator.backpack_auth import Authenticator, optional_symbol
from venues.emulator.backpack_errors import ApiError, invalid_request
from venues.emulator.backpack_format import (
    fill_json,
    funding_json,
    iso_ms,
    money,
    order_history_json,
    position_fields,
    trigger_json,
)
from venues.emulator.backpack_public import MAX_HISTORY_LIMIT, query_int
from venues.emulator.backpack_trigger_desk import TriggerDesk
from venues.emulator.core import EmulatorCore
from venues.precision import fmt


class BackpackAccount:
    def __init__(self, core: EmulatorCore, auth: Authenticator, triggers: TriggerDesk) -> None:
        self.core = core
        self.auth = auth
        self.triggers = triggers
        self._user_ids = {spec.api_key: number for number, spec in enumerate(core.config.accounts, start=1)}

    def install(self, app: web.Application) -> None:
        routes = app.router
        routes.add_get("/api/v1/position", self.positions)
        routes.add_get("/api/v1/capital", self.capital)
        routes.add_get("/api/v1/capital/collateral", self.collateral)
        routes.add_get("/api/v1/account", self.account)
        routes.add_get("/wapi/v1/history/fills", self.fill_history)
        routes.add_get("/wapi/v1/history/funding", self.funding_history)
        routes.add_get("/wapi/v1/history/orders", self.order_history)

    def position_json(self, api_key: str, symbol: str) -> dict[str, Any]:
        """A position as ``GET /api/v1/position`` lists it (its fields also feed the position stream)."""
        engine = self.core.engine
        position = engine.position(api_key, symbol)
        margin = engine.margin(api_key)
        buys = sum(
            (o.remaining for o in engine.open_orders(api_key, symbol) if o.side is Side.BUY), Decimal(0)
        )
        sells = sum(
            (o.remaining for o in engine.open_orders(api_key, symbol) if o.side is Side.SELL), Decimal(0)
        )
        exposure = max(position.quantity + buys, position.quantity - sells, key=abs)
        liquidation = estimated_liquidation_price(
            position.quantity,
            position.entry_price,
            other_equity=margin.equity - position.unrealized_pnl,
            maintenance_fraction=engine.maintenance_margin_fraction,
        )
        tick = self.core.profiles[symbol].rules.tick_size
        fields = position_fields(
            position,
            imf=engine.initial_margin_fraction,
            mmf=engine.maintenance_margin_fraction,
            exposure_quantity=exposure,
            liquidation=liquidation.quantize(tick),
        )
        margin_function = {"type": "sqrt", "factor": "0"}
        return fields | {
            "imfFunction": margin_function | {"base": fields["imf"]},
            "mmfFunction": margin_function | {"base": fields["mmf"]},
            "netCost": money(position.quantity * position.entry_price),
            "cumulativeInterest": "0",
            "subaccountId": None,
            "userId": self._user_ids.get(api_key, 0),
        }

    async def positions(self, request: web.Request) -> web.Response:
        """Open (non-flat) positions; none (for ``symbol``, when given) is a 404 "Position not found"."""
        api_key, params = await self.auth.signed(request, "positionQuery")
        only = optional_symbol(self.core, params)
        rows = [
            self.position_json(api_key, p.symbol)
            for p in self.core.engine.positions(api_key)
            if p.quantity != 0 and (only is None or p.symbol == only)
        ]
        if not rows:
            raise ApiError(404, "RESOURCE_NOT_FOUND", "Position not found")
        return web.json_response(rows)

    async def capital(self, request: web.Request) -> web.Response:
        api_key, _ = await self.auth.signed(request, "balanceQuery")
        margin = self.core.engine.margin(api_key)
        available = max(margin.collateral - margin.initial_margin, Decimal(0))
        locked = margin.collateral - available
        return web.json_response(
            {"USDC": {"available": money(available), "locked": money(locked), "staked": "0"}}
        )

    async def collateral(self, request: web.Request) -> web.Response:
        api_key, _ = await self.auth.signed(request, "collateralQuery")
        engine = self.core.engine
        margin = engine.margin(api_key)
        fraction = margin.margin_fraction
        held = money(margin.collateral)
        return web.json_response(
            {
                "assetsValue": held,
                "borrowLiability": "0",
                "collateral": [
                    {
                        "symbol": "USDC",
                        "assetMarkPrice": "1",
                        "totalQuantity": held,
                        "balanceNotional": held,
                        "collateralWeight": "1",
                        "collateralValue": held,
                        "openOrderQuantity": "0",
                        "lendQuantity": "0",
                        "availableQuantity": held,
                    }
                ],
                "imf": fmt(engine.initial_margin_fraction),
                "mmf": fmt(engine.maintenance_margin_fraction),
                "unsettledEquity": money(margin.unrealized_pnl),
                "liabilitiesValue": "0",
                "marginFraction": fmt(fraction.quantize(Decimal("1e-8"))) if fraction is not None else None,
                "netEquity": money(margin.equity),
                "netEquityAvailable": money(margin.available),
                "netEquityLocked": money(margin.initial_margin),
                "netExposureFutures": money(margin.position_notional),
                "pnlUnrealized": money(margin.unrealized_pnl),
            }
        )

    async def account(self, request: web.Request) -> web.Response:
        api_key, _ = await self.auth.signed(request, "accountQuery")
        fees = self.core.config.fees
        maker, taker = fmt(fees.maker_bps), fmt(fees.taker_bps)
        return web.json_response(
            {
                "autoBorrowSettlements": True,
                "autoLend": False,
                "autoRealizePnl": True,
                "autoRepayBorrows": True,
                "borrowLimit": "0",
                "futuresMakerFee": maker,
                "futuresTakerFee": taker,
                "makerFee": maker,
                "takerFee": taker,
                "spotMakerFee": maker,
                "spotTakerFee": taker,
                "leverageLimit": fmt(self.core.engine.leverage),
                "limitOrders": len(self.core.engine.open_orders(api_key)),
                "liquidating": False,
                "positionLimit": None,
                "triggerOrders": len(self.triggers.open(api_key, None)),
            }
        )

    # ------------------------------------------------------------ history

    def _page(self, request: web.Request, rows: list[Any], *, key: Callable[[Any], int]) -> list[Any]:
        """Sort (``sortDirection`` Desc by default: newest first) and cut a ``limit``/``offset`` page."""
        direction = request.query.get("sortDirection", "Desc")
        if direction not in ("Asc", "Desc"):
            raise invalid_request("Invalid sortDirection")
        limit = query_int(request, "limit", default=100, low=1, high=MAX_HISTORY_LIMIT)
        offset = query_int(request, "offset", default=0, low=0, high=10**9)
        rows = sorted(rows, key=key, reverse=direction == "Desc")
        return rows[offset : offset + limit]

    async def fill_history(self, request: web.Request) -> web.Response:
        api_key, params = await self.auth.signed(request, "fillHistoryQueryAll")
        symbol = optional_symbol(self.core, params)
        order_id = params.get("orderId")
        start_ms = query_int(request, "from", default=0, low=0, high=2**62)
        end_ms = query_int(request, "to", default=2**62, low=0, high=2**62)
        rows = [
            f
            for f in self.core.engine.account(api_key).fills
            if (symbol is None or f.symbol == symbol)
            and (order_id is None or f.order_id == order_id)
            and start_ms <= f.ts_ms <= end_ms
        ]
        zero = self.core.faults.spec.zero_trade_ids
        page = self._page(request, rows, key=lambda f: f.trade_id)
        return web.json_response([fill_json(f, zero_trade_id=zero) for f in page])

    async def funding_history(self, request: web.Request) -> web.Response:
        api_key, params = await self.auth.signed(request, "fundingHistoryQueryAll")
        symbol = optional_symbol(self.core, params)
        rows = [
            r for r in self.core.engine.account(api_key).funding_rows if symbol is None or r.symbol == symbol
        ]
        user_id = self._user_ids.get(api_key, 0)
        page = self._page(request, rows, key=lambda r: r.interval_end_ms)
        return web.json_response([funding_json(r, user_id=user_id) for r in page])

    async def order_history(self, request: web.Request) -> web.Response:
        """Orders that were placed, trigger orders included (their status ``Triggered`` once fired)."""
        api_key, params = await self.auth.signed(request, "orderHistoryQueryAll")
        symbol = optional_symbol(self.core, params)
        order_id = params.get("orderId")
        account = self.core.engine.account(api_key)
        rows = [
            order_history_json(o)
            for o in [*account.closed_orders, *account.open_orders.values()]
            if (symbol is None or o.symbol == symbol) and (order_id is None or o.order_id == order_id)
        ]
        rows += [
            trigger_json(t) | {"createdAt": iso_ms(t.created_ms), "expiryReason": None}
            for t in self.triggers.book.all(api_key, symbol)
            if order_id is None or t.order_id == order_id
        ]
        return web.json_response(self._page(request, rows, key=lambda row: int(row["id"])))
