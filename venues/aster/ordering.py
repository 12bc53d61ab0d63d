"""Order updates in the order they happened, whatever order the user stream delivers them in (pure).

Aster does not promise its user-data events in order.  An order only moves
forward: its filled quantity never shrinks and, once closed (filled,
cancelled, expired), it never opens again, so an update that would take it
back is older than one already seen and is dropped.  Fills are never dropped
here: each is a trade of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal

from services.wire import OrderUpdate


class OrderProgress:
    """How far each order has got (the newest ``max_orders`` orders)."""

    def __init__(self, *, max_orders: int = 10_000) -> None:
        self.max_orders = max_orders
        self._seen: OrderedDict[str, tuple[bool, Decimal]] = OrderedDict()  # id -> (closed, filled)

    def admit(self, update: OrderUpdate) -> bool:
        """True when ``update`` is not behind what was seen of its order (and record it)."""
        seen = self._seen.get(update.order_id)
        closed = not update.status.is_open
        if seen is not None:
            was_closed, filled = seen
            if update.filled_quantity < filled or (was_closed and not closed):
                return False
        self._seen[update.order_id] = (closed, update.filled_quantity)
        self._seen.move_to_end(update.order_id)
        while len(self._seen) > self.max_orders:
            self._seen.popitem(last=False)
        return True
