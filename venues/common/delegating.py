"""The shape every connector here shares: a ``Venue`` whose calls go to its REST client and stream client.

A connector builds ``self.transport`` (the signed HTTP session), ``self.rest``
(the REST calls, in bus types) and ``self.stream`` (the self-healing public and
private streams); ``RestStreamVenue`` turns those into the ``Venue`` interface,
so each connector writes only what differs (its constructor, and a venue-side
dead-man switch where the venue has one).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Protocol

from services.wire import Balance, Fill, FundingPayment, Mark, OrderUpdate, Place, Position
from venues.base import DepthSnapshot, Venue, VenueEvent
from venues.precision import MarketRules


class Rest(Protocol):
    async def load_markets(self) -> dict[str, MarketRules]: ...
    async def server_time_ms(self) -> int: ...
    async def place_order(self, order: Place) -> OrderUpdate: ...
    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate: ...
    async def cancel_all(self, symbol: str) -> int: ...
    async def open_orders(self, symbol: str) -> list[OrderUpdate]: ...
    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate | None: ...
    async def position(self, symbol: str) -> Position: ...
    async def collateral(self) -> Balance: ...
    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]: ...
    async def funding_payments(self, symbol: str, *, since_ms: int | None = None) -> list[FundingPayment]: ...
    async def mark_price(self, symbol: str) -> Decimal: ...
    async def mark(self, symbol: str) -> Mark: ...
    async def depth(self, symbol: str) -> DepthSnapshot: ...


class Streams(Protocol):
    def public(self, symbol: str) -> AsyncGenerator[VenueEvent, None]: ...
    def private(self, symbol: str) -> AsyncGenerator[VenueEvent, None]: ...


class Transport(Protocol):
    async def close(self) -> None: ...


class RestStreamVenue(Venue):
    """``Venue`` over ``rest``, ``stream`` and ``transport``, which the connector's constructor sets."""

    rest: Rest
    stream: Streams
    transport: Transport

    async def load_markets(self) -> dict[str, MarketRules]:
        return await self.rest.load_markets()

    async def server_time_ms(self) -> int:
        return await self.rest.server_time_ms()

    def public_stream(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        return self.stream.public(symbol)

    def private_stream(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        return self.stream.private(symbol)

    async def place_order(self, order: Place) -> OrderUpdate:
        return await self.rest.place_order(order)

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        return await self.rest.cancel_order(symbol, order_id=order_id, client_id=client_id)

    async def cancel_all(self, symbol: str) -> int:
        return await self.rest.cancel_all(symbol)

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        return await self.rest.open_orders(symbol)

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate | None:
        return await self.rest.get_order(symbol, order_id=order_id, client_id=client_id)

    async def position(self, symbol: str) -> Position:
        return await self.rest.position(symbol)

    async def collateral(self) -> Balance:
        return await self.rest.collateral()

    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]:
        return await self.rest.fills(symbol, since_ms=since_ms, limit=limit)

    async def funding_payments(self, symbol: str, *, since_ms: int | None = None) -> list[FundingPayment]:
        return await self.rest.funding_payments(symbol, since_ms=since_ms)

    async def mark_price(self, symbol: str) -> Decimal:
        return await self.rest.mark_price(symbol)

    async def mark(self, symbol: str) -> Mark:
        return await self.rest.mark(symbol)

    async def depth(self, symbol: str) -> DepthSnapshot:
        return await self.rest.depth(symbol)

    async def close(self) -> None:
        await self.transport.close()
