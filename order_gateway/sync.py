"""Reconciliation with the venue, at start and after every private-stream reconnect, and the slow polls.

Reconciling: the venue's open orders and position over REST; ours still open
are adopted, foreign ones (the guardian's, a stop or take-profit set in the
venue's web app, another program's) are tracked and never cancelled; fills missed
while away are fetched from the history and journaled (once, by trade id);
our orders that vanished are closed from the fills journaled for them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from order_gateway import metrics as og_metrics
from order_gateway.desk import OrderDesk
from order_gateway.journal import PENDING
from order_gateway.state import closed_while_away, plan_reconcile
from services.foreign import describe_orders
from services.wire import OrderUpdate, RejectReason
from venues.base import VenueError

log = logging.getLogger(__name__)

# Fills are fetched from this long before the last one seen, for clock skew and late history.
FILL_OVERLAP_MS = 60_000
# An order sent this recently may still be accepted by the venue (signing window plus grace).
SEND_WINDOW_S = 6.0
FILL_PAGE_LIMIT = 5_000


class Reconciler:
    def __init__(self, desk: OrderDesk) -> None:
        self.desk = desk
        self.symbol = desk.symbol
        self._lock = asyncio.Lock()
        self._outage_started_ms: int | None = None

    def stream_dropped(self) -> None:
        """Remember when the private stream went down: fills are fetched from then on."""
        if self._outage_started_ms is None:
            self._outage_started_ms = time.time_ns() // 1_000_000

    async def reconcile(self) -> bool:
        """One full reconciliation; False (logged, counted) when the venue could not be reached."""
        async with self._lock:
            try:
                await self._wait_for_send_window()
                await self._reconcile()
            except VenueError as exc:
                og_metrics.RECONCILIATIONS.labels("error").inc()
                log.warning("reconciliation of %s failed: %s", self.symbol, exc)
                return False
        og_metrics.RECONCILIATIONS.labels("ok").inc()
        return True

    async def _wait_for_send_window(self) -> None:
        # An order journaled as pending by a previous instance may still be accepted until
        # its signing window closes; only after that does its absence prove anything.
        pending = [o for o in self.desk.journal.active_orders(self.symbol) if o.status == PENDING]
        pending = [o for o in pending if o.place.client_id not in self.desk.state.in_flight]
        if pending:
            newest_s = max(o.updated_ns for o in pending) / 1e9
            wait_s = newest_s + SEND_WINDOW_S - time.time()
            if wait_s > 0:
                log.info(
                    "waiting %.1f s for %d order(s) sent before a restart to settle", wait_s, len(pending)
                )
                await asyncio.sleep(wait_s)

    async def _reconcile(self) -> None:
        desk, journal, calls = self.desk, self.desk.journal, self.desk.calls
        listed_s = time.monotonic()
        venue_open = await calls.call("open_orders", desk.venue.open_orders(self.symbol))
        position = await calls.call("position", desk.venue.position(self.symbol))
        busy = set(desk.state.in_flight)
        busy |= {
            t.order.client_id
            for t in desk.state.open.values()
            if t.updated_s >= listed_s and t.order.client_id
        }

        active = [o.place.client_id for o in journal.active_orders(self.symbol)]
        plan = plan_reconcile(
            venue_open, ours_active=active, is_ours=lambda order: journal.owner(order) is not None, busy=busy
        )
        now_ns = time.time_ns()
        gone = desk.state.foreign_gone({o.order_id for o in venue_open}, listed_s=listed_s)
        for order in (*plan.adopt, *plan.foreign, *gone):
            desk.on_order(order, ts_ns=now_ns)
        await self.fetch_fills()
        for client_id in plan.vanished:
            self._close_vanished(client_id)
        desk.on_position(position, ts_ns=time.time_ns())
        await self.poll_balance()
        await self.poll_funding()
        self._outage_started_ms = None
        log.info(
            "reconciled %s: %d open order(s) adopted, %d foreign order(s) left alone (%s), "
            "%d closed while away, position %s",
            self.symbol,
            len(plan.adopt),
            len(plan.foreign),
            describe_orders(plan.foreign),
            len(plan.vanished),
            position.quantity,
        )

    def _close_vanished(self, client_id: int) -> None:
        journal, desk = self.desk.journal, self.desk
        known = journal.order(client_id)
        if known is None or not known.active:
            return
        order_id = known.order_id or journal.order_id_of_fills(self.symbol, client_id)
        filled = journal.filled_quantity(self.symbol, client_id=client_id, order_id=order_id)
        status, reason = closed_while_away(known.place, order_id=order_id, filled=filled)
        desk.state.unknown.pop(client_id, None)
        og_metrics.UNKNOWN_ORDERS.set(len(desk.state.unknown))
        log.info("order %d (%s) is no longer open: %s, %s filled", client_id, order_id, status.value, filled)
        if order_id is None:
            # Stored as a refusal, so a retry of this client id is answered with the reason.
            refusal = f"{RejectReason.UNAVAILABLE.value}: {reason}"
            journal.record_status(client_id, status.value, reason=refusal, now_ns=time.time_ns())
            return
        p = known.place
        desk.on_order(
            OrderUpdate(
                symbol=p.symbol,
                order_id=order_id,
                client_id=client_id,
                side=p.side,
                order_type=p.order_type,
                price=p.price,
                quantity=p.quantity,
                filled_quantity=max(filled, known.filled),
                status=status,
                post_only=p.post_only,
                reduce_only=p.reduce_only,
                reason=reason,
            ),
            ts_ns=time.time_ns(),
        )

    async def fetch_fills(self) -> int:
        """Journal (and publish) fills from the history that the stream did not deliver; how many."""
        journal = self.desk.journal
        last_ns = journal.last_fill_ns(self.symbol)
        since_ms = (last_ns if last_ns is not None else journal.created_ns) // 1_000_000
        if self._outage_started_ms is not None:
            since_ms = min(since_ms, self._outage_started_ms)
        fills = await self.desk.calls.call(
            "fills",
            self.desk.venue.fills(self.symbol, since_ms=since_ms - FILL_OVERLAP_MS, limit=FILL_PAGE_LIMIT),
        )
        now_ns = time.time_ns()
        new = sum(1 for fill in fills if self.desk.on_fill(fill, ts_ns=now_ns))
        if new:
            log.warning("journaled %d fill(s) of %s the stream had not delivered", new, self.symbol)
        return new

    async def poll_balance(self) -> None:
        balance = await self.desk.calls.call("collateral", self.desk.venue.collateral())
        self.desk.on_balance(balance, ts_ns=time.time_ns())

    async def poll_funding(self) -> int:
        """Journal and publish funding payments not seen before; how many."""
        journal = self.desk.journal
        last_ns = journal.last_funding_ns(self.symbol)
        since_ms = (last_ns if last_ns is not None else journal.created_ns) // 1_000_000 - FILL_OVERLAP_MS
        payments = await self.desk.calls.call(
            "funding", self.desk.venue.funding_payments(self.symbol, since_ms=since_ms)
        )
        now_ns = time.time_ns()
        new = 0
        for payment in payments:
            if journal.add_funding(payment, ts_ns=now_ns):
                new += 1
                self.desk.pub.publish(f"ex.funding.{self.symbol}", payment, ts_ns=now_ns)
        return new

    async def resolve_unknown(self) -> None:
        """Look up every order of unknown outcome by its client id, before anything else is sent."""
        desk = self.desk
        for client_id in list(desk.state.unknown):
            found = await desk.calls.call("get_order", desk.venue.get_order(self.symbol, client_id=client_id))
            if found is not None:
                log.info(
                    "order %d of unknown outcome found: %s %s", client_id, found.order_id, found.status.value
                )
                desk.on_order(found, ts_ns=time.time_ns())
                desk.state.unknown.pop(client_id, None)
                continue
            # Not resting: it either filled (the history says so) or never reached the book.
            await self.fetch_fills()
            self._close_vanished(client_id)
            desk.state.unknown.pop(client_id, None)
        og_metrics.UNKNOWN_ORDERS.set(len(desk.state.unknown))
