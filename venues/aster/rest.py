"""Aster's futures REST API as the ``Venue`` calls it: markets, orders, positions, account, history.

Orders are checked against the market's tick, step, minimum quantity and
``MIN_NOTIONAL`` before they are sent, so they are refused locally with the
right ``RejectReason`` (reduce-only orders are exempt from the notional, as on
the venue).  Post-only is ``timeInForce=GTX``; a market whose venue refuses GTX
(-1115) is switched to GTC once, logged, and from then on a post-only order is
sent only when the current book shows it would not take.  ``newClientOrderId``
is the idempotency key: an order whose outcome is unknown (a timeout, a 5xx,
-1006, -1007) is never re-sent but looked up by it until the signing window
has closed: v1's ``recvWindow``, v3's nonce window (60 s either side of the
venue's clock, tracked per API wallet).  In v3 a ``POST /fapi/v3/noop`` with
the order's nonce closes the window early: accepted, the nonce was still
unused, so the order never executed and never will.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from services.logs import log_once
from services.wire import (
    Balance,
    Bbo,
    Fill,
    FundingPayment,
    Mark,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    RejectReason,
    Side,
)
from venues.aster.errors import INVALID_TIME_IN_FORCE, POSITION_SIDE_MISMATCH, AsterRejected
from venues.aster.history import Fetch, OrderClientIds, funding_income, parsed, rows, user_trades
from venues.aster.parse import (
    MAX_CLIENT_ID,
    PositionLegs,
    balance_from_account,
    bbo_from_rest,
    legs_from_rest,
    mark_from_rest,
    market_rules,
    minute_limits,
    order_from_rest,
    order_params,
    order_ref,
    placement_rejection,
    refusal_text,
)
from venues.aster.signing import Eip712Signer, HmacSigner
from venues.aster.transport import AsterTransport, OutcomeUnknown
from venues.base import DepthSnapshot, Rejected, Unavailable, UnknownOrderState, VenueError
from venues.common.markets import MarketCache
from venues.common.parse import MalformedResponse, field, integer, levels, leverage_of
from venues.precision import MarketRules, check_order, fmt

log = logging.getLogger(__name__)

V3_NONCE_WINDOW_MS = 60_000
MAX_CLIENT_ID_LOOKUPS = 20


class AsterRest:
    """The REST half of the connector, on one ``AsterTransport``."""

    def __init__(
        self,
        transport: AsterTransport,
        *,
        resolve_poll_s: float = 0.25,
        resolve_grace_ms: int = 1000,
        resolve_timeout_s: float = 75.0,  # past the 60 s v3 nonce window: a lost order is found lost
        depth_limit: int = 1000,
    ) -> None:
        self.transport = transport
        self.resolve_poll_s = resolve_poll_s
        self.resolve_grace_ms = resolve_grace_ms
        self.resolve_timeout_s = resolve_timeout_s
        self.depth_limit = depth_limit
        self.markets = MarketCache("Aster", self._market_list, market_rules)
        self._no_gtx: set[str] = set()
        self.client_ids = OrderClientIds()

    @property
    def v3(self) -> bool:
        return isinstance(self.transport.signer, Eip712Signer)

    def path(self, name: str, *, v1_version: str = "v1") -> str:
        """A signed endpoint's path in the configured auth generation (v3: ``/fapi/v3/...``)."""
        return f"/fapi/v3/{name}" if self.v3 else f"/fapi/{v1_version}/{name}"

    def _window_ms(self) -> int:
        signer = self.transport.signer
        return signer.recv_window_ms if isinstance(signer, HmacSigner) else V3_NONCE_WINDOW_MS

    # ------------------------------------------------------------ public data

    async def load_markets(self) -> dict[str, MarketRules]:
        """Every perpetual market's rules (cached for order checks)."""
        return await self.markets.load()

    async def _market_list(self) -> list[Any]:
        raw = await self.transport.call("GET", "/fapi/v1/exchangeInfo")
        symbols = raw.get("symbols") if isinstance(raw, dict) else None
        if not isinstance(symbols, list):
            raise Unavailable("malformed exchangeInfo answer: no symbols list")
        limits = minute_limits(raw.get("rateLimits"))
        self.transport.set_limits(
            weight_per_min=limits.get("REQUEST_WEIGHT"), orders_per_min=limits.get("ORDERS")
        )
        return symbols

    async def rules(self, symbol: str) -> MarketRules:
        return await self.markets.rules(symbol)

    async def server_time_ms(self) -> int:
        return await self.transport.server_time_ms()

    async def depth(self, symbol: str) -> DepthSnapshot:
        """The order book snapshot that seeds the stream's local book."""
        raw = await self.transport.call(
            "GET", "/fapi/v1/depth", params={"symbol": symbol, "limit": self.depth_limit}
        )
        try:
            bids, asks = levels(field(raw, "bids")), levels(field(raw, "asks"))
            last_update_id = integer(field(raw, "lastUpdateId"))
            stamp = raw.get("E", raw.get("T"))
            ts_ns = integer(stamp) * 1_000_000 if stamp is not None else None
        except MalformedResponse as exc:
            raise Unavailable(f"malformed depth answer: {exc}") from exc
        return DepthSnapshot(bids=bids, asks=asks, last_update_id=last_update_id, ts_ns=ts_ns)

    async def mark(self, symbol: str) -> Mark:
        raw = await self.transport.call("GET", "/fapi/v1/premiumIndex", params={"symbol": symbol})
        return parsed("mark price", mark_from_rest, raw)

    async def mark_price(self, symbol: str) -> Decimal:
        return (await self.mark(symbol)).mark

    async def book_ticker(self, symbol: str) -> Bbo:
        raw = await self.transport.call("GET", "/fapi/v1/ticker/bookTicker", params={"symbol": symbol})
        return parsed("book ticker", bbo_from_rest, raw)

    # ------------------------------------------------------------ orders

    async def place_order(self, order: Place) -> OrderUpdate:
        """Place one order; ``Rejected`` when refused (locally or by the venue).

        ``Unavailable`` means the order is known not to exist; ``UnknownOrderState``
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
            raise Rejected(refusal_text(order, rules, refusal), reason=refusal)
        if order.post_only and order.symbol in self._no_gtx:
            await self._check_would_not_take(order)
            return await self._send(order, post_only_tif="GTC")
        try:
            return await self._send(order, post_only_tif="GTX")
        except AsterRejected as exc:
            if not order.post_only or exc.code != INVALID_TIME_IN_FORCE:
                raise
        self._no_gtx.add(order.symbol)
        log_once(
            log,
            f"aster.gtx.{order.symbol}",
            f"Aster refuses timeInForce=GTX on {order.symbol}: post-only orders go as GTC from now on, "
            "sent only when the book shows they would not take",
        )
        await self._check_would_not_take(order)
        return await self._send(order, post_only_tif="GTC")

    async def _check_would_not_take(self, order: Place) -> None:
        """Refuse a GTC stand-in for a post-only order that the current book shows would take."""
        assert order.price is not None
        top = await self.book_ticker(order.symbol)
        crosses = order.price >= top.ask if order.side is Side.BUY else order.price <= top.bid
        if crosses:
            raise Rejected(
                f"post-only {order.side} at {fmt(order.price)} would take "
                f"(book {fmt(top.bid)}/{fmt(top.ask)})",
                reason=RejectReason.POST_ONLY_WOULD_TAKE,
            )

    async def _send(self, order: Place, *, post_only_tif: str) -> OrderUpdate:
        params = order_params(order, post_only_tif=post_only_tif)
        sent_ms = self.transport.now_ms()
        try:
            raw = await self.transport.call(
                "POST", self.path("order"), params=params, signed=True, idempotent=False
            )
            update = self.client_ids.remember(order_from_rest(raw))
        except AsterRejected as exc:
            if exc.code != POSITION_SIDE_MISMATCH:
                raise
            # Orders go without positionSide (BOTH): a hedge-mode account refuses every one of them.
            raise Rejected(
                "Aster refused the order because the account is in hedge (dual-side) position mode: "
                "switch it to one-way mode, perp-mm trades one net position",
                reason=exc.reason,
                venue_message=exc.venue_message,
            ) from exc
        except OutcomeUnknown as exc:
            if exc.nonce_us is not None and await self._noop(exc.nonce_us):
                raise Unavailable(
                    f"order {order.client_id} was not placed ({exc}): a noop took its nonce first",
                    venue_message=exc.venue_message,
                ) from exc
            absent_after_ms = sent_ms + self._window_ms() + self.resolve_grace_ms
            return await self._resolve(order, absent_after_ms=absent_after_ms, cause=exc)
        except MalformedResponse as exc:
            cause = Unavailable(f"garbled answer to the order: {exc}")
            return await self._resolve(order, absent_after_ms=self.transport.now_ms(), cause=cause)
        rejection = placement_rejection(update)
        if rejection is not None:
            raise Rejected(
                f"order {order.client_id} expired at once (post-only would take)", reason=rejection
            )
        return update

    async def _noop(self, nonce_us: int) -> bool:
        """True when ``POST /fapi/v3/noop`` took ``nonce_us``: no request with it has executed, or will."""
        try:
            raw = await self.transport.call(
                "POST", "/fapi/v3/noop", signed=True, idempotent=False, nonce_us=nonce_us
            )
        except VenueError as exc:
            # Refused as used (the order reached the venue) or no answer: the lookup decides.
            log.info("aster noop with nonce %d did not go through: %s", nonce_us, exc)
            return False
        return isinstance(raw, dict) and raw.get("code") == 200

    async def _resolve(self, order: Place, *, absent_after_ms: int, cause: VenueError) -> OrderUpdate:
        """The order behind an unknown outcome, found by client id; ``Unavailable`` if it does not exist."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.resolve_timeout_s
        last_error: VenueError = cause
        misses = 0
        log.warning("aster order %d outcome unknown (%s); looking it up", order.client_id, cause)
        while True:
            try:
                found = await self.get_order(order.symbol, client_id=order.client_id)
            except VenueError as exc:
                last_error, misses = exc, 0
            else:
                if found is not None:
                    log.info("aster order %d resolved: %s %s", order.client_id, found.order_id, found.status)
                    return found
                # Two misses once the window has closed: the venue can no longer accept it.
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

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        """Cancel one open order; ``Rejected(UNKNOWN_ORDER)`` when there is no such open order."""
        raw = await self.transport.call(
            "DELETE", self.path("order"), params=order_ref(symbol, order_id, client_id), signed=True
        )
        return self.client_ids.remember(parsed("cancelled order", order_from_rest, raw))

    async def cancel_all(self, symbol: str) -> int:
        """The venue's cancel-all on ``symbol``; how many orders this connector last saw open there.

        The ``DELETE`` goes first, before anything that could fail (a kill switch
        must not wait on a listing).  The venue answers only "done", so the count
        is of the orders last seen open here (answers and the user stream).  The
        docs do not say that it cancels conditional orders (a trader's stop):
        what ``open_orders`` still lists afterwards must be cancelled one by one.
        """
        await self.transport.call(
            "DELETE", self.path("allOpenOrders"), params={"symbol": symbol}, signed=True
        )
        return self.client_ids.forget_open(symbol)

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        raw = await self.transport.call(
            "GET", self.path("openOrders"), params={"symbol": symbol}, signed=True
        )
        return [
            self.client_ids.remember(parsed("open order", order_from_rest, row))
            for row in rows(raw, "open orders")
        ]

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate | None:
        """The order in any state (open, filled, cancelled); None when the venue has no such order."""
        try:
            raw = await self.transport.call(
                "GET", self.path("order"), params=order_ref(symbol, order_id, client_id), signed=True
            )
        except Rejected as exc:
            if exc.reason is RejectReason.UNKNOWN_ORDER:
                return None
            raise
        return self.client_ids.remember(parsed("order", order_from_rest, raw))

    # ------------------------------------------------------------ dead-man switch and user stream

    async def countdown_cancel_all(self, symbol: str, *, countdown_ms: int) -> None:
        """Cancel every order on ``symbol`` unless called again within ``countdown_ms`` (0 disarms)."""
        params = {"symbol": symbol, "countdownTime": countdown_ms}
        await self.transport.call("POST", self.path("countdownCancelAll"), params=params, signed=True)

    async def listen_key(self, method: str) -> str | None:
        """``POST`` a new user-stream key (returned), ``PUT`` keeps it alive, ``DELETE`` closes it."""
        if self.v3:
            raw = await self.transport.call(method, "/fapi/v3/listenKey", signed=True)
        else:
            raw = await self.transport.call(method, "/fapi/v1/listenKey", key_only=True)
        if method != "POST":
            return None
        key = raw.get("listenKey") if isinstance(raw, dict) else None
        if not isinstance(key, str) or not key:
            raise Unavailable(f"malformed listenKey answer {raw!r}")
        return key

    # ------------------------------------------------------------ account

    async def _position_risk(self, symbol: str) -> Any:
        path = self.path("positionRisk", v1_version="v2")
        return await self.transport.call("GET", path, params={"symbol": symbol}, signed=True)

    async def position_legs(self, symbol: str) -> PositionLegs:
        raw = await self._position_risk(symbol)
        return parsed("positions", lambda rows: legs_from_rest(rows, symbol), raw)

    async def position(self, symbol: str) -> Position:
        """The net position on ``symbol`` (one-way or hedge mode; flat when none)."""
        return (await self.position_legs(symbol)).net()

    async def leverage(self, symbol: str) -> Decimal | None:
        """The leverage set on ``symbol`` (``leverage`` of its ``positionRisk`` rows)."""
        raw = await self._position_risk(symbol)
        rows = raw if isinstance(raw, list) else []
        found = (row.get("leverage") for row in rows if isinstance(row, dict) and row.get("symbol") == symbol)
        return leverage_of(next(found, None))

    async def collateral(self) -> Balance:
        """Equity and available margin (v1 ``/fapi/v4/account``, v3 ``/fapi/v3/accountWithJoinMargin``)."""
        path = "/fapi/v3/accountWithJoinMargin" if self.v3 else "/fapi/v4/account"
        raw = await self.transport.call("GET", path, signed=True)
        return parsed("account", balance_from_account, raw)

    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]:
        """Fill history, oldest first: from ``since_ms`` on, else the newest ``limit``.

        The venue's trade rows lack the client id: it comes from the orders seen, and
        for up to ``MAX_CLIENT_ID_LOOKUPS`` other orders from a query of each.
        """
        fetched = await user_trades(
            self._signed_get(self.path("userTrades")), symbol, since_ms=since_ms, limit=limit
        )
        fills, missing = self.client_ids.fill_in(fetched)
        if not missing:
            return fills
        for order_id in missing[-MAX_CLIENT_ID_LOOKUPS:]:
            try:
                await self.get_order(symbol, order_id=order_id)
            except VenueError as exc:
                # The fills are what was asked for; a missing client id only weakens attribution.
                log.warning("aster: no client id for the fills of order %s: %s", order_id, exc)
                break
        return self.client_ids.fill_in(fills)[0]

    async def funding_payments(self, symbol: str, *, since_ms: int | None = None) -> list[FundingPayment]:
        """Funding history (``income`` of type ``FUNDING_FEE``), oldest first."""
        return await funding_income(self._signed_get(self.path("income")), symbol, since_ms=since_ms)

    def _signed_get(self, path: str) -> Fetch:
        async def fetch(params: dict[str, Any]) -> Any:
            return await self.transport.call("GET", path, params=params, signed=True)

        return fetch
