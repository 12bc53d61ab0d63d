"""Seeding a local book from a REST snapshot that lags the depth stream (pure, no I/O).

Backpack's snapshot is served behind its stream: fetched right after
subscribing, it names an update older than the first one the stream sends, and
applying the stream on it would be a gap at once (then a re-seed, the same gap
again, and a reconnect loop).  Independent clients buffer the stream's deltas
from subscribe and fetch the snapshot until its ``lastUpdateId`` reaches the
first buffered delta's ``U - 1``; then the buffered deltas newer than the
snapshot are applied and the book is live.

``DepthSync`` is that procedure as a state machine; the shell feeds it
deltas and snapshots, asks ``fetch_due`` when to fetch, and publishes
``book.top()`` whenever it answers that the book changed.  A snapshot too old
is fetched again once as many new deltas arrived as it was short (or after
``retry_s``).  A gap on a live book starts a new buffer with the delta that
gapped: the book is re-seeded the same way, never by reconnecting.  A stream
without deltas for ``quiet_s`` after subscribe is a quiet book: the snapshot
seeds it as it is, and the first delta then checks it like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.wire import Level
from venues.base import DepthSnapshot
from venues.common.book import Applied, LocalBook


@dataclass(frozen=True, slots=True)
class Delta:
    """One depth event: the update ids it covers and its absolute levels."""

    first_id: int
    last_id: int
    bids: list[Level]
    asks: list[Level]
    ts_ns: int


class DepthSync:
    """One symbol's book between a lagging snapshot and its stream; every method takes ``now_s``."""

    def __init__(
        self,
        book: LocalBook,
        *,
        now_s: float,
        retry_s: float = 0.5,
        quiet_s: float = 1.0,
        max_buffered: int = 10_000,
    ) -> None:
        if retry_s <= 0 or quiet_s <= 0 or max_buffered < 1:
            raise ValueError("retry_s and quiet_s must be positive, max_buffered at least 1")
        self.book = book
        self.retry_s = retry_s
        self.quiet_s = quiet_s
        self.max_buffered = max_buffered
        self._buffer: list[Delta] = []
        self._since_s = now_s  # subscribed, or the book was lost
        self._fetched_s: float | None = None
        self._wanted = 1  # buffered deltas the next fetch waits for (unless retry_s passes)
        self.seeds = 0  # snapshots that seeded the book
        self.ts_ns = 0  # exchange time of what the book shows last (0: not given)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def delta(self, delta: Delta, *, now_s: float) -> Applied | None:
        """Apply ``delta`` to a live book; ``GAP``: that book is lost (re-seeding); None: buffered.

        Raises ``OverflowError`` when more than ``max_buffered`` deltas wait for a snapshot.
        """
        result = None
        if self.book.seeded:
            result = self._apply(delta)
            if result is not Applied.GAP:
                return result
            self.lost(now_s)
        if len(self._buffer) >= self.max_buffered:
            raise OverflowError(f"{len(self._buffer)} depth updates buffered and no snapshot reaches them")
        self._buffer.append(delta)
        return result

    def fetch_due(self, *, now_s: float) -> bool:
        """Whether to fetch a snapshot now."""
        if self.book.seeded:
            return False
        if not self._buffer:
            return self._fetched_s is None and now_s - self._since_s >= self.quiet_s
        if self._fetched_s is None or len(self._buffer) >= self._wanted:
            return True
        return now_s - self._fetched_s >= self.retry_s

    def wait_s(self, *, now_s: float) -> float | None:
        """Seconds until ``fetch_due`` turns true with no new delta (None: only a delta can make it)."""
        if self.book.seeded:
            return None
        if not self._buffer:
            return max(self.quiet_s - (now_s - self._since_s), 0.0) if self._fetched_s is None else None
        if self._fetched_s is None:
            return 0.0
        return max(self.retry_s - (now_s - self._fetched_s), 0.0)

    def snapshot(self, snapshot: DepthSnapshot, *, now_s: float) -> bool:
        """Seed from ``snapshot`` if it reaches the buffered deltas; True when the book is live again."""
        self._fetched_s = now_s
        if self._buffer:
            short = self._buffer[0].first_id - 1 - snapshot.last_update_id
            if short > 0:
                self._wanted = len(self._buffer) + short
                return False
        self.book.seed(bids=snapshot.bids, asks=snapshot.asks, last_update_id=snapshot.last_update_id)
        self.seeds += 1
        self.ts_ns = snapshot.ts_ns or 0
        pending, self._buffer = self._buffer, []
        for index, delta in enumerate(pending):
            if self._apply(delta) is Applied.GAP:
                # A hole inside the buffer itself: start again from the delta after it.
                self.lost(now_s)
                self._buffer = pending[index:]
                return False
        self._wanted = 1
        return True

    def _apply(self, delta: Delta) -> Applied:
        result = self.book.apply(
            first_id=delta.first_id, last_id=delta.last_id, bids=delta.bids, asks=delta.asks
        )
        if result is Applied.APPLIED:
            self.ts_ns = delta.ts_ns
        return result

    def lost(self, now_s: float) -> None:
        """The book can no longer be trusted (a gap, a malformed delta): drop it and re-seed."""
        self.book.reset()
        self._buffer = []
        self._since_s = now_s
        self._fetched_s = None
        self._wanted = 1
