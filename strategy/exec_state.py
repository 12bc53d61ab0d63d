"""The strategy's view of its orders and position, joined from the gateway's snapshot and exec stream.

Pure: messages in, state out.  The join follows the bus rule: subscribe, take a
snapshot, then apply only updates newer than ``snapshot.exec_seq`` from
``snapshot.exec_src``.  Everything the ``exec`` publisher sends (heartbeats
included) comes through ``on_message`` so its ``seq`` is checked end to end; a
gap, a new publisher instance or a private stream that went down loses the sync,
and the caller pulls its quotes and asks for a new snapshot.

Client order ids are uint32: the strategy's come from a random 31-bit base plus
a counter (never 0, never reused in a run); ids with the top bit set belong to
the guardian, which trades on its own, and its orders are not ours to manage.
Nor are foreign orders (``OrderUpdate.foreign``, set by the order gateway: a
stop or take-profit set in the venue's web app): the strategy never holds,
keeps or cancels them; only the kill switch and flatten do.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from services.codec import Envelope
from services.wire import (
    ExStatus,
    FeedState,
    Fill,
    FundingPayment,
    OrderUpdate,
    Position,
    Snapshot,
)

GUARDIAN_ID_BIT = 1 << 31
_ID_SPACE = 1 << 31
_BUFFER_MAX = 100_000
_CLOSED_MEMORY = 10_000
_ROLES_MEMORY = 10_000


class ClientIds:
    """This run's client order ids: ``base + n`` modulo 2**31, skipping 0, so the top bit stays clear."""

    def __init__(self, *, base: int | None = None) -> None:
        self._base = secrets.randbelow(_ID_SPACE) if base is None else base % _ID_SPACE
        self._count = 0

    def next(self) -> int:
        """A new id, never 0 and never one this instance gave before (RuntimeError after 2**31 - 1)."""
        while self._count < _ID_SPACE:
            value = (self._base + self._count) % _ID_SPACE
            self._count += 1
            if value:
                return value
        raise RuntimeError("client order ids exhausted for this run: restart the strategy")


def ours(order: OrderUpdate) -> bool:
    """Placed by a strategy through the order gateway: not foreign and not one of the guardian's."""
    return not order.foreign and (order.client_id is None or not order.client_id & GUARDIAN_ID_BIT)


class Role(StrEnum):
    QUOTE = "quote"
    REDUCE = "reduce"


@dataclass(slots=True)
class Changes:
    """What one or more exec messages changed."""

    fills: list[Fill] = field(default_factory=list)
    funding: list[FundingPayment] = field(default_factory=list)
    position_changed: bool = False
    orders_changed: bool = False
    mark: Decimal | None = None

    def add(self, other: Changes) -> None:
        self.fills += other.fills
        self.funding += other.funding
        self.position_changed |= other.position_changed
        self.orders_changed |= other.orders_changed
        self.mark = other.mark if other.mark is not None else self.mark


class ExecState:
    """Open orders (by role), the net position and the sync state of one symbol's exec stream."""

    def __init__(self, symbol: str, *, reduce_settle_s: float = 3.0) -> None:
        self.symbol = symbol
        self.reduce_settle_s = reduce_settle_s
        self.synced = False
        self.exec_live = True
        self.src: str | None = None
        self.seq = 0
        self.position = Decimal(0)
        self.entry_price: Decimal | None = None
        self.position_version = 0
        self._orders: dict[str, OrderUpdate] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._roles: OrderedDict[int, Role] = OrderedDict()
        self._buffer: list[tuple[Envelope, int]] = []
        self._reduce_fill: tuple[int, float] | None = None

    # ------------------------------------------------------------ roles and orders

    def assign(self, client_id: int, role: Role) -> None:
        """Record the role of an order about to be placed (the oldest are forgotten past a bound)."""
        self._roles[client_id] = role
        # An order whose role was forgotten is adopted by its reduce-only flag, which says the same.
        if len(self._roles) > _ROLES_MEMORY:
            self._roles.popitem(last=False)

    def role(self, order: OrderUpdate) -> Role:
        if order.client_id is not None and order.client_id in self._roles:
            return self._roles[order.client_id]
        # Left by an earlier strategy instance or placed by hand: adopted, so the plan keeps or cancels it.
        return Role.REDUCE if order.reduce_only else Role.QUOTE

    def orders(self, role: Role) -> list[OrderUpdate]:
        """Our open orders with ``role``, oldest first."""
        return [order for order in self._orders.values() if self.role(order) is role]

    def all_orders(self) -> list[OrderUpdate]:
        return list(self._orders.values())

    def reduce_blocked(self, *, now_s: float) -> bool:
        """True while a reduce has filled but no position update since shows it (for ``reduce_settle_s``)."""
        if self._reduce_fill is None:
            return False
        version, seen_s = self._reduce_fill
        if self.position_version > version or now_s - seen_s > self.reduce_settle_s:
            self._reduce_fill = None
            return False
        return True

    def on_reply(self, order: OrderUpdate, *, now_s: float) -> bool:
        """Apply the order a place or cancel reply returned; True when it changed what we hold."""
        changed = self._store(order)
        if order.filled_quantity > 0 and self.role(order) is Role.REDUCE:
            self._reduce_fill = (self.position_version, now_s)
        return changed

    def forget(self, order: OrderUpdate) -> None:
        """Drop an order the venue says it does not know (filled or cancelled meanwhile)."""
        self._orders.pop(order.order_id, None)
        self._mark_closed(order.order_id)

    # ------------------------------------------------------------ the stream

    @property
    def joinable(self) -> bool:
        """Unsynced, and a message from the exec publisher came since: the subscription is live."""
        return not self.synced and bool(self._buffer)

    def lose_sync(self) -> None:
        """Stop trusting the stream until the next snapshot; later messages are kept for the join."""
        self.synced = False
        self._buffer.clear()

    def on_message(self, env: Envelope, *, gap: int, now_s: float) -> Changes | None:
        """Apply one message of the exec publisher; None while unsynced or when it broke the sync."""
        if not self.synced:
            if len(self._buffer) < _BUFFER_MAX:
                self._buffer.append((env, gap))
            return None
        if env.src != self.src or gap:
            self.lose_sync()
            self._buffer.append((env, gap))
            return None
        self.seq = env.seq
        changes = self._apply(env.body, now_s=now_s)
        if not self.synced:
            return None
        return changes

    def apply_snapshot(self, snap: Snapshot, *, now_s: float) -> Changes | None:
        """Join the snapshot with the buffered messages; None when the join is not provably complete."""
        buffered = [(env, gap) for env, gap in self._buffer if env.src == snap.exec_src]
        newer = [(env, gap) for env, gap in buffered if env.seq > snap.exec_seq]
        live_before = len(newer) < len(buffered)
        # Complete only if every message after the snapshot's seq arrived: the first newer one follows
        # it directly, or follows without a gap a message we had before it; none missed after that.
        if newer:
            first, first_gap = newer[0]
            complete = first.seq == snap.exec_seq + 1 or (live_before and not first_gap)
            complete = complete and not any(gap for _, gap in newer[1:])
        else:
            complete = live_before
        if not complete:
            return None
        self._orders.clear()
        for order in snap.orders:
            self._store(order)
        position = snap.position
        self.position = position.quantity if position is not None else Decimal(0)
        self.entry_price = position.entry_price if position is not None and position.quantity else None
        self.position_version += 1
        self.src, self.seq = snap.exec_src, snap.exec_seq
        self.synced, self.exec_live = True, True
        self._buffer.clear()
        changes = Changes(position_changed=True, orders_changed=True)
        for env, _ in newer:
            self.seq = env.seq
            changes.add(self._apply(env.body, now_s=now_s))
        return changes

    def _apply(self, msg: object, *, now_s: float) -> Changes:
        changes = Changes()
        if isinstance(msg, OrderUpdate):
            changes.orders_changed = self._store(msg)
        elif isinstance(msg, Fill) and msg.symbol == self.symbol:
            if msg.client_id is None or not msg.client_id & GUARDIAN_ID_BIT:
                changes.fills.append(msg)
            if msg.client_id is not None and self._roles.get(msg.client_id) is Role.REDUCE:
                self._reduce_fill = (self.position_version, now_s)
        elif isinstance(msg, Position) and msg.symbol == self.symbol:
            changes.position_changed = msg.quantity != self.position
            self.position = msg.quantity
            self.entry_price = msg.entry_price if msg.quantity else None
            self.position_version += 1
            changes.mark = msg.mark_price
        elif isinstance(msg, FundingPayment) and msg.symbol == self.symbol:
            changes.funding.append(msg)
        elif isinstance(msg, ExStatus):
            self.exec_live = msg.state is FeedState.LIVE
            if not self.exec_live:
                # Orders and fills are not being reported: what we hold may be wrong until a resync.
                self.lose_sync()
        return changes

    def _store(self, order: OrderUpdate) -> bool:
        if order.symbol != self.symbol or not ours(order):
            return False
        if order.order_id in self._closed:
            # Already closed: a late reply or a replay must not bring it back.
            return False
        if not order.status.is_open:
            self._mark_closed(order.order_id)
            return self._orders.pop(order.order_id, None) is not None
        old = self._orders.get(order.order_id)
        if old is not None and order.filled_quantity < old.filled_quantity:
            return False
        self._orders[order.order_id] = order
        return old != order

    def _mark_closed(self, order_id: str) -> None:
        self._closed[order_id] = None
        if len(self._closed) > _CLOSED_MEMORY:
            self._closed.popitem(last=False)
