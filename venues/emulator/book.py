"""A price-time priority order book with per-level totals and change tracking.

Each side keeps its prices sorted and a FIFO queue per price, so the best
price and the oldest order at it are found at once.  Every change marks its
level dirty; ``take_changes`` hands the changed levels (absolute quantities,
zero for a removed level) to the engine, which stamps them with an update id
for the depth stream.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

from services.wire import Level, Side
from venues.emulator.records import ZERO, Order


class BookSide:
    def __init__(self, side: Side) -> None:
        self.side = side
        self._prices: list[Decimal] = []  # ascending
        self._queues: dict[Decimal, deque[Order]] = {}
        self._totals: dict[Decimal, Decimal] = {}

    def best(self) -> Decimal | None:
        if not self._prices:
            return None
        return self._prices[-1] if self.side is Side.BUY else self._prices[0]

    def prices(self) -> Iterator[Decimal]:
        """Prices best first."""
        return reversed(self._prices) if self.side is Side.BUY else iter(self._prices)

    def queue(self, price: Decimal) -> deque[Order]:
        return self._queues[price]

    def total(self, price: Decimal) -> Decimal:
        return self._totals.get(price, ZERO)

    def levels(self, limit: int | None = None) -> list[Level]:
        """(price, total quantity) best first, at most ``limit`` levels."""
        out: list[Level] = []
        for price in self.prices():
            if limit is not None and len(out) >= limit:
                break
            out.append((price, self._totals[price]))
        return out

    def add(self, order: Order) -> None:
        assert order.price is not None
        price = order.price
        if price not in self._queues:
            bisect.insort(self._prices, price)
            self._queues[price] = deque()
            self._totals[price] = ZERO
        self._queues[price].append(order)
        self._totals[price] += order.remaining

    def remove(self, order: Order, *, remaining: Decimal) -> None:
        """Take ``order`` off the book; ``remaining`` is what it still counted for in the total."""
        assert order.price is not None
        price = order.price
        queue = self._queues[price]
        queue.remove(order)
        self._totals[price] -= remaining
        if not queue:
            del self._queues[price]
            del self._totals[price]
            del self._prices[bisect.bisect_left(self._prices, price)]

    def reduce(self, price: Decimal, quantity: Decimal) -> None:
        """An order at ``price`` shrank by ``quantity`` (a fill or a modification)."""
        self._totals[price] -= quantity


class OrderBook:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
        self._dirty: set[tuple[Side, Decimal]] = set()

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def add(self, order: Order) -> None:
        assert order.price is not None
        self.side(order.side).add(order)
        self._dirty.add((order.side, order.price))

    def remove(self, order: Order) -> None:
        """Remove a resting order (cancelled, expired or fully filled)."""
        assert order.price is not None
        self.side(order.side).remove(order, remaining=order.remaining)
        self._dirty.add((order.side, order.price))

    def shrink(self, order: Order, quantity: Decimal) -> None:
        """A resting order lost ``quantity`` of its remaining size (call before changing the order)."""
        assert order.price is not None
        self.side(order.side).reduce(order.price, quantity)
        self._dirty.add((order.side, order.price))

    def take_changes(self) -> tuple[list[Level], list[Level]]:
        """Changed levels since the last call, as absolute (price, quantity): bids, asks."""
        bids: list[Level] = []
        asks: list[Level] = []
        for side, price in self._dirty:
            target = bids if side is Side.BUY else asks
            target.append((price, self.side(side).total(price)))
        self._dirty.clear()
        bids.sort(key=lambda level: level[0], reverse=True)
        asks.sort(key=lambda level: level[0])
        return bids, asks
