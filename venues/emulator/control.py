"""The control API under ``/_emulator/`` (tests and benchmarks only; JSON, no auth, loopback).

``GET state``; ``POST price`` (jump, now or ``after_ms`` later; trend, volatility,
funding), ``position``
(set one directly), ``faults`` (replace the fault set; ``{}`` clears),
``reset`` (fresh market and accounts, same seed; faults cleared, every
WebSocket closed), ``taker`` (flow rate, pause), ``book`` (a floor of depth
updates per second, ``depth_churn.DepthChurn``).  A bad body answers 400
``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from aiohttp import web

from venues.emulator.core import EmulatorCore
from venues.emulator.faults import parse_faults
from venues.emulator.records import Fill, Order
from venues.precision import fmt


class Connections(Protocol):
    def drop_connections(self) -> None: ...


class ControlError(ValueError):
    """A control request the emulator cannot act on (answered 400)."""


STATE_LEVELS = 10  # book levels per side in GET /_emulator/state
MAX_JUMP_DELAY_MS = 10_000  # the latest a scheduled price jump may come


def _decimal(body: Mapping[str, Any], name: str) -> Decimal:
    raw = body.get(name)
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ControlError(f"{name} must be a decimal string or number")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ControlError(f"{name} must be a decimal") from None
    if not value.is_finite():
        raise ControlError(f"{name} must be finite")
    return value


def _order_json(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "client_id": order.client_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "price": fmt(order.price) if order.price is not None else None,
        "quantity": fmt(order.quantity) if order.quantity is not None else None,
        "filled_quantity": fmt(order.filled_quantity),
        "post_only": order.post_only,
        "reduce_only": order.reduce_only,
        "created_ms": order.created_ms,
        "received_ns": order.received_ns,
    }


def _fill_json(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_id": fill.client_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "price": fmt(fill.price),
        "quantity": fmt(fill.quantity),
        "fee": fmt(fill.fee),
        "is_maker": fill.is_maker,
        "ts_ms": fill.ts_ms,
    }


class ControlApi:
    def __init__(self, core: EmulatorCore, connections: Connections) -> None:
        self.core = core
        self.connections = connections

    def install(self, app: web.Application) -> None:
        app.router.add_get("/_emulator/state", self._wrap(self.state))
        app.router.add_get("/_emulator/faults", self._wrap(self.get_faults))
        for name, action in (
            ("price", self.price),
            ("position", self.position),
            ("faults", self.faults),
            ("reset", self.reset),
            ("taker", self.taker),
            ("book", self.book),
        ):
            app.router.add_post(f"/_emulator/{name}", self._wrap(action))

    def _wrap(
        self, action: Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            body: Any = {}
            if request.method == "POST":
                text = await request.text()
                try:
                    body = json.loads(text) if text.strip() else {}
                except json.JSONDecodeError:
                    return web.json_response({"error": "body is not JSON"}, status=400)
                if not isinstance(body, dict):
                    return web.json_response({"error": "body must be a JSON object"}, status=400)
            try:
                return web.json_response(await action(body))
            except (ControlError, ValueError, KeyError) as error:
                return web.json_response({"error": str(error)}, status=400)

        return handler

    def _symbol(self, body: Mapping[str, Any]) -> str:
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or symbol not in self.core.profiles:
            raise ControlError(f"unknown symbol {symbol!r}")
        return symbol

    async def state(self, _: Mapping[str, Any]) -> dict[str, Any]:
        engine = self.core.engine
        accounts = {}
        for account in engine.accounts():
            if account.house:
                continue
            positions = {
                view.symbol: {
                    "quantity": fmt(view.quantity),
                    "entry_price": fmt(view.entry_price),
                    "realized_pnl": fmt(view.realized_pnl),
                    "funding": fmt(view.funding),
                }
                for view in engine.positions(account.account_id)
            }
            accounts[account.account_id] = {
                "collateral": fmt(account.collateral),
                "positions": positions,
                "open_orders": [_order_json(o) for o in account.open_orders.values()],
                "fills": [_fill_json(f) for f in account.fills],
                "orders_placed": account.orders_placed,
            }
        markets = {}
        for symbol in self.core.profiles:
            mark = engine.mark_state(symbol)
            bids, asks, _update_id = engine.depth(symbol, limit=STATE_LEVELS)
            bid, ask = (bids[0] if bids else None), (asks[0] if asks else None)
            markets[symbol] = {
                "fair": fmt(self.core.simulator.fair(symbol)),
                "mark": fmt(mark.mark) if mark.mark is not None else None,
                "bid": fmt(bid[0]) if bid is not None else None,
                "ask": fmt(ask[0]) if ask is not None else None,
                "bids": [[fmt(price), fmt(quantity)] for price, quantity in bids],
                "asks": [[fmt(price), fmt(quantity)] for price, quantity in asks],
                "funding_rate": fmt(mark.funding_rate),
                "depth_updates_per_s": self.core.depth_churn.rate(symbol),
            }
        requests = self.core.requests
        return {
            "accounts": accounts,
            "markets": markets,
            "requests": {
                "total": sum(requests.values()),
                "by_path": dict(requests),
                "by_method": dict(self.core.methods),
            },
        }

    async def price(self, body: Mapping[str, Any]) -> dict[str, Any]:
        symbol = self._symbol(body)
        simulator = self.core.simulator
        now_ms = self.core.now_ms()
        if not {"jump_to", "trend_per_s", "volatility", "funding_rate"} & set(body):
            raise ControlError("give jump_to, trend_per_s with duration_s, volatility or funding_rate")
        if "volatility" in body:
            simulator.set_volatility(symbol, _decimal(body, "volatility"))
        if "funding_rate" in body:
            simulator.set_funding_base_rate(symbol, _decimal(body, "funding_rate"))
        if "trend_per_s" in body:
            duration = _decimal(body, "duration_s")
            if duration <= 0:
                raise ControlError("duration_s must be positive")
            simulator.trend(
                symbol, per_s=_decimal(body, "trend_per_s"), duration_s=float(duration), now_ms=now_ms
            )
        if "jump_to" in body:
            level = _decimal(body, "jump_to")
            if level <= 0:
                raise ControlError("jump_to must be positive")
            after_ms = _decimal(body, "after_ms") if "after_ms" in body else Decimal(0)
            if not 0 <= after_ms <= MAX_JUMP_DELAY_MS:
                raise ControlError(f"after_ms must be from 0 to {MAX_JUMP_DELAY_MS}")
            if after_ms:
                asyncio.get_running_loop().call_later(float(after_ms) / 1000, self._jump, symbol, level)
                return {"ok": True, "fair": fmt(simulator.fair(symbol)), "jump_in_ms": float(after_ms)}
            self._jump(symbol, level)
        return {"ok": True, "fair": fmt(simulator.fair(symbol))}

    def _jump(self, symbol: str, level: Decimal) -> None:
        self.core.publish(self.core.simulator.jump_to(symbol, level, now_ms=self.core.now_ms()))

    async def position(self, body: Mapping[str, Any]) -> dict[str, Any]:
        symbol = self._symbol(body)
        api_key = self._account(body)
        engine = self.core.engine
        quantity = _decimal(body, "quantity")
        entry = _decimal(body, "entry_price") if quantity != 0 else Decimal(0)
        if quantity != 0 and entry <= 0:
            raise ControlError("entry_price must be positive")
        events = engine.set_position(
            api_key, symbol, quantity=quantity, entry_price=entry, now_ms=self.core.now_ms()
        )
        self.core.publish(events)
        return {"ok": True}

    def _account(self, body: Mapping[str, Any]) -> str:
        """The engine's id of ``account`` (as ``GET /_emulator/state`` lists it) or ``api_key``.

        An Aster v3 account is its main wallet address, in any letter case.
        """
        engine = self.core.engine
        named = body.get("account", body.get("api_key"))
        if isinstance(named, str):
            for candidate in (named, named.lower()):
                if engine.has_account(candidate) and not engine.account(candidate).house:
                    return candidate
        known = ", ".join(a.account_id for a in engine.accounts() if not a.house)
        raise ControlError(f"unknown account {named!r}; accounts: {known}")

    async def get_faults(self, _: Mapping[str, Any]) -> dict[str, Any]:
        return self.core.faults.spec.to_json()

    async def faults(self, body: Mapping[str, Any]) -> dict[str, Any]:
        spec = parse_faults(body)
        self.core.apply_faults(spec)
        if spec.drop_ws:
            self.connections.drop_connections()
        return spec.to_json()

    async def reset(self, _: Mapping[str, Any]) -> dict[str, Any]:
        self.connections.drop_connections()
        self.core.reset()
        return {"ok": True}

    async def taker(self, body: Mapping[str, Any]) -> dict[str, Any]:
        symbol = self._symbol(body) if "rate_per_s" in body or "symbol" in body else None
        if "rate_per_s" not in body and "pause" not in body:
            raise ControlError("give rate_per_s and/or pause")
        if "pause" in body and not isinstance(body["pause"], bool):
            raise ControlError("pause must be true or false")
        simulator = self.core.simulator
        if symbol is not None and "rate_per_s" in body:
            simulator.set_taker_rate(symbol, float(_decimal(body, "rate_per_s")))
        if "pause" in body:
            simulator.set_paused(body["pause"], symbol=symbol)
        return {
            "ok": True,
            "rate_per_s": {s: simulator.taker_rate(s) for s in simulator.symbols},
            "paused": {s: simulator.is_paused(s) for s in simulator.symbols},
        }

    async def book(self, body: Mapping[str, Any]) -> dict[str, Any]:
        symbol = self._symbol(body)
        rate = float(_decimal(body, "updates_per_s"))
        self.core.depth_churn.set_rate(symbol, rate, now_s=time.monotonic())
        return {"ok": True, "depth_updates_per_s": self.core.depth_churn.rate(symbol)}
