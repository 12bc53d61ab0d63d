"""The order desk: serves ``place``, ``cancel``, ``cancel_all``, ``snapshot`` and ``ping``, and applies
what the venue reports (orders, fills, positions) to the journal, the live state and the ``exec`` bus.

Every refusal is a reply with a reason, never silence.  The client order id
is the idempotency key end to end: a ``place`` whose client id is in the
journal is answered from it and never sent twice, across restarts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from order_gateway import metrics as og_metrics
from order_gateway.calls import VenueCalls, venue_reason
from order_gateway.journal import UNKNOWN, Journal, JournalOrder
from order_gateway.limits import (
    Limits,
    Refusal,
    TokenBucket,
    check_client_id,
    check_place,
    check_state,
    is_guardian,
)
from order_gateway.state import SymbolState
from services.bus import Publisher
from services.codec import Envelope
from services.foreign import describe_order, describe_orders
from services.logs import log_once
from services.wire import (
    Balance,
    Cancel,
    CancelAll,
    CancelAllReply,
    ErrorReply,
    Fill,
    Message,
    OrderReply,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Ping,
    Place,
    Pong,
    Position,
    RejectReason,
    Snapshot,
    SnapshotRequest,
    TradingState,
)
from venues.base import UnknownOrderState, Venue, VenueError
from venues.precision import MarketRules

log = logging.getLogger(__name__)

PROCESS = "order_gateway"
MAX_BUDGET_WAIT_S = 1.0  # a place that would wait longer for the venue's budget is refused
IN_FLIGHT_WAIT_S = 15.0  # how long a cancel by client id waits for that order's place to finish
MARK_FRESH_S = 30.0  # an md mark older than this no longer values market orders
FILL_GRACE_S = 2.0  # how long a reported fill may lag its order's update on the stream


@dataclass(slots=True)
class DeskStatus:
    """What the desk needs to know about the rest of the process."""

    ready: bool = False  # reconciled with the venue at least once
    stream_live: bool = False  # the private stream is connected
    balance: Balance | None = None


class OrderDesk:
    def __init__(
        self,
        *,
        rules: MarketRules,
        venue: Venue,
        calls: VenueCalls,
        journal: Journal,
        state: SymbolState,
        limits: Limits,
        order_bucket: TokenBucket,
        trading: Callable[[], tuple[TradingState, str]],
        publisher: Publisher,
    ) -> None:
        self.rules = rules
        self.symbol = rules.symbol
        self.venue = venue
        self.calls = calls
        self.journal = journal
        self.state = state
        self.limits = limits
        self.order_bucket = order_bucket
        self.trading = trading
        self.pub = publisher
        self.status = DeskStatus()
        self._placed: dict[int, asyncio.Event] = {}
        # order id -> (deadline, client id, filled size) of orders whose fills are awaited
        self.fills_due: dict[str, tuple[float, int | None, Decimal]] = {}
        self._mark: tuple[Decimal, float] | None = None

    # ------------------------------------------------------------ requests

    async def handle(self, env: Envelope) -> Message:
        """Answer one request (the ``orders`` ROUTER's handler)."""
        msg = env.body
        if isinstance(msg, Place):
            return await self.place(msg)
        if isinstance(msg, Cancel):
            return await self.cancel(msg)
        if isinstance(msg, CancelAll):
            return await self.cancel_all(msg)
        if isinstance(msg, SnapshotRequest):
            return self.snapshot(msg)
        if isinstance(msg, Ping):
            return Pong(process=PROCESS, state=self.trading()[0])
        og_metrics.ORDER_REJECTS.labels(RejectReason.MALFORMED.value).inc()
        return ErrorReply(
            reason=RejectReason.MALFORMED, message=f"the order gateway does not serve {env.type!r}"
        )

    async def place(self, place: Place) -> OrderReply:
        refusal = self._pre_trade(place)
        if refusal is not None:
            return self._refuse(place, refusal)
        existing = self.journal.order(place.client_id)
        if existing is not None:
            return self._replay(existing)
        state_refusal = self._admission(place)
        if state_refusal is not None:
            return self._refuse(place, state_refusal)
        cid = place.client_id
        self.journal.record_intent(place, now_ns=time.time_ns())
        self.state.in_flight[cid] = place
        done = self._placed[cid] = asyncio.Event()
        sent_s = time.monotonic()
        og_metrics.ORDERS_SUBMITTED.labels(place.side.value).inc()
        try:
            update = await self.calls.call("place_order", self.venue.place_order(place))
        except UnknownOrderState as exc:
            self.state.unknown[cid] = place
            self.journal.record_status(cid, UNKNOWN, reason=str(exc), now_ns=time.time_ns())
            og_metrics.UNKNOWN_ORDERS.set(len(self.state.unknown))
            log.error("order %d outcome unknown (%s); resolving it by its client id", cid, exc)
            return self._rejected(
                place, RejectReason.UNKNOWN_STATE, f"outcome unknown, being resolved: {exc}"
            )
        except VenueError as exc:
            reason = venue_reason(exc)
            self.journal.record_status(
                cid, OrderStatus.REJECTED.value, reason=f"{reason.value}: {exc}", now_ns=time.time_ns()
            )
            return self._rejected(place, reason, str(exc))
        finally:
            self.state.in_flight.pop(cid, None)
            self._placed.pop(cid, None)
            done.set()
        og_metrics.ACK_LATENCY.observe(time.monotonic() - sent_s)
        self.on_order(update, ts_ns=time.time_ns())
        # The stream may have told more already (a fill racing the REST answer).
        return OrderReply(ok=True, order=self.state.latest(update.order_id) or update)

    def _pre_trade(self, place: Place) -> Refusal | None:
        if place.symbol != self.symbol:
            return Refusal(RejectReason.MALFORMED, f"this gateway trades {self.symbol}, not {place.symbol}")
        if place.order_type is OrderType.CONDITIONAL:
            return Refusal(
                RejectReason.MALFORMED, "perp-mm places limit and market orders only, never conditional"
            )
        return check_client_id(place.client_id)

    def _admission(self, place: Place) -> Refusal | None:
        """Everything that may refuse a new order before it is sent, cheapest first."""
        if not self.status.ready:
            return Refusal(RejectReason.UNAVAILABLE, "the gateway is reconciling with the venue")
        if not self.status.stream_live:
            return Refusal(RejectReason.UNAVAILABLE, "the private stream is down; orders wait for it")
        state, why = self.trading()
        refusal = check_state(place, state=state, why=why)
        if refusal is not None:
            return refusal
        if self.state.unknown:
            ids = ", ".join(str(cid) for cid in self.state.unknown)
            return Refusal(
                RejectReason.UNKNOWN_STATE, f"order(s) {ids} of unknown outcome are being resolved"
            )
        refusal = check_place(
            place, limits=self.limits, exposure=self.state.exposure(), reference_price=self.reference_price()
        )
        if refusal is not None:
            return refusal
        if not self.order_bucket.try_take(now_s=time.monotonic()):
            return Refusal(RejectReason.RATE_LIMITED, "above the gateway's order rate limit")
        if self.calls.budget_wait_s() > MAX_BUDGET_WAIT_S:
            return Refusal(RejectReason.RATE_LIMITED, "the venue's request budget is spent")
        return None

    def on_mark(self, mark: Decimal, *, now_s: float) -> None:
        """The market's mark price from md (values market orders for the notional limit)."""
        self._mark = (mark, now_s)

    def reference_price(self) -> Decimal | None:
        """The price a market order is valued at: a fresh md mark, else the position's mark."""
        if self._mark is not None and time.monotonic() - self._mark[1] <= MARK_FRESH_S:
            return self._mark[0]
        position = self.state.position
        return position.mark_price if position is not None else None

    def _replay(self, existing: JournalOrder) -> OrderReply:
        """The first answer to a client id already journaled (a retry never places twice)."""
        if existing.status == OrderStatus.REJECTED.value:
            reason, _, message = existing.reason.partition(": ")
            try:
                known = RejectReason(reason)
            except ValueError:
                known = RejectReason.OTHER
            return OrderReply(ok=False, reason=known, message=message or existing.reason)
        live = self.state.by_client_id(existing.place.client_id)
        update = live or existing.as_update()
        if update is None:
            return OrderReply(
                ok=False,
                reason=RejectReason.UNKNOWN_STATE,
                message=f"order {existing.place.client_id} is {existing.status}; it is being resolved",
            )
        return OrderReply(ok=True, order=update, message="already placed (client id seen before)")

    def _refuse(self, place: Place, refusal: Refusal) -> OrderReply:
        log.info("refused order %d: %s (%s)", place.client_id, refusal.reason.value, refusal.message)
        return self._rejected(place, refusal.reason, refusal.message)

    def _rejected(self, place: Place, reason: RejectReason, message: str) -> OrderReply:
        og_metrics.ORDER_REJECTS.labels(reason.value).inc()
        return OrderReply(ok=False, reason=reason, message=message)

    async def cancel(self, cancel: Cancel) -> OrderReply:
        if cancel.symbol != self.symbol:
            return OrderReply(
                ok=False, reason=RejectReason.MALFORMED, message=f"this gateway trades {self.symbol}"
            )
        if (cancel.client_id is None) == (cancel.order_id is None):
            return OrderReply(
                ok=False, reason=RejectReason.MALFORMED, message="give one of client_id and order_id"
            )
        placing = self._placed.get(cancel.client_id) if cancel.client_id is not None else None
        if placing is not None:
            # Cancelling by client id before the venue has the order would miss it.
            try:
                async with asyncio.timeout(IN_FLIGHT_WAIT_S):
                    await placing.wait()
            except TimeoutError:
                return OrderReply(
                    ok=False, reason=RejectReason.UNKNOWN_STATE, message="its place is still in flight"
                )
        try:
            update = await self.calls.call(
                "cancel_order",
                self.venue.cancel_order(self.symbol, order_id=cancel.order_id, client_id=cancel.client_id),
            )
        except VenueError as exc:
            reason = venue_reason(exc)
            og_metrics.ORDER_REJECTS.labels(reason.value).inc()
            return OrderReply(ok=False, reason=reason, message=str(exc))
        self.on_order(update, ts_ns=time.time_ns())
        return OrderReply(ok=True, order=update)

    async def cancel_all(self, request: CancelAll) -> CancelAllReply:
        """Cancel every order of perp-mm's on the symbol, one by one; foreign orders stay.

        Places still in flight are awaited first (they would land after the cancels);
        orders of unknown outcome are cancelled by client id.
        """
        if request.symbol != self.symbol:
            return CancelAllReply(
                ok=False, reason=RejectReason.MALFORMED, message=f"this gateway trades {self.symbol}"
            )
        if self._placed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IN_FLIGHT_WAIT_S):
                    await asyncio.gather(*(done.wait() for done in list(self._placed.values())))
        ours = [
            t.order
            for t in self.state.open.values()
            if not t.order.foreign and not is_guardian(t.order.client_id)
        ]
        cancels = [Cancel(symbol=self.symbol, order_id=order.order_id) for order in ours]
        cancels += [Cancel(symbol=self.symbol, client_id=cid) for cid in self.state.unknown]
        replies = await asyncio.gather(*(self.cancel(cancel) for cancel in cancels))
        failed = [r for r in replies if not r.ok and r.reason is not RejectReason.UNKNOWN_ORDER]
        cancelled = sum(1 for r in replies if r.ok)
        foreign = [t.order for t in self.state.open.values() if t.order.foreign]
        kept = f"; {len(foreign)} foreign order(s) left alone ({describe_orders(foreign)})" if foreign else ""
        if failed:
            log.warning(
                "cancel-all on %s: %d of %d cancel(s) failed%s", self.symbol, len(failed), len(cancels), kept
            )
            first = failed[0]
            return CancelAllReply(
                ok=False,
                cancelled=cancelled,
                reason=first.reason,
                message=f"{len(failed)} cancel(s) failed: {first.message}",
            )
        log.info("cancelled all %d order(s) of ours on %s%s", cancelled, self.symbol, kept)
        return CancelAllReply(ok=True, cancelled=cancelled)

    def snapshot(self, request: SnapshotRequest) -> Message:
        """Open orders, position and balances with the exec publisher's seq, taken at one instant."""
        if request.symbol != self.symbol:
            return ErrorReply(reason=RejectReason.MALFORMED, message=f"this gateway trades {self.symbol}")
        if not self.status.ready:
            return ErrorReply(
                reason=RejectReason.UNAVAILABLE, message="the gateway is reconciling with the venue"
            )
        return Snapshot(
            symbol=self.symbol,
            exec_seq=self.pub.seq,
            exec_src=self.pub.src,
            orders=self.state.open_orders(),
            position=self.state.position,
            balances=[self.status.balance] if self.status.balance is not None else [],
            state=self.trading()[0],
        )

    # ------------------------------------------------------------ what the venue reports

    def on_order(self, update: OrderUpdate, *, ts_ns: int) -> None:
        """Apply an order's state; journal and publish it when it changed.

        An order not in the journal and not the guardian's is foreign (a stop set in the venue's
        web app, another program on the account): it is tracked and published with ``foreign``
        set, counts in the worst-case position unless reduce-only, and is never cancelled here.
        """
        now_s = time.monotonic()
        owner = self.journal.owner(update)
        if owner is None and not is_guardian(update.client_id):
            update = dataclasses.replace(update, foreign=True)
        if not self.state.apply(update, now_s=now_s):
            return
        if owner is not None:
            self.journal.record_order(update, now_ns=time.time_ns(), client_id=owner)
        elif update.foreign and update.status.is_open:
            log_once(
                log,
                f"foreign:{update.order_id}",
                f"order {update.order_id} ({describe_order(update)}, client id {update.client_id}) on "
                f"{self.symbol} was not placed by perp-mm: left alone (only the kill switch and flatten "
                "cancel it)",
            )
        if update.filled_quantity > 0:
            # The stream sends each fill next to the order's update; if it has not come
            # by the deadline, the fill history is read (``fills_missing``).
            self.fills_due[update.order_id] = (now_s + FILL_GRACE_S, update.client_id, update.filled_quantity)
        self.pub.publish(f"ex.order.{self.symbol}", update, ts_ns=ts_ns)
        og_metrics.OPEN_ORDERS.set(len(self.state.open))
        og_metrics.FOREIGN_ORDERS.set(sum(1 for t in self.state.open.values() if t.order.foreign))
        og_metrics.UNKNOWN_ORDERS.set(len(self.state.unknown))

    def fills_missing(self, *, now_s: float) -> bool:
        """True when an order reported filled past its deadline has fewer fills journaled than that."""
        missing = False
        for order_id, (due_s, client_id, filled) in list(self.fills_due.items()):
            if now_s < due_s:
                continue
            del self.fills_due[order_id]
            cid = client_id if client_id is not None else 0
            if self.journal.filled_quantity(self.symbol, client_id=cid, order_id=order_id) < filled:
                missing = True
        return missing

    def on_fill(self, fill: Fill, *, ts_ns: int) -> bool:
        """Journal a fill and publish it if it is new (the stream and REST history both report it)."""
        if fill.symbol != self.symbol or not self.journal.add_fill(fill, ts_ns=ts_ns):
            return False
        self.pub.publish(f"ex.fill.{self.symbol}", fill, ts_ns=ts_ns)
        og_metrics.FILLS.labels(fill.side.value, "maker" if fill.is_maker else "taker").inc()
        og_metrics.FILL_VOLUME.inc(float(fill.quantity))
        if fill.fee_asset == self.rules.quote_asset and fill.fee > 0:
            og_metrics.FEES.inc(float(fill.fee))
        return True

    def on_position(self, position: Position, *, ts_ns: int) -> None:
        if self.state.set_position(position):
            self.pub.publish(f"ex.position.{self.symbol}", position, ts_ns=ts_ns)

    def on_balance(self, balance: Balance, *, ts_ns: int) -> None:
        self.status.balance = balance
        self.pub.publish("ex.balance", balance, ts_ns=ts_ns)
