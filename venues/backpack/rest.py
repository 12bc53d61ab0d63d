"""Backpack's REST API as the ``Venue`` calls it: markets, orders, position, collateral, history.

Orders are checked against the market's tick and step before they are sent,
so a bad price or size is refused locally with the right ``RejectReason``.
``clientId`` is the idempotency key: an ``orderExecute`` whose outcome is
unknown (timeout, 5xx, garbled answer) is never re-sent; the order is looked
up by its client id until the signing window has closed (after which the
venue can no longer accept the request), and only an order that is still
unresolved after ``resolve_timeout_s`` raises ``UnknownOrderState``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from services.wire import (
    Balance,
    Fill,
    FundingPayment,
    Mark,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    RejectReason,
    TimeInForce,
)
from venues.backpack.parse import (
    MalformedResponse,
    balance_from_collateral,
    field,
    fill_from_rest,
    fill_time_ms,
    flat_position,
    funding_from_rest,
    funding_time_ms,
    integer,
    mark_from_rest,
    market_rules,
    order_from_rest,
    order_payload,
    placement_rejection,
    position_from_rest,
)
from venues.backpack.transport import OutcomeUnknown, Transport
from venues.base import DepthSnapshot, Rejected, Unavailable, UnknownOrderState, VenueError
from venues.common.markets import MarketCache
from venues.common.parse import levels, leverage_of
from venues.precision import MarketRules, check_order, fmt

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_PAGE = 1000
MAX_CLIENT_ID = 2**32 - 1
# How far back the fill history is searched for an order being resolved (clock skew margin).
RESOLVE_LOOKBACK_MS = 60_000


class BackpackRest:
    """The REST half of the connector, on one ``Transport``."""

    def __init__(
        self,
        transport: Transport,
        *,
        auto_lend_redeem: bool = True,
        resolve_poll_s: float = 0.25,
        resolve_grace_ms: int = 1000,
        resolve_timeout_s: float = 30.0,
        depth_limit: int = 1000,
    ) -> None:
        self.transport = transport
        self.auto_lend_redeem = auto_lend_redeem
        self.resolve_poll_s = resolve_poll_s
        self.resolve_grace_ms = resolve_grace_ms
        self.resolve_timeout_s = resolve_timeout_s
        self.depth_limit = depth_limit
        self.markets = MarketCache("Backpack", self._market_list, market_rules)

    # ------------------------------------------------------------ public data

    async def load_markets(self) -> dict[str, MarketRules]:
        """Every perpetual market's rules (and caches them for order checks)."""
        return await self.markets.load()

    async def _market_list(self) -> list[Any]:
        raw = await self.transport.call("GET", "/api/v1/markets")
        if not isinstance(raw, list):
            raise Unavailable("malformed markets answer: not a list")
        return raw

    async def rules(self, symbol: str) -> MarketRules:
        """``symbol``'s rules, loading the markets the first time."""
        return await self.markets.rules(symbol)

    async def server_time_ms(self) -> int:
        return await self.transport.server_time_ms()

    async def depth(self, symbol: str) -> DepthSnapshot:
        """The order book snapshot that seeds the stream's local book."""
        raw = await self.transport.call(
            "GET", "/api/v1/depth", params={"symbol": symbol, "limit": self.depth_limit}
        )
        try:
            bids, asks = levels(field(raw, "bids")), levels(field(raw, "asks"))
            last_update_id = integer(field(raw, "lastUpdateId"))
            stamp = raw.get("timestamp")
            ts_ns = integer(stamp) * 1000 if stamp is not None else None
        except MalformedResponse as exc:
            raise Unavailable(f"malformed depth answer: {exc}") from exc
        return DepthSnapshot(bids=bids, asks=asks, last_update_id=last_update_id, ts_ns=ts_ns)

    async def mark(self, symbol: str) -> Mark:
        raw = await self.transport.call("GET", "/api/v1/markPrices", params={"symbol": symbol})
        rows = raw if isinstance(raw, list) else [raw]
        for row in rows:
            if isinstance(row, dict) and row.get("symbol") == symbol:
                return _parsed("mark price", mark_from_rest, row)
        raise Unavailable(f"no mark price for {symbol} in the answer")

    async def mark_price(self, symbol: str) -> Decimal:
        return (await self.mark(symbol)).mark

    # ------------------------------------------------------------ orders

    async def place_order(self, order: Place) -> OrderUpdate:
        """Place one order; ``Rejected`` when refused (locally or by the venue).

        ``Unavailable`` means the order is known not to exist (the venue could not be
        reached, or its outcome was resolved as not placed); ``UnknownOrderState``
        means it could not be found out.
        """
        if not 0 <= order.client_id <= MAX_CLIENT_ID:
            raise Rejected(f"client id {order.client_id} is not a uint32", reason=RejectReason.MALFORMED)
        rules = await self.rules(order.symbol)
        price = order.price if order.order_type is OrderType.LIMIT else None
        if order.order_type is OrderType.LIMIT and price is None:
            raise Rejected("a limit order needs a price", reason=RejectReason.BAD_PRICE)
        refusal = check_order(rules, quantity=order.quantity, price=price, reduce_only=order.reduce_only)
        if refusal is not None:
            shown = fmt(price) if price is not None else "market"
            raise Rejected(
                f"refused locally: {fmt(order.quantity)} @ {shown} does not fit {order.symbol} "
                f"(tick {fmt(rules.tick_size)}, step {fmt(rules.step_size)}, min {fmt(rules.min_quantity)})",
                reason=refusal,
            )
        body = order_payload(order, auto_lend_redeem=self.auto_lend_redeem)
        try:
            raw = await self.transport.call(
                "POST", "/api/v1/order", params=body, instruction="orderExecute", idempotent=False
            )
            update = order_from_rest(raw)
        except OutcomeUnknown as exc:
            window_end_ms = exc.timestamp_ms + self.transport.window_ms + self.resolve_grace_ms
            return await self._resolve(order, absent_after_ms=window_end_ms, cause=exc)
        except MalformedResponse as exc:
            # The venue answered 2xx, so it has processed the request: no need to wait out the window.
            cause = Unavailable(f"garbled answer to orderExecute: {exc}")
            return await self._resolve(order, absent_after_ms=self.transport.now_ms(), cause=cause)
        rejection = placement_rejection(update)
        if rejection is not None:
            raise Rejected(f"order {order.client_id} expired at once: {update.reason}", reason=rejection)
        return update

    async def _resolve(self, order: Place, *, absent_after_ms: int, cause: VenueError) -> OrderUpdate:
        """The order behind an unknown outcome, found by client id; ``Unavailable`` if it does not exist."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.resolve_timeout_s
        since_ms = absent_after_ms - self.transport.window_ms - RESOLVE_LOOKBACK_MS
        last_error: VenueError = cause
        misses = 0
        log.warning("backpack order %d outcome unknown (%s); looking it up", order.client_id, cause)
        while True:
            try:
                found = await self._find_placed(order, since_ms=since_ms)
            except VenueError as exc:
                last_error, misses = exc, 0
            else:
                if found is not None:
                    log.info(
                        "backpack order %d resolved: %s %s", order.client_id, found.order_id, found.status
                    )
                    return found
                # Two misses after the window: a fill racing the first look is seen by the second.
                misses = misses + 1 if self.transport.now_ms() >= absent_after_ms else 0
                if misses >= 2:
                    raise Unavailable(
                        f"order {order.client_id} was not placed ({cause}): no such order after the "
                        "signing window closed",
                        venue_message=cause.venue_message,
                    )
            if loop.time() >= give_up_at:
                raise UnknownOrderState(
                    f"order {order.client_id} still unknown after {self.resolve_timeout_s:g} s: {last_error}",
                    client_id=order.client_id,
                    venue_message=last_error.venue_message,
                ) from last_error
            await asyncio.sleep(self.resolve_poll_s)

    async def _find_placed(self, order: Place, *, since_ms: int) -> OrderUpdate | None:
        resting = await self.get_order(order.symbol, client_id=order.client_id)
        if resting is not None:
            return resting
        # The order query sees resting orders only; one that already filled shows in the fills.
        # Newest page first, so a busy account cannot push it out; bounded in time, so a client
        # id reused by an earlier session cannot match.
        history = await self._timed_fills(order.symbol, since_ms=None, limit=MAX_PAGE)
        mine = [fill for at_ms, fill in history if at_ms >= since_ms and fill.client_id == order.client_id]
        if not mine:
            return None
        filled = sum((fill.quantity for fill in mine), Decimal(0))
        if filled >= order.quantity:
            status = OrderStatus.FILLED
        elif order.order_type is OrderType.MARKET or order.tif is TimeInForce.IOC:
            status = OrderStatus.EXPIRED
        else:
            status = OrderStatus.CANCELLED
        return OrderUpdate(
            symbol=order.symbol,
            order_id=mine[0].order_id,
            client_id=order.client_id,
            side=order.side,
            order_type=order.order_type,
            price=order.price if order.order_type is OrderType.LIMIT else None,
            quantity=order.quantity,
            filled_quantity=filled,
            status=status,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            reason="resolved from fill history",
        )

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        """Cancel one open order; ``Rejected(UNKNOWN_ORDER)`` when there is no such open order."""
        params = _order_ref(symbol, order_id, client_id)
        raw = await self.transport.call("DELETE", "/api/v1/order", params=params, instruction="orderCancel")
        if raw is None:
            return await self._await_cancel(symbol, order_id=order_id, client_id=client_id)
        return _parsed("cancelled order", order_from_rest, raw)

    async def _await_cancel(self, symbol: str, *, order_id: str | None, client_id: int | None) -> OrderUpdate:
        # 202: the venue accepted the cancel but has not executed it yet.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.transport.timeout_s
        last: OrderUpdate | None = None
        while True:
            current = await self.get_order(symbol, order_id=order_id, client_id=client_id)
            if current is None:
                if last is None:
                    raise Rejected("cancel accepted, order no longer open", reason=RejectReason.UNKNOWN_ORDER)
                return dataclasses.replace(last, status=OrderStatus.CANCELLED, reason="cancel accepted (202)")
            last = current
            if loop.time() >= deadline:
                raise Unavailable(f"cancel of {current.order_id} accepted but the order is still open")
            await asyncio.sleep(self.resolve_poll_s)

    async def cancel_all(self, symbol: str) -> int:
        """Cancel every open order on ``symbol``; how many the venue reports cancelled."""
        raw = await self.transport.call(
            "DELETE", "/api/v1/orders", params={"symbol": symbol}, instruction="orderCancelAll"
        )
        if isinstance(raw, list):
            return len(raw)
        log.warning("backpack cancel-all on %s accepted without a list of orders", symbol)
        return 0

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        raw = await self.transport.call(
            "GET", "/api/v1/orders", params={"symbol": symbol}, instruction="orderQueryAll"
        )
        return [_parsed("open order", order_from_rest, row) for row in _rows(raw, "open orders")]

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate | None:
        """The order while it rests on the book; None once it is gone (or never existed)."""
        params = _order_ref(symbol, order_id, client_id)
        try:
            raw = await self.transport.call("GET", "/api/v1/order", params=params, instruction="orderQuery")
        except Rejected as exc:
            if exc.reason is RejectReason.UNKNOWN_ORDER:
                return None
            raise
        return _parsed("order", order_from_rest, raw)

    # ------------------------------------------------------------ account

    async def position(self, symbol: str) -> Position:
        """The net position on ``symbol`` (flat when the venue lists none)."""
        try:
            raw = await self.transport.call("GET", "/api/v1/position", instruction="positionQuery")
        except Rejected as exc:
            if exc.reason is RejectReason.UNKNOWN_ORDER:
                return flat_position(symbol)
            raise
        for row in _rows(raw, "positions"):
            if isinstance(row, dict) and row.get("symbol") == symbol:
                return _parsed("position", position_from_rest, row)
        return flat_position(symbol)

    async def leverage(self) -> Decimal | None:
        """The account's leverage limit (``leverageLimit`` of ``GET /api/v1/account``)."""
        raw = await self.transport.call("GET", "/api/v1/account", instruction="accountQuery")
        return leverage_of(raw.get("leverageLimit") if isinstance(raw, dict) else None)

    async def collateral(self) -> Balance:
        raw = await self.transport.call("GET", "/api/v1/capital/collateral", instruction="collateralQuery")
        return _parsed("collateral", balance_from_collateral, raw)

    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]:
        """Fill history, oldest first: from ``since_ms`` on, else the newest ``limit``."""
        return [fill for _, fill in await self._timed_fills(symbol, since_ms=since_ms, limit=limit)]

    async def _timed_fills(self, symbol: str, *, since_ms: int | None, limit: int) -> list[tuple[int, Fill]]:
        params: dict[str, Any] = {"symbol": symbol, "from": since_ms}
        params["sortDirection"] = "Asc" if since_ms is not None else "Desc"
        rows = await self._pages("/wapi/v1/history/fills", "fillHistoryQueryAll", params, limit=limit)
        timed = [(_parsed("fill", fill_time_ms, row), _parsed("fill", fill_from_rest, row)) for row in rows]
        timed = [item for item in timed if item[1].symbol == symbol]
        if since_ms is not None:
            timed = [item for item in timed if item[0] >= since_ms]
        timed.sort(key=lambda item: (item[0], item[1].trade_id))
        return timed

    async def funding_payments(
        self, symbol: str, *, since_ms: int | None = None, limit: int = 10 * MAX_PAGE
    ) -> list[FundingPayment]:
        """Funding history, oldest first (the venue has no time filter: newest pages until ``since_ms``)."""
        params: dict[str, Any] = {"symbol": symbol, "sortDirection": "Desc"}
        rows = await self._pages(
            "/wapi/v1/history/funding",
            "fundingHistoryQueryAll",
            params,
            limit=limit,
            stop=None if since_ms is None else lambda row: funding_time_ms(row) < since_ms,
        )
        timed = [
            (_parsed("funding", funding_time_ms, row), _parsed("funding", funding_from_rest, row))
            for row in rows
        ]
        timed = [item for item in timed if item[1].symbol == symbol]
        if since_ms is not None:
            timed = [item for item in timed if item[0] >= since_ms]
        timed.sort(key=lambda item: item[0])
        return [payment for _, payment in timed]

    async def _pages(
        self,
        path: str,
        instruction: str,
        params: dict[str, Any],
        *,
        limit: int,
        stop: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        rows: list[Any] = []
        while len(rows) < limit:
            page_size = min(MAX_PAGE, limit - len(rows))
            query = {**params, "limit": page_size, "offset": len(rows)}
            page = _rows(await self.transport.call("GET", path, params=query, instruction=instruction), path)
            rows.extend(page)
            if len(page) < page_size or (stop is not None and _parsed(path, stop, page[-1])):
                break
        return rows[:limit]


def _order_ref(symbol: str, order_id: str | None, client_id: int | None) -> dict[str, Any]:
    if (order_id is None) == (client_id is None):
        raise ValueError("give exactly one of order_id and client_id")
    return {"symbol": symbol, "orderId": order_id, "clientId": client_id}


def _rows(raw: Any, what: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Unavailable(f"malformed {what} answer: not a list")
    return raw


def _parsed(what: str, parse: Callable[[Any], T], raw: Any) -> T:
    try:
        return parse(raw)
    except MalformedResponse as exc:
        raise Unavailable(f"malformed {what}: {exc}") from exc
