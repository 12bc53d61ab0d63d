"""Rolling 24-hour trade statistics of one symbol (the ticker's figures).

Trades are folded into one-minute buckets, so a day of heavy simulated flow
costs at most 1440 buckets however many trades it holds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from venues.emulator.records import ZERO

DAY_MS = 24 * 3600 * 1000
_MINUTE_MS = 60_000


@dataclass(slots=True)
class _Bucket:
    minute: int
    first: Decimal
    last: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TickerSummary:
    first_price: Decimal | None
    last_price: Decimal | None
    high: Decimal | None
    low: Decimal | None
    volume: Decimal
    quote_volume: Decimal
    trades: int


class TradeStats:
    def __init__(self) -> None:
        self._buckets: deque[_Bucket] = deque()

    def add(self, *, price: Decimal, quantity: Decimal, ts_ms: int) -> None:
        minute = ts_ms // _MINUTE_MS
        bucket = self._buckets[-1] if self._buckets else None
        if bucket is None or bucket.minute != minute:
            bucket = _Bucket(minute, price, price, price, price, ZERO, ZERO, 0)
            self._buckets.append(bucket)
        bucket.last = price
        bucket.high = max(bucket.high, price)
        bucket.low = min(bucket.low, price)
        bucket.volume += quantity
        bucket.quote_volume += quantity * price
        bucket.trades += 1

    def summary(self, now_ms: int) -> TickerSummary:
        """Statistics of the trades in the 24 hours before ``now_ms`` (minute resolution)."""
        oldest_minute = (now_ms - DAY_MS) // _MINUTE_MS
        while self._buckets and self._buckets[0].minute <= oldest_minute:
            self._buckets.popleft()
        if not self._buckets:
            return TickerSummary(
                first_price=None,
                last_price=None,
                high=None,
                low=None,
                volume=ZERO,
                quote_volume=ZERO,
                trades=0,
            )
        return TickerSummary(
            first_price=self._buckets[0].first,
            last_price=self._buckets[-1].last,
            high=max(b.high for b in self._buckets),
            low=min(b.low for b in self._buckets),
            volume=sum((b.volume for b in self._buckets), ZERO),
            quote_volume=sum((b.quote_volume for b in self._buckets), ZERO),
            trades=sum(b.trades for b in self._buckets),
        )
