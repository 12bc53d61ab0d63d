"""Paradex's public REST over the emulator: system config and time, markets, summaries, book, BBO."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from venues.emulator.core import EmulatorCore
from venues.emulator.paradex_auth import CHAIN_ID, validation_error
from venues.emulator.paradex_format import market_json, summary_json
from venues.precision import fmt

# The account contract class hashes of Paradex's testnet: generated accounts get real addresses.
PROXY_CLASS_HASH = "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9"
ACCOUNT_CLASS_HASH = "0x41cb0280ebadaa75f996d8d92c6f265f6d040bb3ba442e5f86a554f1765244e"
L1_CHAIN_ID = 11155111
MAX_OPEN_ORDERS = 100
MAX_DEPTH = 100
# Paradex's BTC perpetual goes to 50x (initial margin fraction 0.02); the account's own leverage is
# the engine's (``GET /account/margin``), and a client takes the lower of the two.
MARKET_MAX_LEVERAGE = Decimal(50)


class ParadexPublic:
    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def install(self, app: web.Application) -> None:
        routes = app.router
        routes.add_get("/v1/system/config", self.config)
        routes.add_get("/v1/system/time", self.time)
        routes.add_get("/v1/markets", self.markets)
        routes.add_get("/v1/markets/summary", self.summary)
        routes.add_get("/v1/orderbook/{market}", self.orderbook)
        routes.add_get("/v1/bbo/{market}", self.bbo)

    def _market(self, raw: str | None) -> str:
        if raw is None or raw not in self.core.profiles:
            raise validation_error(f"market {raw!r} is not listed")
        return raw

    async def config(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "starknet_chain_id": CHAIN_ID,
                "l1_chain_id": str(L1_CHAIN_ID),
                "paraclear_account_proxy_hash": PROXY_CLASS_HASH,
                "paraclear_account_hash": ACCOUNT_CLASS_HASH,
                "paraclear_decimals": 8,
                "bridged_tokens": [{"symbol": "USDC", "decimals": 6}],
            }
        )

    async def time(self, request: web.Request) -> web.Response:
        return web.json_response({"server_time": str(self.core.now_ms())})

    async def markets(self, request: web.Request) -> web.Response:
        raw = request.query.get("market")
        symbols = [self._market(raw)] if raw is not None else list(self.core.profiles)
        engine = self.core.engine
        hours = Decimal(engine.funding_interval_ms) / 3_600_000
        imf_base = 1 / MARKET_MAX_LEVERAGE
        return web.json_response(
            {
                "results": [
                    market_json(
                        self.core.profiles[s].rules,
                        funding_period_hours=hours,
                        max_open_orders=MAX_OPEN_ORDERS,
                        imf_base=imf_base,
                    )
                    for s in symbols
                ]
            }
        )

    def summary_row(self, symbol: str) -> dict[str, Any]:
        engine = self.core.engine
        bid, ask = engine.top(symbol)
        now_ms = self.core.now_ms()
        last = engine.stats(symbol).summary(now_ms).last_price
        return summary_json(
            symbol,
            engine.mark_state(symbol),
            bid=bid[0] if bid else None,
            ask=ask[0] if ask else None,
            last=last,
            now_ms=now_ms,
        )

    async def summary(self, request: web.Request) -> web.Response:
        raw = request.query.get("market")
        if raw is None:
            raise validation_error("market is required")
        symbols = list(self.core.profiles) if raw == "ALL" else [self._market(raw)]
        return web.json_response({"results": [self.summary_row(s) for s in symbols]})

    async def orderbook(self, request: web.Request) -> web.Response:
        symbol = self._market(request.match_info["market"])
        try:
            depth = int(request.query.get("depth", "20"))
        except ValueError:
            raise validation_error("depth must be an integer") from None
        if not 1 <= depth <= MAX_DEPTH:
            raise validation_error(f"depth must be between 1 and {MAX_DEPTH}")
        bids, asks, update_id = self.core.engine.depth(symbol, limit=depth)
        return web.json_response(
            {
                "market": symbol,
                "seq_no": update_id,
                "last_updated_at": self.core.now_ms(),
                "bids": [[fmt(p), fmt(q)] for p, q in bids],
                "asks": [[fmt(p), fmt(q)] for p, q in asks],
            }
        )

    async def bbo(self, request: web.Request) -> web.Response:
        symbol = self._market(request.match_info["market"])
        return web.json_response(self.bbo_data(symbol))

    def bbo_data(self, symbol: str) -> dict[str, Any]:
        """The BBO; an empty side is ``null`` (price and size), as the venue sends it."""
        bid, ask = self.core.engine.top(symbol)
        return {
            "market": symbol,
            "bid": fmt(bid[0]) if bid else None,
            "bid_size": fmt(bid[1]) if bid else None,
            "ask": fmt(ask[0]) if ask else None,
            "ask_size": fmt(ask[1]) if ask else None,
            "seq_no": self.core.engine.ids.last_update.get(symbol, 0),
            "last_updated_at": self.core.now_ms(),
        }
