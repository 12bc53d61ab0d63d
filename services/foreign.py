"""How perp-mm names orders it did not place (foreign: a stop or take-profit set in the venue's web app).

Pure.  The order gateway decides which orders are foreign (``OrderUpdate.foreign``,
from its journal); a process without the journal (the guardian, flatten) knows
only that perp-mm never places a ``CONDITIONAL`` order.  These helpers give
every process the same words for them in its output.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from services.wire import OrderType, OrderUpdate


def kind_of(order: OrderUpdate) -> str:
    """The venue's own type name for a conditional order (``STOP_MARKET``), else ``limit``/``market``."""
    if order.order_type is OrderType.CONDITIONAL:
        return order.venue_type or "conditional"
    return order.order_type.value


def describe_order(order: OrderUpdate) -> str:
    """One order for a log line: ``sell 0.1 STOP_MARKET`` or ``buy 0.1 limit @ 100``."""
    price = f" @ {order.price}" if order.price is not None else ""
    return f"{order.side.value} {order.remaining} {kind_of(order)}{price}"


def describe_orders(orders: Iterable[OrderUpdate]) -> str:
    """How many of each kind, most frequent first: ``2 STOP_MARKET, 1 limit`` (``none`` when empty)."""
    counts = Counter(kind_of(order) for order in orders)
    return ", ".join(f"{n} {kind}" for kind, n in counts.most_common()) or "none"


def conditional(orders: Iterable[OrderUpdate]) -> list[OrderUpdate]:
    """The orders perp-mm never places (stops, take-profits, ...): foreign wherever they are seen."""
    return [order for order in orders if order.order_type is OrderType.CONDITIONAL]
