"""The order gateway's live view of one symbol: open orders, in-flight requests, position (pure).

Updates come from three places that race (the REST answer to a request, the
private stream, reconciliation snapshots), so ``apply`` only ever moves an
order forward: a closed order stays closed and its filled size never shrinks.
``plan_reconcile`` decides what to do when the venue's list of open orders is
compared with ours.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from order_gateway.limits import Exposure
from services.wire import OrderStatus, OrderUpdate, Place, Position, Side

# Late venue updates for a closed order arrive within seconds; 2,000 orders is minutes of history even at
# Paradex-rate quoting (~18 orders/s), and keeps the gateway's memory flat on long runs.
CLOSED_MEMORY = 2_000


@dataclass(slots=True)
class Tracked:
    order: OrderUpdate
    updated_s: float


class SymbolState:
    """Open orders by venue id, requests whose outcome is pending or unknown, and the position."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.open: dict[str, Tracked] = {}
        self.in_flight: dict[int, Place] = {}
        self.unknown: dict[int, Place] = {}
        self.position: Position | None = None
        self._closed: OrderedDict[str, OrderUpdate] = OrderedDict()

    def apply(self, update: OrderUpdate, *, now_s: float) -> bool:
        """Take the venue's view of an order; True when it changed what we knew."""
        if update.symbol != self.symbol or update.order_id in self._closed:
            return False
        if update.client_id is not None:
            self.unknown.pop(update.client_id, None)
        current = self.open.get(update.order_id)
        if current is not None:
            old = current.order
            if update.filled_quantity < old.filled_quantity:
                return False
            # A change of owner counts: a stream update the journal could not match yet (foreign)
            # is corrected by the next one it can.
            if update.status.is_open and (update.status, update.filled_quantity, update.foreign) == (
                old.status,
                old.filled_quantity,
                old.foreign,
            ):
                current.updated_s = now_s
                return False
        if update.status.is_open:
            self.open[update.order_id] = Tracked(update, now_s)
        else:
            self.open.pop(update.order_id, None)
            self._closed[update.order_id] = update
            while len(self._closed) > CLOSED_MEMORY:
                self._closed.popitem(last=False)
        return True

    def is_closed(self, order_id: str) -> bool:
        return order_id in self._closed

    def latest(self, order_id: str) -> OrderUpdate | None:
        """The newest state known of an order, open or recently closed."""
        tracked = self.open.get(order_id)
        return tracked.order if tracked is not None else self._closed.get(order_id)

    def set_position(self, position: Position) -> bool:
        """Take a position update; True when the quantity or entry changed."""
        if position.symbol != self.symbol:
            return False
        old = self.position
        self.position = position
        return old is None or (old.quantity, old.entry_price) != (position.quantity, position.entry_price)

    def by_client_id(self, client_id: int) -> OrderUpdate | None:
        for tracked in self.open.values():
            if tracked.order.client_id == client_id:
                return tracked.order
        return None

    def foreign_gone(self, listed: set[str], *, listed_s: float) -> list[OrderUpdate]:
        """Foreign orders held open that the venue's list (taken at ``listed_s``) no longer shows, as closed.

        Cancelled or triggered in the web app while the stream was down: nothing else would close them.
        """
        return [
            dataclasses.replace(
                t.order, status=OrderStatus.CANCELLED, reason="gone from the venue's open orders"
            )
            for t in self.open.values()
            if t.order.foreign and t.order.order_id not in listed and t.updated_s < listed_s
        ]

    def open_orders(self) -> list[OrderUpdate]:
        return [tracked.order for tracked in self.open.values()]

    def exposure(self) -> Exposure | None:
        """Position and the size that could still add to it (None until the position is known).

        Requests in flight or of unknown outcome count as resting: they may be.
        Reduce-only orders cannot add to the position and are left out.
        """
        if self.position is None:
            return None
        sizes = {Side.BUY: Decimal(0), Side.SELL: Decimal(0)}
        for tracked in self.open.values():
            if not tracked.order.reduce_only:
                sizes[tracked.order.side] += tracked.order.remaining
        for place in (*self.in_flight.values(), *self.unknown.values()):
            if not place.reduce_only:
                sizes[place.side] += place.quantity
        return Exposure(
            position=self.position.quantity, resting_buy=sizes[Side.BUY], resting_sell=sizes[Side.SELL]
        )


@dataclass(slots=True)
class ReconcilePlan:
    """What to do after comparing the venue's open orders with ours."""

    adopt: list[OrderUpdate] = field(default_factory=list)  # ours and open on the venue
    foreign: list[OrderUpdate] = field(default_factory=list)  # not placed by this gateway: leave them
    vanished: list[int] = field(default_factory=list)  # client ids we had open, gone from the venue


def plan_reconcile(
    venue_open: list[OrderUpdate],
    *,
    ours_active: list[int],
    is_ours: Callable[[OrderUpdate], bool],
    busy: set[int],
) -> ReconcilePlan:
    """Sort the venue's open orders into ours and the others (foreign: the guardian's, a stop set in the
    venue's web app, another program's); find ours that vanished.  Nothing here is ever cancelled.

    ``ours_active`` are the client ids we believe may rest (journal), ``busy``
    those with a request in flight or changed since the venue's list was
    taken: their absence from the list proves nothing yet.
    """
    plan = ReconcilePlan()
    listed: set[int] = set()
    for order in venue_open:
        if order.client_id is not None:
            listed.add(order.client_id)
        if is_ours(order):
            plan.adopt.append(order)
        else:
            plan.foreign.append(order)
    plan.vanished = [cid for cid in ours_active if cid not in listed and cid not in busy]
    return plan


def closed_while_away(place: Place, *, order_id: str | None, filled: Decimal) -> tuple[OrderStatus, str]:
    """The final state of one of our orders that is no longer open, from the fills journaled for it."""
    if filled >= place.quantity:
        return OrderStatus.FILLED, "filled while the gateway was away"
    if order_id is None and filled == 0:
        return OrderStatus.REJECTED, "never reached the venue (the gateway stopped before its answer)"
    return OrderStatus.CANCELLED, "closed while the gateway was away"
