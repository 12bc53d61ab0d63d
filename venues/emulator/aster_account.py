"""Aster's account endpoints over the emulator: positions, balance, account, trades, income, position mode."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from venues.emulator.accounts import estimated_liquidation_price
from venues.emulator.aster_auth import AsterAuth
from venues.emulator.aster_errors import bad_param
from venues.emulator.aster_format import QUOTE_ASSET, income_json, money, position_json, trade_json
from venues.emulator.aster_public import query_int, symbol_of
from venues.emulator.core import EmulatorCore
from venues.precision import fmt

MAX_TRADES = 1000
MAX_INCOME = 1000


class AsterAccount:
    def __init__(self, core: EmulatorCore, auth: AsterAuth) -> None:
        self.core = core
        self.auth = auth

    def install(self, app: web.Application) -> None:
        routes = app.router
        # Account information as the current docs name it: v4 for v1 keys (v2 is gone), and
        # accountWithJoinMargin for v3 (its old name, /fapi/v3/account, was renamed).
        routes.add_get("/fapi/v4/account", self.account)
        routes.add_get("/fapi/v3/accountWithJoinMargin", self.account)
        for generation in ("v1", "v3"):
            account_version = "v2" if generation == "v1" else "v3"
            routes.add_get(f"/fapi/{account_version}/positionRisk", self.position_risk)
            routes.add_get(f"/fapi/{account_version}/balance", self.balance)
            routes.add_get(f"/fapi/{generation}/userTrades", self.user_trades)
            routes.add_get(f"/fapi/{generation}/income", self.income)
            routes.add_get(f"/fapi/{generation}/positionSide/dual", self.position_mode)

    def position_row(self, account_id: str, symbol: str) -> dict[str, Any]:
        engine = self.core.engine
        view = engine.position(account_id, symbol)
        margin = engine.margin(account_id)
        liquidation = estimated_liquidation_price(
            view.quantity,
            view.entry_price,
            other_equity=margin.equity - view.unrealized_pnl,
            maintenance_fraction=engine.maintenance_margin_fraction,
        )
        tick = self.core.profiles[symbol].rules.tick_size
        return position_json(
            view,
            leverage=engine.leverage,
            liquidation=liquidation.quantize(tick),
            update_ms=self.core.now_ms(),
        )

    async def position_risk(self, request: web.Request) -> web.Response:
        """One ``BOTH`` row per listed symbol (flat ones included, as the venue lists them)."""
        signed = await self.auth.signed(request)
        only = symbol_of(self.core, signed.params, required=False)
        symbols = [only] if only is not None else list(self.core.profiles)
        return web.json_response([self.position_row(signed.account_id, s) for s in symbols])

    def _balances(self, account_id: str) -> dict[str, Any]:
        margin = self.core.engine.margin(account_id)
        available = max(margin.available, Decimal(0))
        return {
            "accountAlias": "emulator",
            "asset": QUOTE_ASSET,
            "balance": money(margin.collateral),
            "crossWalletBalance": money(margin.collateral),
            "crossUnPnl": money(margin.unrealized_pnl),
            "availableBalance": money(available),
            "maxWithdrawAmount": money(available),
            "marginAvailable": True,
            "updateTime": self.core.now_ms(),
        }

    async def balance(self, request: web.Request) -> web.Response:
        signed = await self.auth.signed(request)
        return web.json_response([self._balances(signed.account_id)])

    async def account(self, request: web.Request) -> web.Response:
        signed = await self.auth.signed(request)
        engine = self.core.engine
        margin = engine.margin(signed.account_id)
        balances = self._balances(signed.account_id)
        positions = [self.position_row(signed.account_id, s) for s in self.core.profiles]
        maintenance = margin.position_notional * engine.maintenance_margin_fraction
        fees = self.core.config.fees
        return web.json_response(
            {
                "feeTier": 0,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "updateTime": 0,
                "totalInitialMargin": money(margin.initial_margin),
                "totalMaintMargin": money(maintenance),
                "totalWalletBalance": money(margin.collateral),
                "totalUnrealizedProfit": money(margin.unrealized_pnl),
                "totalMarginBalance": money(margin.equity),
                "totalPositionInitialMargin": money(margin.initial_margin),
                "totalOpenOrderInitialMargin": "0",
                "totalCrossWalletBalance": money(margin.collateral),
                "totalCrossUnPnl": money(margin.unrealized_pnl),
                "availableBalance": balances["availableBalance"],
                "maxWithdrawAmount": balances["maxWithdrawAmount"],
                "makerCommissionRate": fmt(fees.maker_bps / 10_000),
                "takerCommissionRate": fmt(fees.taker_bps / 10_000),
                "assets": [
                    {
                        "asset": QUOTE_ASSET,
                        "walletBalance": balances["balance"],
                        "unrealizedProfit": money(margin.unrealized_pnl),
                        "marginBalance": money(margin.equity),
                        "maintMargin": money(maintenance),
                        "initialMargin": money(margin.initial_margin),
                        "availableBalance": balances["availableBalance"],
                        "maxWithdrawAmount": balances["maxWithdrawAmount"],
                        "marginAvailable": True,
                        "updateTime": self.core.now_ms(),
                    }
                ],
                "positions": positions,
            }
        )

    async def user_trades(self, request: web.Request) -> web.Response:
        """Trades oldest first: from ``fromId``, else within ``startTime``/``endTime``, else the newest."""
        signed = await self.auth.signed(request)
        symbol = symbol_of(self.core, signed.params)
        assert symbol is not None
        limit = query_int(request, "limit", default=500, low=1, high=MAX_TRADES)
        from_id = _int(signed.params, "fromId")
        start_ms, end_ms = _int(signed.params, "startTime"), _int(signed.params, "endTime")
        rows = [f for f in self.core.engine.account(signed.account_id).fills if f.symbol == symbol]
        if from_id is not None:
            rows = [f for f in rows if f.trade_id >= from_id][:limit]
        elif start_ms is not None or end_ms is not None:
            low, high = start_ms or 0, end_ms or 2**62
            rows = [f for f in rows if low <= f.ts_ms <= high][:limit]
        else:
            rows = rows[-limit:]
        return web.json_response([trade_json(f) for f in rows])

    async def income(self, request: web.Request) -> web.Response:
        """Funding income oldest first within ``startTime``/``endTime`` (other income types: none here)."""
        signed = await self.auth.signed(request)
        symbol = symbol_of(self.core, signed.params, required=False)
        kind = signed.params.get("incomeType")
        limit = query_int(request, "limit", default=100, low=1, high=MAX_INCOME)
        start_ms, end_ms = _int(signed.params, "startTime"), _int(signed.params, "endTime")
        if kind not in (None, "", "FUNDING_FEE"):
            return web.json_response([])
        low, high = start_ms or 0, end_ms or 2**62
        picked = [
            r
            for r in self.core.engine.account(signed.account_id).funding_rows
            if (symbol is None or r.symbol == symbol) and low <= r.interval_end_ms <= high
        ]
        picked = picked[:limit] if start_ms is not None else picked[-limit:]
        # A stable id per settlement: the interval end and the market's place in the listing.
        order = list(self.core.profiles)
        return web.json_response(
            [income_json(r, tran_id=r.interval_end_ms * 100 + order.index(r.symbol)) for r in picked]
        )

    async def position_mode(self, request: web.Request) -> web.Response:
        await self.auth.signed(request)
        return web.json_response({"dualSidePosition": False})


def _int(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise bad_param(f"Illegal characters found in parameter '{name}'.", code=-1100)
    return int(raw)
