"""The market the quoter prices from: the venue's book with our own resting orders taken out.

Pure, no I/O.  Our quotes usually sit at the top of the book; pricing from a
best bid/offer that includes them would chase our own orders (each requote
moves the mid the next one is computed from) instead of following the market.

``BookView`` keeps the newest depth (``Book``) and lays each newer ``Bbo``
over its top: levels better than the ticker's price are gone, the ticker's
level has the ticker's size.  ``top`` then subtracts our open orders' remaining
size level by level; the first level with size left on each side is the
market's best.  A side made only of our own orders falls back to the venue's
best as it is, so a market where we are alone still has a price.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from services.wire import Bbo, Book, Level, OrderUpdate, Side

_ZERO = Decimal(0)


class BookView:
    """The newest book of one symbol, as ``Book`` and ``Bbo`` messages tell it (``ts_ns``: their time)."""

    def __init__(self) -> None:
        self.bids: list[Level] = []
        self.asks: list[Level] = []
        self.ts_ns = 0

    def update(self, msg: Bbo | Book, *, ts_ns: int) -> bool:
        """Take a book message newer than (or as new as) the last one; False when it is older or one-sided."""
        if ts_ns < self.ts_ns:
            return False
        if isinstance(msg, Book):
            if not msg.bids or not msg.asks:
                return False
            self.bids, self.asks = list(msg.bids), list(msg.asks)
        else:
            self.bids = [(msg.bid, msg.bid_qty), *(level for level in self.bids if level[0] < msg.bid)]
            self.asks = [(msg.ask, msg.ask_qty), *(level for level in self.asks if level[0] > msg.ask)]
        self.ts_ns = ts_ns
        return True

    def top(self, own: Iterable[OrderUpdate] = ()) -> tuple[Decimal | None, Decimal | None]:
        """(best bid, best ask) without the remaining size of ``own`` open orders."""
        mine: dict[tuple[Side, Decimal], Decimal] = {}
        for order in own:
            if order.status.is_open and order.price is not None:
                key = (order.side, order.price)
                mine[key] = mine.get(key, _ZERO) + order.remaining
        return _best(self.bids, Side.BUY, mine), _best(self.asks, Side.SELL, mine)


def _best(levels: list[Level], side: Side, mine: dict[tuple[Side, Decimal], Decimal]) -> Decimal | None:
    for price, quantity in levels:
        if quantity - mine.get((side, price), _ZERO) > 0:
            return price
    return levels[0][0] if levels else None
