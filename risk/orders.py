"""The guardian's own orders: client ids in a range of their own, and close orders sized to the market.

A close larger than the venue takes in one market order (Aster's
``MARKET_LOT_SIZE``/``LOT_SIZE`` ``maxQty``) is split into several orders, each
valid, rather than sent whole and refused every time.  Pure: no I/O.

The strategy allocates client ids from a random 32-bit base, so the guardian
keeps the top bit set on its ids, where an operator reading the venue's order
history can tell them apart.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from risk.model import ClosePosition
from services.wire import OrderType, Place, TimeInForce
from venues.precision import MarketRules, ceil_to, fmt, split_quantity

GUARDIAN_ID_BIT = 1 << 31
_ID_MASK = GUARDIAN_ID_BIT - 1


class ClientIds:
    """Client order ids with the top bit set, from a random base, never 0 and never repeated in a run."""

    def __init__(self, *, base: int | None = None) -> None:
        self._next = (secrets.randbits(31) if base is None else base) & _ID_MASK
        self._issued = 0

    def next(self) -> int:
        if self._issued > _ID_MASK:
            raise RuntimeError("every guardian client id of this run is used")
        self._issued += 1
        client_id = GUARDIAN_ID_BIT | self._next
        self._next = (self._next + 1) & _ID_MASK
        return client_id


def is_guardian_id(client_id: int | None) -> bool:
    return client_id is not None and client_id & GUARDIAN_ID_BIT != 0


def close_quantity(quantity: Decimal, position: Decimal, rules: MarketRules) -> Decimal | None:
    """``quantity`` rounded up to the step and venue minimum, at most ``|position|``; None: nothing to send.

    Rounding up, because a partial close that fell short would leave the position above its limit.
    """
    size = abs(position)
    if size == 0 or quantity <= 0:
        return None
    wanted = min(ceil_to(quantity, rules.step_size), size)
    if wanted < rules.min_quantity:
        wanted = rules.min_quantity
    if wanted > size:
        return None
    return wanted


def close_orders(
    action: ClosePosition, *, symbol: str, position: Decimal, rules: MarketRules, ids: ClientIds
) -> list[Place]:
    """Reduce-only market orders for ``action`` sized by ``close_quantity``, split to the market's
    largest order; empty when none can be sent."""
    quantity = close_quantity(action.quantity, position, rules)
    if quantity is None:
        return []
    return [
        _market_close(action, symbol=symbol, quantity=part, client_id=ids.next())
        for part in split_quantity(quantity, rules, market=True)
    ]


def close_order(
    action: ClosePosition, *, symbol: str, position: Decimal, rules: MarketRules, client_id: int
) -> Place | None:
    """The first (largest) of ``close_orders``: one order a round, for flatten; None when none can be sent."""
    quantity = close_quantity(action.quantity, position, rules)
    if quantity is None:
        return None
    first = split_quantity(quantity, rules, market=True)[0]
    return _market_close(action, symbol=symbol, quantity=first, client_id=client_id)


def _market_close(action: ClosePosition, *, symbol: str, quantity: Decimal, client_id: int) -> Place:
    return Place(
        client_id=client_id,
        symbol=symbol,
        side=action.side,
        quantity=quantity,
        order_type=OrderType.MARKET,
        tif=TimeInForce.IOC,
        reduce_only=True,
    )


def describe(order: Place) -> str:
    """How a log line names a close order."""
    size = fmt(order.quantity)
    return f"{order.side.value} {size} {order.symbol} reduce-only market (client id {order.client_id})"
