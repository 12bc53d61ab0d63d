"""What the engine reports after each operation, for front ends to push on their streams.

Private events name the account they belong to; public ones (trades, book
changes, marks) name only the symbol.  Every event carries copies, never the
engine's live objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from services.wire import Level, Side
from venues.emulator.accounts import PositionView
from venues.emulator.records import Fill, FundingRow, Order


class OrderEventKind(StrEnum):
    ACCEPTED = "accepted"
    FILL = "fill"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    MODIFIED = "modified"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent:
    kind: OrderEventKind
    order: Order
    ts_ms: int
    fill: Fill | None = None

    @property
    def account_id(self) -> str:
        return self.order.account_id


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionEvent:
    """A position changed (fill or direct set); ``previous_quantity`` tells opened/closed/adjusted."""

    account_id: str
    position: PositionView
    previous_quantity: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingEvent:
    account_id: str
    row: FundingRow
    ts_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeEvent:
    symbol: str
    trade_id: int
    price: Decimal
    quantity: Decimal
    taker_side: Side
    buy_order_id: str
    sell_order_id: str
    ts_ms: int

    @property
    def buyer_is_maker(self) -> bool:
        return self.taker_side is Side.SELL


@dataclass(frozen=True, slots=True, kw_only=True)
class BookEvent:
    """Levels that changed in one operation, absolute quantities (zero: level gone).

    ``update_id`` increases by exactly one per event, per symbol, so a depth
    consumer can tell a missed event.
    """

    symbol: str
    update_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkEvent:
    symbol: str
    mark: Decimal
    index: Decimal
    funding_rate: Decimal
    next_funding_ms: int
    ts_ms: int


Event = OrderEvent | PositionEvent | FundingEvent | TradeEvent | BookEvent | MarkEvent
