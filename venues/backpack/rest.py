"""Backpack's REST API as the ``Venue`` calls it: markets, orders, position, collateral, history.

Orders are checked against the market's tick and step before they are sent,
so a bad price or size is refused locally with the right ``RejectReason``.
An order whose outcome the answer does not tell (a timed-out ``orderExecute``,
a cancel answered 202) is found out by ``outcomes``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from services.wire import (
    Balance,
    Fill,
    FundingPayment,
    Mark,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    RejectReason,
)
from venues.backpack.errors import is_position_not_found
from venues.backpack.outcomes import follow_cancel, follow_cancel_all, resolve_placed
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
from venues.base import DepthSnapshot, Rejected, Unavailable
from venues.common.markets import MarketCache
from venues.common.parse import levels, leverage_of
from venues.precision import MarketRules, check_order, fmt

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_PAGE = 1000
MAX_CLIENT_ID = 2**32 - 1
HISTORY_ROWS = 100


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
            return await resolve_placed(self, order, absent_after_ms=window_end_ms, cause=exc)
        except MalformedResponse as exc:
            # The venue answered 2xx, so it has processed the request: no need to wait out the window.
            cause = Unavailable(f"garbled answer to orderExecute: {exc}")
            return await resolve_placed(self, order, absent_after_ms=self.transport.now_ms(), cause=cause)
        rejection = placement_rejection(update)
        if rejection is not None:
            raise Rejected(f"order {order.client_id} expired at once: {update.reason}", reason=rejection)
        return update

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        """Cancel one open order; ``Rejected(UNKNOWN_ORDER)`` when there is no such open order.

        A 202 (accepted, not yet executed) is followed until the order has left the book; the
        answer is then how it ended (cancelled, or filled before the cancel ran).
        """
        params = _order_ref(symbol, order_id, client_id)
        raw = await self.transport.call("DELETE", "/api/v1/order", params=params, instruction="orderCancel")
        if raw is None:
            return await follow_cancel(self, symbol, order_id=order_id, client_id=client_id)
        return _parsed("cancelled order", order_from_rest, raw)

    async def cancel_all(self, symbol: str) -> int:
        """Cancel every open order on ``symbol``; how many the venue reports cancelled.

        A 202 (accepted, not yet executed) is followed until the orders open then have left the book.
        """
        raw = await self.transport.call(
            "DELETE", "/api/v1/orders", params={"symbol": symbol}, instruction="orderCancelAll"
        )
        if raw is None:
            return await follow_cancel_all(self, symbol)
        if isinstance(raw, list):
            return len(raw)
        log.warning("backpack cancel-all on %s accepted without a list of orders", symbol)
        return 0

    async def order_history(self, symbol: str, *, order_id: str | None = None) -> list[OrderUpdate]:
        """``symbol``'s orders (or the one ``order_id``), newest first, the last ``HISTORY_ROWS``."""
        params = {"symbol": symbol, "orderId": order_id, "sortDirection": "Desc", "limit": HISTORY_ROWS}
        raw = await self.transport.call(
            "GET", "/wapi/v1/history/orders", params=params, instruction="orderHistoryQueryAll"
        )
        return [_parsed("order history row", order_from_rest, row) for row in _rows(raw, "order history")]

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
        """The net position on ``symbol``: flat only on the venue's "Position not found" for it.

        Any other refusal (a 404 from a proxy or a wrong URL included) raises ``Unavailable``.
        """
        try:
            raw = await self.transport.call(
                "GET", "/api/v1/position", params={"symbol": symbol}, instruction="positionQuery"
            )
        except Rejected as exc:
            if is_position_not_found(exc):
                return flat_position(symbol)
            raise Unavailable(
                f"position of {symbol} unknown: {exc}", venue_message=exc.venue_message
            ) from exc
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
        return [fill for _, fill in await self.timed_fills(symbol, since_ms=since_ms, limit=limit)]

    async def timed_fills(
        self, symbol: str, *, since_ms: int | None, limit: int = MAX_PAGE
    ) -> list[tuple[int, Fill]]:
        """``(time ms, fill)`` of ``symbol`` oldest first: from ``since_ms`` on, else the newest ``limit``."""
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
