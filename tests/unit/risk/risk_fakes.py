"""A scripted in-memory venue for the guardian's shell tests (no sockets)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal

from services.wire import (
    Balance,
    Fill,
    FundingPayment,
    Mark,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    RejectReason,
    Side,
)
from venues.base import DeadManSwitch, DepthSnapshot, Rejected, Unavailable, Venue, VenueEvent
from venues.precision import MarketRules

SYM = "SOL_USDC_PERP"
RULES = MarketRules(
    symbol=SYM,
    base_asset="SOL",
    quote_asset="USDC",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.01"),
    min_quantity=Decimal("0.01"),
)


class FakeVenue(Venue):
    """Fills reduce-only market orders at the mark at once; ``down`` makes every call fail."""

    name = "fake"

    def __init__(self) -> None:
        self.quantity = Decimal(0)
        self.entry = Decimal(0)
        self.mark_px = Decimal(100)
        self.resting = 0
        self.equity = Decimal(10_000)
        self.margin_fraction: Decimal | None = None
        self.down = False
        self.reject_places = 0
        self.placed: list[Place] = []
        self.cancel_alls = 0
        self.calls: list[str] = []
        # Stops set in the venue's web app; like some venues' cancel-all, this one leaves them resting.
        self.foreign: list[OrderUpdate] = []

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.down:
            raise Unavailable(f"{what}: venue down")

    async def load_markets(self) -> dict[str, MarketRules]:
        self._call("markets")
        return {SYM: RULES}

    async def server_time_ms(self) -> int:
        return 0

    async def public_stream(self, symbol: str) -> AsyncIterator[VenueEvent]:
        raise NotImplementedError
        yield

    async def private_stream(self, symbol: str) -> AsyncIterator[VenueEvent]:
        raise NotImplementedError
        yield

    async def place_order(self, order: Place) -> OrderUpdate:
        self._call("place")
        if self.reject_places:
            self.reject_places -= 1
            raise Rejected("refused", reason=RejectReason.OTHER)
        self.placed.append(order)
        fill = min(order.quantity, abs(self.quantity)) if order.reduce_only else order.quantity
        self.quantity += fill * order.side.sign
        if self.quantity == 0:
            self.entry = Decimal(0)
        return OrderUpdate(
            symbol=order.symbol,
            order_id=str(len(self.placed)),
            client_id=order.client_id,
            side=order.side,
            order_type=OrderType.MARKET,
            price=None,
            quantity=order.quantity,
            filled_quantity=fill,
            status=OrderStatus.FILLED,
            reduce_only=order.reduce_only,
        )

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        self._call("cancel")
        found = [order for order in self.foreign if order.order_id == order_id]
        if found:
            self.foreign.remove(found[0])
            return dataclasses.replace(found[0], status=OrderStatus.CANCELLED)
        if order_id is not None and order_id.startswith("r") and self.resting:
            self.resting -= 1
            return OrderUpdate(
                symbol=symbol,
                order_id=order_id,
                client_id=None,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                price=Decimal(50),
                quantity=Decimal(1),
                filled_quantity=Decimal(0),
                status=OrderStatus.CANCELLED,
            )
        raise Rejected(f"no open order {order_id}", reason=RejectReason.UNKNOWN_ORDER)

    async def cancel_all(self, symbol: str) -> int:
        self._call("cancel_all")
        self.cancel_alls += 1
        cancelled, self.resting = self.resting, 0
        return cancelled

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        self._call("open_orders")
        return [
            OrderUpdate(
                symbol=symbol,
                order_id=f"r{i}",
                client_id=i + 1,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                price=Decimal(50),
                quantity=Decimal(1),
                filled_quantity=Decimal(0),
                status=OrderStatus.NEW,
            )
            for i in range(self.resting)
        ] + list(self.foreign)

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate | None:
        return None

    async def position(self, symbol: str) -> Position:
        self._call("position")
        return Position(symbol=symbol, quantity=self.quantity, entry_price=self.entry)

    async def collateral(self) -> Balance:
        self._call("collateral")
        return Balance(
            asset="USDC", equity=self.equity, available=self.equity, margin_fraction=self.margin_fraction
        )

    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]:
        return []

    async def funding_payments(self, symbol: str, *, since_ms: int | None = None) -> list[FundingPayment]:
        return []

    async def close(self) -> None:
        self.calls.append("close")

    async def mark_price(self, symbol: str) -> Decimal:
        self._call("mark")
        return self.mark_px

    async def mark(self, symbol: str) -> Mark:
        return Mark(symbol=symbol, mark=await self.mark_price(symbol))

    async def depth(self, symbol: str) -> DepthSnapshot:
        raise NotImplementedError


class FakeDeadManVenue(FakeVenue, DeadManSwitch):
    def __init__(self) -> None:
        super().__init__()
        self.armed: list[float] = []

    async def arm(self, symbol: str, *, timeout_s: float) -> None:
        self.armed.append(timeout_s)

    async def disarm(self, symbol: str) -> None:
        self.armed.clear()


def foreign_stop(order_id: str = "stop-1", *, venue_type: str = "STOP_MARKET") -> OrderUpdate:
    """A reduce-only stop-loss the trader set in the venue's web app."""
    return OrderUpdate(
        symbol=SYM,
        order_id=order_id,
        client_id=None,
        side=Side.SELL,
        order_type=OrderType.CONDITIONAL,
        price=None,
        quantity=Decimal(1),
        filled_quantity=Decimal(0),
        status=OrderStatus.NEW,
        reduce_only=True,
        venue_type=venue_type,
    )
