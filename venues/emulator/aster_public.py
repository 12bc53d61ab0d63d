"""Aster's public REST endpoints over the emulator: exchange info, depth, tickers, marks, funding."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from venues.emulator.aster_errors import bad_param, invalid_symbol, missing
from venues.emulator.aster_format import QUOTE_ASSET, market_json
from venues.emulator.aster_limits import budgets
from venues.emulator.core import EmulatorCore
from venues.precision import fmt

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
MAX_FUNDING_ROWS = 1000


def query_int(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_param(
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.", code=-1100
        ) from None
    if not low <= value <= high:
        raise bad_param(f"Parameter '{name}' is out of range.", code=-1130)
    return value


def symbol_of(core: EmulatorCore, params: Any, *, required: bool = True) -> str | None:
    """The ``symbol`` parameter, a listed market (None when optional and absent)."""
    symbol = params.get("symbol")
    if not symbol:
        if required:
            raise missing("symbol")
        return None
    if symbol not in core.profiles:
        raise invalid_symbol()
    return str(symbol)


class AsterPublic:
    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def install(self, app: web.Application) -> None:
        routes = app.router
        routes.add_get("/fapi/v1/ping", self.ping)
        routes.add_get("/fapi/v1/time", self.time)
        routes.add_get("/fapi/v1/exchangeInfo", self.exchange_info)
        routes.add_get("/fapi/v1/depth", self.depth)
        routes.add_get("/fapi/v1/ticker/bookTicker", self.book_ticker)
        routes.add_get("/fapi/v1/premiumIndex", self.premium_index)
        routes.add_get("/fapi/v1/fundingRate", self.funding_rate)

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self.core.now_ms()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        weight, orders = budgets(self.core.config.rate_limit_per_min)
        symbols = [market_json(p.rules, max_price=p.start_price * 1000) for p in self.core.profiles.values()]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": self.core.now_ms(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": weight,
                    },
                    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": orders},
                ],
                "exchangeFilters": [],
                "assets": [{"asset": QUOTE_ASSET, "marginAvailable": True, "autoAssetExchange": "0"}],
                "symbols": symbols,
            }
        )

    async def depth(self, request: web.Request) -> web.Response:
        """Best levels first on both sides, with the update id of the last change they include."""
        symbol = symbol_of(self.core, request.query)
        assert symbol is not None
        limit = query_int(request, "limit", default=500, low=1, high=1000)
        if limit not in DEPTH_LIMITS:
            raise bad_param(
                f"Illegal limit {limit}: use one of {', '.join(map(str, DEPTH_LIMITS))}.", code=-1130
            )
        bids, asks, update_id = self.core.engine.depth(symbol, limit=limit)
        now_ms = self.core.now_ms()
        return web.json_response(
            {
                "lastUpdateId": update_id,
                "E": now_ms,
                "T": now_ms,
                "bids": [[fmt(price), fmt(qty)] for price, qty in bids],
                "asks": [[fmt(price), fmt(qty)] for price, qty in asks],
            }
        )

    def _ticker(self, symbol: str) -> dict[str, Any]:
        bid, ask = self.core.engine.top(symbol)
        return {
            "symbol": symbol,
            "bidPrice": fmt(bid[0]) if bid else "0",
            "bidQty": fmt(bid[1]) if bid else "0",
            "askPrice": fmt(ask[0]) if ask else "0",
            "askQty": fmt(ask[1]) if ask else "0",
            "time": self.core.now_ms(),
        }

    async def book_ticker(self, request: web.Request) -> web.Response:
        symbol = symbol_of(self.core, request.query, required=False)
        if symbol is not None:
            return web.json_response(self._ticker(symbol))
        return web.json_response([self._ticker(s) for s in self.core.profiles])

    def _premium(self, symbol: str) -> dict[str, Any]:
        state = self.core.engine.mark_state(symbol)
        mark = state.mark if state.mark is not None else self.core.profiles[symbol].start_price
        index = state.index if state.index is not None else mark
        return {
            "symbol": symbol,
            "markPrice": fmt(mark),
            "indexPrice": fmt(index),
            "estimatedSettlePrice": fmt(index),
            "lastFundingRate": fmt(state.funding_rate),
            "interestRate": "0.00010000",
            "nextFundingTime": state.next_funding_ms,
            "time": self.core.now_ms(),
        }

    async def premium_index(self, request: web.Request) -> web.Response:
        symbol = symbol_of(self.core, request.query, required=False)
        if symbol is not None:
            return web.json_response(self._premium(symbol))
        return web.json_response([self._premium(s) for s in self.core.profiles])

    async def funding_rate(self, request: web.Request) -> web.Response:
        """Settled funding intervals, oldest first (``startTime``/``endTime`` filter, ``limit`` newest)."""
        symbol = symbol_of(self.core, request.query)
        assert symbol is not None
        limit = query_int(request, "limit", default=100, low=1, high=MAX_FUNDING_ROWS)
        start_ms = query_int(request, "startTime", default=0, low=0, high=2**62)
        end_ms = query_int(request, "endTime", default=2**62, low=0, high=2**62)
        rows = [
            {"symbol": symbol, "fundingRate": fmt(rate), "fundingTime": end}
            for end, rate in self.core.engine.mark_state(symbol).history
            if start_ms <= end <= end_ms
        ]
        return web.json_response(rows[-limit:])
