"""Paradex's REST API as the ``Venue`` calls it: markets, signed orders, account, history.

Placement is asynchronous on Paradex: ``POST /orders`` answers ``NEW`` and
the order becomes ``OPEN`` or ``CLOSED`` (with a ``cancel_reason``) right
after, which the private stream tells (``OrderWatch``).  No GET follows a
place or a cancel while that stream runs; without it, one GET confirms the
outcome and turns a refusal (post-only would cross, no margin, ...) into
``Rejected``.  The client id (the wire's uint32, as a string) is the
idempotency key: an order whose outcome is unknown is never re-sent but looked
up by client id in the order history (which, unlike ``/orders/by_client_id``,
also holds filled and refused orders).
"""

from __future__ import annotations

import asyncio
import contextlib
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
    OrderType,
    OrderUpdate,
    Place,
    Position,
)
from services.wire import RejectReason as Why
from venues.base import DepthSnapshot, Rejected, Unavailable, UnknownOrderState, VenueError
from venues.common.markets import MarketCache
from venues.common.parse import MalformedResponse, dec, field, integer, levels, leverage_of
from venues.paradex.errors import order_outcome
from venues.paradex.parse import (
    SIDE_TO_VENUE,
    fill_from_venue,
    funding_from_venue,
    mark_from_summary,
    market_max_leverage,
    market_rules,
    order_body,
    order_from_venue,
    position_from_venue,
    position_notional,
    rows,
)
from venues.paradex.signing import order_hash, order_message, signature_json
from venues.paradex.transport import OutcomeUnknown, ParadexTransport
from venues.paradex.watch import OrderWatch
from venues.precision import MarketRules, check_order, fmt

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_CLIENT_ID = 2**32 - 1
MAX_PAGE = 1000
FIRST_FOLLOW_S = 0.01


class ParadexRest:
    """The REST half of the connector, on one ``ParadexTransport``."""

    def __init__(
        self,
        transport: ParadexTransport,
        *,
        follow_timeout_s: float = 2.0,
        resolve_poll_s: float = 0.25,
        resolve_timeout_s: float = 30.0,
        depth_levels: int = 20,
    ) -> None:
        self.transport = transport
        self.follow_timeout_s = follow_timeout_s
        self.resolve_poll_s = resolve_poll_s
        self.resolve_timeout_s = resolve_timeout_s
        self.depth_levels = depth_levels
        self.markets = MarketCache("Paradex", self._market_list, market_rules)
        self.watch = OrderWatch()
        self._marks_in_flight: dict[str, asyncio.Future[Mark]] = {}

    # ------------------------------------------------------------ public data

    async def load_markets(self) -> dict[str, MarketRules]:
        return await self.markets.load()

    async def _market_list(self) -> list[Any]:
        return _parsed("markets", rows, await self.transport.call("GET", "/markets"))

    async def rules(self, symbol: str) -> MarketRules:
        return await self.markets.rules(symbol)

    async def depth(self, symbol: str) -> DepthSnapshot:
        """The order book over REST (``/orderbook/{market}``), for a feed that fell silent."""
        raw = await self.transport.call("GET", f"/orderbook/{symbol}", params={"depth": self.depth_levels})
        try:
            stamp = raw.get("last_updated_at") if isinstance(raw, dict) else None
            return DepthSnapshot(
                bids=levels(field(raw, "bids")),
                asks=levels(field(raw, "asks")),
                last_update_id=integer(field(raw, "seq_no")),
                ts_ns=integer(stamp) * 1_000_000 if stamp else None,
            )
        except MalformedResponse as exc:
            raise Unavailable(f"malformed order book: {exc}") from exc

    async def server_time_ms(self) -> int:
        return await self.transport.server_time_ms()

    async def mark_price(self, symbol: str) -> Decimal:
        return (await self.mark(symbol)).mark

    async def mark(self, symbol: str) -> Mark:
        """Mark, index and funding rate from the markets summary.

        Calls made while one is in flight share its answer: the guardian asks for the position
        (which needs the mark) and the mark at once, and that is one GET, not two.
        """
        pending = self._marks_in_flight.get(symbol)
        if pending is None:
            pending = self._marks_in_flight[symbol] = asyncio.ensure_future(self._read_mark(symbol))
            pending.add_done_callback(lambda _: self._marks_in_flight.pop(symbol, None))
        return await asyncio.shield(pending)

    async def _read_mark(self, symbol: str) -> Mark:
        raw = await self.transport.call("GET", "/markets/summary", params={"market": symbol})
        for row in _parsed("markets summary", rows, raw):
            if isinstance(row, dict) and row.get("symbol") == symbol:
                return _parsed("markets summary", mark_from_summary, row)
        raise Unavailable(f"no summary for {symbol} in the answer")

    # ------------------------------------------------------------ orders

    async def place_order(self, order: Place) -> OrderUpdate:
        """Place one order and follow it past ``NEW``; ``Rejected`` when refused (locally or by the venue)."""
        signed_body = await self.signed_order(order)
        try:
            raw = await self.transport.call(
                "POST", "/orders", body=signed_body, private=True, idempotent=False
            )
            update = order_from_venue(raw)
        except OutcomeUnknown as exc:
            return await self._resolve(order, cause=exc)
        except MalformedResponse as exc:
            return await self._resolve(order, cause=Unavailable(f"garbled answer to POST /orders: {exc}"))
        return await self._follow(update, str(raw.get("status")))

    async def signed_order(self, order: Place) -> Callable[[], dict[str, Any]]:
        """Check ``order`` against the market's rules (``Rejected`` if it does not fit) and give a
        function that builds its signed body (REST ``POST /orders`` and WebSocket ``order.create``)."""
        if not 0 <= order.client_id <= MAX_CLIENT_ID:
            raise Rejected(f"client id {order.client_id} is not a uint32", reason=Why.MALFORMED)
        rules = await self.rules(order.symbol)
        limit = order.order_type is OrderType.LIMIT
        if limit and order.price is None:
            raise Rejected("a limit order needs a price", reason=Why.BAD_PRICE)
        price = order.price if limit else None
        refusal = check_order(rules, quantity=order.quantity, price=price, reduce_only=order.reduce_only)
        if refusal is not None:
            shown = fmt(price) if price is not None else "market"
            raise Rejected(
                f"refused locally: {fmt(order.quantity)} @ {shown} does not fit {order.symbol} "
                f"(tick {fmt(rules.tick_size)}, step {fmt(rules.step_size)}, "
                f"min notional {fmt(rules.min_notional)})",
                reason=refusal,
            )
        signer = await self.transport.ready_to_sign()
        chain_id = await self.transport.chain_id()

        def signed_body() -> dict[str, Any]:
            # Rebuilt for every attempt: a re-sent order carries a fresh signature and timestamp.
            stamp_ms = self.transport.now_ms()
            message = order_message(
                timestamp_ms=stamp_ms,
                market=order.symbol,
                side=SIDE_TO_VENUE[order.side],
                order_type="LIMIT" if limit else "MARKET",
                size=order.quantity,
                price=price,
            )
            signature = signature_json(signer.sign(order_hash(chain_id, signer.account, message)))
            return order_body(order, signature=signature, signature_ms=stamp_ms)

        return signed_body

    async def _follow(self, update: OrderUpdate, status: str) -> OrderUpdate:
        """A placed order's outcome without polling (REST and WebSocket ``order.create``): the
        private stream tells it while it runs; otherwise one GET confirms it; ``Rejected`` if refused."""
        if status != "NEW":
            return order_outcome(update)
        told = self.watch.latest(order_id=update.order_id)
        if told is not None:
            return order_outcome(told)
        if self.watch.live:
            # The outcome (open, filled, refused) comes on the private stream: no GET for it.
            return update
        return await self._confirm(update)

    async def _confirm(self, update: OrderUpdate) -> OrderUpdate:
        """One GET for a ``NEW`` order while no private stream tells its outcome; ``Rejected`` if refused."""
        await asyncio.sleep(FIRST_FOLLOW_S)
        try:
            raw = await self._get_raw(update.symbol, order_id=update.order_id, client_id=None)
        except VenueError as exc:
            log.warning("paradex order %s: confirming it failed (%s)", update.order_id, exc)
            return update
        return update if raw is None else order_outcome(_parsed("order", order_from_venue, raw))

    async def _resolve(self, order: Place, *, cause: VenueError) -> OrderUpdate:
        """The order behind an unknown outcome, by client id from the stream or the order history;
        ``UnknownOrderState`` if never found (``/orders/by_client_id`` would miss a filled or refused one)."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.resolve_timeout_s
        last_error: VenueError = cause
        log.warning("paradex order %d outcome unknown (%s); looking it up", order.client_id, cause)
        while True:
            found = self.watch.latest(client_id=order.client_id)
            if found is None:
                try:
                    found = await self.get_order(order.symbol, client_id=order.client_id)
                except VenueError as exc:
                    last_error = exc
            if found is not None:
                log.info("paradex order %d resolved: %s %s", order.client_id, found.order_id, found.status)
                return order_outcome(found)
            if loop.time() >= give_up_at:
                raise UnknownOrderState(
                    f"order {order.client_id} still unknown after {self.resolve_timeout_s:g} s: {last_error}",
                    client_id=order.client_id,
                    venue_message=last_error.venue_message,
                ) from last_error
            await asyncio.sleep(self.resolve_poll_s)

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        """Cancel one open order and see it ``CLOSED``; ``Rejected(UNKNOWN_ORDER)`` if not open.

        The cancel is queued (204): the private stream tells when it is done; one GET confirms it
        only when the stream is not running or stays silent for ``follow_timeout_s``.
        """
        if order_id is not None:
            await self.transport.call("DELETE", f"/orders/{order_id}", private=True)
        else:
            path = f"/orders/by_client_id/{client_id}"
            await self.transport.call("DELETE", path, params={"market": symbol}, private=True)
        return await self._cancelled(symbol, order_id=order_id, client_id=client_id)

    async def _cancelled(self, symbol: str, *, order_id: str | None, client_id: int | None) -> OrderUpdate:
        """An order whose cancel is queued (REST 204, WebSocket ``QUEUED``), once closed: from the
        private stream, or one GET when it is not running or stays silent for ``follow_timeout_s``."""
        after = await self.watch.wait(
            order_id=order_id,
            client_id=client_id,
            done=lambda update: not update.status.is_open,
            timeout_s=self.follow_timeout_s,
        )
        if after is None:
            after = await self.get_order(symbol, order_id=order_id, client_id=client_id)
        if after is None:
            raise Rejected(f"no order {order_id or client_id} on {symbol}", reason=Why.UNKNOWN_ORDER)
        if after.status.is_open:
            raise Unavailable(f"cancel of {after.order_id} accepted but the order is still open")
        return after

    async def cancel_all(self, symbol: str) -> int:
        """Cancel every open order on ``symbol``, conditional ones too; how many were open when asked.

        The docs do not say that ``DELETE /orders`` reaches untriggered stops and take-profits:
        the conditional orders listed are cancelled one by one after it.
        """
        open_now = await self.open_orders(symbol)
        await self.transport.call("DELETE", "/orders", params={"market": symbol}, private=True)
        for order in open_now:
            if order.order_type is OrderType.CONDITIONAL:
                with contextlib.suppress(Rejected):
                    await self.cancel_order(symbol, order_id=order.order_id)
        return len(open_now)

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        raw = await self.transport.call("GET", "/orders", params={"market": symbol}, private=True)
        return [_parsed("open order", order_from_venue, row) for row in _parsed("open orders", rows, raw)]

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate | None:
        """The order in whatever state (Paradex keeps closed ones); None when it has no such order."""
        raw = await self._get_raw(symbol, order_id=order_id, client_id=client_id)
        return None if raw is None else _parsed("order", order_from_venue, raw)

    async def _get_raw(self, symbol: str, *, order_id: str | None, client_id: int | None) -> Any:
        if (order_id is None) == (client_id is None):
            raise ValueError("give exactly one of order_id and client_id")
        if client_id is not None:
            # The order history sees every order; ``/orders/by_client_id`` open ones only.
            params = {"market": symbol, "client_id": client_id, "page_size": 1}
            raw = await self.transport.call("GET", "/orders-history", params=params, private=True)
            found = _parsed("order history", rows, raw)
            return found[0] if found and isinstance(found[0], dict) else None
        try:
            raw = await self.transport.call("GET", f"/orders/{order_id}", private=True)
        except Rejected as exc:
            if exc.reason is Why.UNKNOWN_ORDER:
                return None
            raise
        if not isinstance(raw, dict):
            raise Unavailable(f"malformed order answer: {raw!r}")
        return raw if raw.get("market") == symbol else None

    async def leverage(self, symbol: str) -> Decimal | None:
        """The account's leverage on ``symbol`` (``GET /account/margin``), capped by the market's maximum
        (``1 / imf_base`` in ``/markets``); None when the venue tells neither."""
        raw = await self.transport.call("GET", "/account/margin", params={"market": symbol}, private=True)
        configs = raw.get("configs") if isinstance(raw, dict) else None
        account = next(
            (
                leverage_of(row.get("leverage"))
                for row in (configs if isinstance(configs, list) else [])
                if isinstance(row, dict) and row.get("market") == symbol
            ),
            None,
        )
        markets = await self.transport.call("GET", "/markets", params={"market": symbol})
        market = next(
            (
                market_max_leverage(row)
                for row in _parsed("markets", rows, markets)
                if isinstance(row, dict) and row.get("symbol") == symbol
            ),
            None,
        )
        known = [value for value in (account, market) if value is not None]
        return min(known) if known else None

    # ------------------------------------------------------------ account

    async def position(self, symbol: str) -> Position:
        """The net position on ``symbol``, marked at the markets summary's mark price."""
        raw, summary = await asyncio.gather(
            self.transport.call("GET", "/positions", private=True), self.mark(symbol)
        )
        mark = summary.mark
        for row in _parsed("positions", rows, raw):
            if isinstance(row, dict) and row.get("market") == symbol and row.get("status") != "CLOSED":
                return _parsed("position", lambda r: position_from_venue(r, mark=mark), row)
        return Position(symbol=symbol, quantity=Decimal(0), entry_price=Decimal(0), mark_price=mark)

    async def collateral(self) -> Balance:
        """Equity and free collateral; the margin fraction is equity over the positions' notional at mark."""
        raw = await self.transport.call("GET", "/account", private=True)
        try:
            equity = dec(field(raw, "account_value"))
            balance = Balance(
                asset=str(raw.get("settlement_asset") or "USDC"),
                equity=equity,
                available=dec(field(raw, "free_collateral")),
            )
        except (MalformedResponse, AttributeError) as exc:
            raise Unavailable(f"malformed account: {exc}") from exc
        positions = await self.transport.call("GET", "/positions", private=True)
        notional = sum(
            (_parsed("position", position_notional, row) for row in _parsed("positions", rows, positions)),
            Decimal(0),
        )
        return dataclasses.replace(balance, margin_fraction=equity / notional if notional else None)

    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]:
        """Fill history, oldest first: from ``since_ms`` on, else the newest ``limit``."""
        found = await self._pages("/fills", symbol, since_ms=since_ms, limit=limit)
        return [_parsed("fill", fill_from_venue, row) for row in reversed(found)]

    async def funding_payments(self, symbol: str, *, since_ms: int | None = None) -> list[FundingPayment]:
        found = await self._pages("/funding/payments", symbol, since_ms=since_ms, limit=10 * MAX_PAGE)
        return [_parsed("funding payment", funding_from_venue, row) for row in reversed(found)]

    async def _pages(self, path: str, symbol: str, *, since_ms: int | None, limit: int) -> list[Any]:
        """Newest-first rows across cursor pages, at most ``limit``."""
        found: list[Any] = []
        cursor: str | None = None
        while len(found) < limit:
            params = {"market": symbol, "start_at": since_ms, "page_size": min(MAX_PAGE, limit - len(found))}
            raw = await self.transport.call("GET", path, params={**params, "cursor": cursor}, private=True)
            found.extend(_parsed(path, rows, raw))
            cursor = raw.get("next") if isinstance(raw, dict) else None
            if not cursor:
                break
        return found[:limit]


def _parsed(what: str, parse: Callable[[Any], T], raw: Any) -> T:
    try:
        return parse(raw)
    except MalformedResponse as exc:
        raise Unavailable(f"malformed {what}: {exc}") from exc
