"""Backpack's public REST endpoints over the emulator: markets, depth, ticker, marks, funding, time.

The depth snapshot lags the depth stream by ``depth_snapshot_lag`` updates
(``depth_lag.LaggedDepth``), as the venue's does on a busy market.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from venues.emulator.backpack_auth import optional_symbol, symbol_param
from venues.emulator.backpack_errors import invalid_request
from venues.emulator.backpack_format import iso_ms, iso_s
from venues.emulator.core import EmulatorCore
from venues.emulator.depth_lag import LaggedDepth
from venues.emulator.engine import Engine
from venues.emulator.events import BookEvent, Event
from venues.precision import fmt

MAX_DEPTH_LIMIT = 5000
DEFAULT_DEPTH_LIMIT = 1000
MAX_HISTORY_LIMIT = 1000
_PERCENT_UNIT = Decimal("0.0001")


def query_int(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_request(f"Invalid {name}") from None
    if not low <= value <= high:
        raise invalid_request(f"{name} must be between {low} and {high}")
    return value


class BackpackPublic:
    def __init__(self, core: EmulatorCore) -> None:
        self.core = core
        self._lagged: dict[str, LaggedDepth] = {}
        self._lagged_engine: Engine | None = None
        core.add_listener(self._observe)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/markets", self.markets)
        app.router.add_get("/api/v1/market", self.market)
        app.router.add_get("/api/v1/depth", self.depth)
        app.router.add_get("/api/v1/ticker", self.ticker)
        app.router.add_get("/api/v1/tickers", self.tickers)
        app.router.add_get("/api/v1/markPrices", self.mark_prices)
        app.router.add_get("/api/v1/fundingRates", self.funding_rates)
        app.router.add_get("/api/v1/time", self.time)
        app.router.add_get("/api/v1/status", self.status)
        app.router.add_get("/api/v1/ping", self.ping)

    def symbol(self, request: web.Request) -> str:
        if "symbol" not in request.query:
            raise invalid_request("Missing symbol")
        return symbol_param(self.core, request.query)

    def _market_json(self, symbol: str) -> dict[str, Any]:
        rules = self.core.profiles[symbol].rules
        engine = self.core.engine
        cap = fmt(self.core.config.simulator.funding_rate_cap)
        return {
            "symbol": symbol,
            "baseSymbol": rules.base_asset,
            "quoteSymbol": rules.quote_asset,
            "marketType": "PERP",
            "filters": {
                "price": {
                    "minPrice": fmt(rules.tick_size),
                    "maxPrice": None,
                    "tickSize": fmt(rules.tick_size),
                },
                "quantity": {
                    "minQuantity": fmt(rules.min_quantity),
                    "maxQuantity": None,
                    "stepSize": fmt(rules.step_size),
                },
            },
            "imfFunction": {"type": "sqrt", "base": fmt(engine.initial_margin_fraction), "factor": "0"},
            "mmfFunction": {"type": "sqrt", "base": fmt(engine.maintenance_margin_fraction), "factor": "0"},
            "fundingInterval": engine.funding_interval_ms,
            "fundingRateUpperBound": cap,
            "fundingRateLowerBound": f"-{cap}",
            "openInterestLimit": None,
            "orderBookState": "Open",
            "createdAt": iso_ms(0),
        }

    async def markets(self, request: web.Request) -> web.Response:
        return web.json_response([self._market_json(symbol) for symbol in self.core.profiles])

    async def market(self, request: web.Request) -> web.Response:
        symbol = self.symbol(request)
        return web.json_response(self._market_json(symbol))

    def _lagged_depth(self, symbol: str) -> LaggedDepth:
        """The lagging copy of ``symbol``'s book, started from the engine's (again after a reset)."""
        engine = self.core.engine
        if engine is not self._lagged_engine:
            self._lagged_engine = engine
            self._lagged.clear()
        lagged = self._lagged.get(symbol)
        if lagged is None:
            bids, asks, update_id = engine.depth(symbol)
            lagged = LaggedDepth(lag=self.core.config.depth_snapshot_lag)
            lagged.start(bids=bids, asks=asks, update_id=update_id)
            self._lagged[symbol] = lagged
        return lagged

    def _observe(self, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, BookEvent):
                self._lagged_depth(event.symbol).observe(event)

    async def depth(self, request: web.Request) -> web.Response:
        """Levels nearest the spread, both sides ascending by price as Backpack lists them (lagging)."""
        symbol = self.symbol(request)
        limit = query_int(request, "limit", default=DEFAULT_DEPTH_LIMIT, low=1, high=MAX_DEPTH_LIMIT)
        bids, asks, update_id = self._lagged_depth(symbol).snapshot(now_ms=self.core.now_ms(), limit=limit)
        return web.json_response(
            {
                "asks": [[fmt(price), fmt(qty)] for price, qty in asks],
                "bids": [[fmt(price), fmt(qty)] for price, qty in reversed(bids)],
                "lastUpdateId": str(update_id),
                "timestamp": self.core.now_ms() * 1000,
            }
        )

    def _ticker_json(self, symbol: str) -> dict[str, Any]:
        summary = self.core.engine.stats(symbol).summary(self.core.now_ms())
        mark = self.core.engine.mark_state(symbol).mark
        last = summary.last_price or mark
        first = summary.first_price or last
        change = (last - first) if last is not None and first is not None else None
        percent = (change / first * 100) if change is not None and first else None
        return {
            "symbol": symbol,
            "firstPrice": fmt(first) if first is not None else None,
            "lastPrice": fmt(last) if last is not None else None,
            "priceChange": fmt(change) if change is not None else "0",
            "priceChangePercent": fmt(percent.quantize(_PERCENT_UNIT)) if percent is not None else "0",
            "high": fmt(summary.high or last) if last is not None else None,
            "low": fmt(summary.low or last) if last is not None else None,
            "volume": fmt(summary.volume),
            "quoteVolume": fmt(summary.quote_volume),
            "trades": str(summary.trades),
        }

    async def ticker(self, request: web.Request) -> web.Response:
        symbol = self.symbol(request)
        return web.json_response(self._ticker_json(symbol))

    async def tickers(self, request: web.Request) -> web.Response:
        return web.json_response([self._ticker_json(symbol) for symbol in self.core.profiles])

    async def mark_prices(self, request: web.Request) -> web.Response:
        only = optional_symbol(self.core, request.query)
        out = []
        for symbol in self.core.profiles:
            state = self.core.engine.mark_state(symbol)
            if (only is None or symbol == only) and state.mark is not None and state.index is not None:
                out.append(
                    {
                        "fundingRate": fmt(state.funding_rate),
                        "indexPrice": fmt(state.index),
                        "markPrice": fmt(state.mark),
                        "nextFundingTimestamp": state.next_funding_ms,
                        "symbol": symbol,
                    }
                )
        return web.json_response(out)

    async def funding_rates(self, request: web.Request) -> web.Response:
        """Settled funding intervals of one market, newest first."""
        symbol = self.symbol(request)
        limit = query_int(request, "limit", default=100, low=1, high=MAX_HISTORY_LIMIT)
        offset = query_int(request, "offset", default=0, low=0, high=10**9)
        history = list(reversed(self.core.engine.mark_state(symbol).history))[offset : offset + limit]
        return web.json_response(
            [
                {"symbol": symbol, "intervalEndTimestamp": iso_s(end_ms), "fundingRate": fmt(rate)}
                for end_ms, rate in history
            ]
        )

    async def time(self, request: web.Request) -> web.Response:
        """The emulator's clock in milliseconds, a bare integer body as Backpack sends it."""
        return web.Response(text=str(self.core.now_ms()), content_type="application/json")

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "Ok", "message": None})

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong")
