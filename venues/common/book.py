"""A local order book kept from a REST snapshot plus ``depth`` diffs (pure, no I/O).

Depth events (Backpack, Aster) carry absolute quantities at the listed prices
(0 removes the level) and the update-id range ``U..u`` they cover.  After a
snapshot with ``lastUpdateId``, events with ``u <= lastUpdateId`` are already
in it; the first one applied must straddle ``lastUpdateId + 1``, and every
later one must continue the previous one: Backpack's starts at the previous
``u + 1``, Aster's (Binance-style) names the previous ``u`` as its ``pu``.
Anything else is a gap: the book is dropped and must be seeded again.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from decimal import Decimal
from enum import Enum

from services.wire import Book, Level


class Applied(Enum):
    APPLIED = "applied"
    STALE = "stale"
    GAP = "gap"


class LocalBook:
    """One symbol's price levels; ``top()`` gives the best ``levels`` of each side."""

    def __init__(self, symbol: str, *, levels: int = 10) -> None:
        if levels < 1:
            raise ValueError("levels must be at least 1")
        self.symbol = symbol
        self.levels = levels
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._last_id: int | None = None
        self._bridged = False

    @property
    def seeded(self) -> bool:
        return self._last_id is not None

    @property
    def last_update_id(self) -> int | None:
        return self._last_id

    def seed(self, *, bids: Iterable[Level], asks: Iterable[Level], last_update_id: int) -> None:
        """Replace the book with a REST snapshot taken at ``last_update_id``."""
        self._bids = {price: qty for price, qty in bids if qty > 0}
        self._asks = {price: qty for price, qty in asks if qty > 0}
        self._last_id = last_update_id
        self._bridged = False

    def reset(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._last_id = None
        self._bridged = False

    def apply(
        self,
        *,
        first_id: int,
        last_id: int,
        bids: Iterable[Level],
        asks: Iterable[Level],
        previous_id: int | None = None,
    ) -> Applied:
        """Apply one depth event; on ``GAP`` the book is reset and needs a new seed.

        ``previous_id`` (Aster's ``pu``), when given, must equal the last applied ``u``.
        """
        if self._last_id is None:
            return Applied.GAP
        if last_id <= self._last_id:
            return Applied.STALE
        if not self._bridged:
            # The first event must straddle the snapshot (Aster's ids skip, so ``pu`` tells too).
            contiguous = first_id <= self._last_id + 1 or (
                previous_id is not None and previous_id <= self._last_id
            )
        elif previous_id is not None:
            contiguous = previous_id == self._last_id
        else:
            contiguous = first_id == self._last_id + 1
        if not contiguous:
            self.reset()
            return Applied.GAP
        _merge(self._bids, bids)
        _merge(self._asks, asks)
        self._last_id = last_id
        self._bridged = True
        if self._bids and self._asks and max(self._bids) >= min(self._asks):
            # A crossed book cannot come from a complete diff stream: something was lost.
            self.reset()
            return Applied.GAP
        return Applied.APPLIED

    def top(self) -> Book:
        """The best ``levels`` bids (highest first) and asks (lowest first)."""
        best_bids = heapq.nlargest(self.levels, self._bids)
        best_asks = heapq.nsmallest(self.levels, self._asks)
        return Book(
            symbol=self.symbol,
            bids=[(price, self._bids[price]) for price in best_bids],
            asks=[(price, self._asks[price]) for price in best_asks],
            update_id=self._last_id or 0,
        )


def _merge(side: dict[Decimal, Decimal], changes: Iterable[Level]) -> None:
    for price, qty in changes:
        if qty > 0:
            side[price] = qty
        else:
            side.pop(price, None)
