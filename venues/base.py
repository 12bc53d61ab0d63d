"""The one small interface every exchange connector implements, and its typed errors.

Connectors speak the bus's own types (``services.wire``): streams yield
``VenueEvent(ts_ns, msg)`` where ``msg`` is a ``Bbo``, ``Book``, ``Trade``,
``Mark`` or ``MdStatus`` (public) or an ``OrderUpdate``, ``Fill``,
``Position``, ``Balance`` or ``ExStatus`` (private) and ``ts_ns`` is the
exchange's event time.  Every network call has a timeout; a call whose outcome
cannot be known raises ``UnknownOrderState`` and is resolved by the caller with
``get_order(client_id=...)``.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from services.wire import (
    Balance,
    Fill,
    FundingPayment,
    Level,
    Mark,
    Message,
    OrderUpdate,
    Place,
    Position,
    RejectReason,
)
from venues.precision import MarketRules

__all__ = [
    "AuthError",
    "DeadManSwitch",
    "DepthSnapshot",
    "MarketRules",
    "RateLimited",
    "Rejected",
    "Unavailable",
    "UnknownOrderState",
    "Venue",
    "VenueError",
    "VenueEvent",
]


class VenueEvent(NamedTuple):
    ts_ns: int
    msg: Message


class VenueError(Exception):
    """Base of every connector error; ``venue_message`` is the exchange's own text."""

    def __init__(self, message: str, *, venue_message: str = "") -> None:
        super().__init__(message)
        self.venue_message = venue_message


class RateLimited(VenueError):
    def __init__(self, message: str, *, retry_after_s: float, venue_message: str = "") -> None:
        super().__init__(message, venue_message=venue_message)
        self.retry_after_s = retry_after_s


class Rejected(VenueError):
    """The venue refused the request; ``reason`` is normalized across venues."""

    def __init__(self, message: str, *, reason: RejectReason, venue_message: str = "") -> None:
        super().__init__(message, venue_message=venue_message)
        self.reason = reason


class AuthError(VenueError):
    """Bad key, bad signature or a request outside the signing window."""


class UnknownOrderState(VenueError):
    """A non-idempotent call timed out or failed with 5xx: the order may or may not exist."""

    def __init__(self, message: str, *, client_id: int | None, venue_message: str = "") -> None:
        super().__init__(message, venue_message=venue_message)
        self.client_id = client_id


class Unavailable(VenueError):
    """The venue could not be reached or answered 5xx on an idempotent call."""


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """An order book over REST: levels best first, the venue's sequence and time (None: not given)."""

    bids: list[Level]
    asks: list[Level]
    last_update_id: int
    ts_ns: int | None


class Venue(abc.ABC):
    """An exchange account on one venue (perpetuals only)."""

    name: str

    @abc.abstractmethod
    async def load_markets(self) -> dict[str, MarketRules]:
        """Tick, step, minimum quantity and minimum notional of every perp market."""

    @abc.abstractmethod
    async def server_time_ms(self) -> int:
        """The venue's clock; connectors keep their signing offset from it."""

    @abc.abstractmethod
    def public_stream(self, symbol: str) -> AsyncIterator[VenueEvent]:
        """BBO, book, trades and mark/funding; reconnects by itself and yields ``MdStatus`` on changes."""

    @abc.abstractmethod
    def private_stream(self, symbol: str) -> AsyncIterator[VenueEvent]:
        """Order updates, fills and positions; reconnects by itself and yields ``ExStatus`` on changes."""

    @abc.abstractmethod
    async def place_order(self, order: Place) -> OrderUpdate:
        """Place one order; raises ``Rejected`` with a normalized reason, or ``UnknownOrderState``."""

    @abc.abstractmethod
    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        """Cancel by venue id or client id; ``Rejected(UNKNOWN_ORDER)`` when no such open order."""

    @abc.abstractmethod
    async def cancel_all(self, symbol: str) -> int:
        """Cancel every open order on ``symbol``; returns how many were cancelled."""

    @abc.abstractmethod
    async def open_orders(self, symbol: str) -> list[OrderUpdate]: ...

    @abc.abstractmethod
    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate | None:
        """The order's current state, or None when the venue has no such order."""

    @abc.abstractmethod
    async def position(self, symbol: str) -> Position:
        """The net position (quantity 0 when flat)."""

    @abc.abstractmethod
    async def collateral(self) -> Balance:
        """Account equity, available margin and margin fraction in the quote currency."""

    @abc.abstractmethod
    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]:
        """Fill history, oldest first."""

    @abc.abstractmethod
    async def funding_payments(self, symbol: str, *, since_ms: int | None = None) -> list[FundingPayment]:
        """Funding history, oldest first."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release sessions and sockets."""

    @abc.abstractmethod
    async def mark_price(self, symbol: str) -> Decimal:
        """The mark price over REST (the guardian polls it)."""

    async def leverage(self, symbol: str) -> Decimal | None:
        """The account's leverage on ``symbol`` where the venue tells it (None: it does not)."""
        return None

    @abc.abstractmethod
    async def mark(self, symbol: str) -> Mark:
        """Mark, index, funding rate and next funding time over REST."""

    @abc.abstractmethod
    async def depth(self, symbol: str) -> DepthSnapshot:
        """The order book over REST (seeds the local book; market data while the stream is silent)."""


class DeadManSwitch(abc.ABC):
    """A venue-side switch that cancels orders when its holder stops re-arming it or its connection dies."""

    @abc.abstractmethod
    async def arm(self, symbol: str, *, timeout_s: float) -> None: ...

    @abc.abstractmethod
    async def disarm(self, symbol: str) -> None: ...
