"""A REST depth snapshot that lags the depth stream, as Backpack's does (pure, no I/O).

Backpack's ``GET /api/v1/depth`` is served behind the stream: independent
clients buffer about ten ``depth`` updates before a snapshot lines up with
them.  ``LaggedDepth`` keeps a copy of one symbol's book that leaves out the
newest ``lag`` stream updates; an update older than ``max_age_ms`` is always
in, so a quiet market's snapshot catches up (a busy one is ``lag`` behind).
The copy starts from the engine's book (``start``) and follows the same
``BookEvent``s the depth stream sends (absolute quantities), so what it
serves is exactly the book at the update id it names.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import Decimal

from services.wire import Level
from venues.emulator.events import BookEvent

DEFAULT_LAG = 10
MAX_AGE_MS = 1000


class LaggedDepth:
    """One symbol's book ``lag`` updates (at most ``max_age_ms``) behind the engine's."""

    def __init__(self, *, lag: int = DEFAULT_LAG, max_age_ms: int = MAX_AGE_MS) -> None:
        if lag < 0 or max_age_ms < 0:
            raise ValueError("lag and max_age_ms must not be negative")
        self.lag = lag
        self.max_age_ms = max_age_ms
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._update_id = 0
        self._pending: deque[BookEvent] = deque()

    def start(self, *, bids: Iterable[Level], asks: Iterable[Level], update_id: int) -> None:
        """Begin from the engine's whole book at ``update_id`` (nothing pending)."""
        self._bids = dict(bids)
        self._asks = dict(asks)
        self._update_id = update_id
        self._pending.clear()

    def observe(self, event: BookEvent) -> None:
        """An update the stream sends; one already in the copy (``update_id`` not newer) is ignored."""
        newest = self._pending[-1].update_id if self._pending else self._update_id
        if event.update_id > newest:
            self._pending.append(event)
        while len(self._pending) > self.lag:
            self._apply(self._pending.popleft())

    def snapshot(self, *, now_ms: int, limit: int) -> tuple[list[Level], list[Level], int]:
        """Bids and asks best first (``limit`` each) and the update id they are at, as served now."""
        while self._pending and self._pending[0].ts_ms <= now_ms - self.max_age_ms:
            self._apply(self._pending.popleft())
        bids = sorted(self._bids.items(), reverse=True)[:limit]
        asks = sorted(self._asks.items())[:limit]
        return bids, asks, self._update_id

    def _apply(self, event: BookEvent) -> None:
        for side, levels in ((self._bids, event.bids), (self._asks, event.asks)):
            for price, quantity in levels:
                if quantity > 0:
                    side[price] = quantity
                else:
                    side.pop(price, None)
        self._update_id = event.update_id
