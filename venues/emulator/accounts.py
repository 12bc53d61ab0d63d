"""Accounts, positions and their arithmetic: average entry, realized PnL, margin.

A position keeps the average entry price of its open quantity; reducing it
realizes ``closed * (price - entry)`` for a long (the mirror for a short),
settled to the quote unit as a venue does, and a fill larger than the position
flips it with the rest opened at the fill price.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from services.wire import Side
from venues.emulator.records import QUOTE_UNIT, ZERO, Fill, FundingRow, Order


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


@dataclass(slots=True)
class PositionState:
    position_id: str
    quantity: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    funding: Decimal = ZERO

    def apply_fill(self, side: Side, quantity: Decimal, price: Decimal) -> Decimal:
        """Apply a fill of ``quantity`` at ``price``; returns the PnL it realized."""
        signed = quantity * side.sign
        current = self.quantity
        if current == 0 or _sign(current) == side.sign:
            total = abs(current) + quantity
            self.entry_price = (abs(current) * self.entry_price + quantity * price) / total
            self.quantity = current + signed
            return ZERO
        closed = min(quantity, abs(current))
        realized = (closed * (price - self.entry_price) * _sign(current)).quantize(
            QUOTE_UNIT, rounding=ROUND_HALF_EVEN
        )
        self.realized_pnl += realized
        self.quantity = current + signed
        if self.quantity == 0:
            self.entry_price = ZERO
        elif _sign(self.quantity) != _sign(current):
            self.entry_price = price
        return realized

    def unrealized(self, mark: Decimal | None) -> Decimal:
        if mark is None or self.quantity == 0:
            return ZERO
        return self.quantity * (mark - self.entry_price)


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionView:
    """A position as events and front ends see it (a copy, with the mark at the time)."""

    symbol: str
    position_id: str
    quantity: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    funding: Decimal
    mark: Decimal | None

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.mark is None or self.quantity == 0:
            return ZERO
        return self.quantity * (self.mark - self.entry_price)


@dataclass(slots=True)
class Account:
    """Collateral (quote currency, fees and realized PnL and funding already applied) and positions.

    House accounts (the simulator's liquidity) skip margin checks and keep no
    history, so a long run does not grow memory.
    """

    account_id: str
    collateral: Decimal
    house: bool = False
    history_limit: int = 50_000
    positions: dict[str, PositionState] = field(default_factory=dict)
    open_orders: dict[str, Order] = field(default_factory=dict)
    closed_orders: deque[Order] = field(default_factory=deque)
    fills: deque[Fill] = field(default_factory=deque)
    funding_rows: deque[FundingRow] = field(default_factory=deque)
    orders_placed: int = 0

    def record_closed(self, order: Order) -> None:
        self.open_orders.pop(order.order_id, None)
        if not self.house:
            self.closed_orders.append(order)
            if len(self.closed_orders) > self.history_limit:
                self.closed_orders.popleft()

    def record_fill(self, fill: Fill) -> None:
        if not self.house:
            self.fills.append(fill)
            if len(self.fills) > self.history_limit:
                self.fills.popleft()

    def record_funding(self, row: FundingRow) -> None:
        if not self.house:
            self.funding_rows.append(row)
            if len(self.funding_rows) > self.history_limit:
                self.funding_rows.popleft()

    def find_open(self, symbol: str, *, order_id: str | None, client_id: int | None) -> Order | None:
        """The open order with that id, or the newest open one with that client id."""
        if order_id is not None:
            order = self.open_orders.get(order_id)
            return order if order is not None and order.symbol == symbol else None
        for order in reversed(self.open_orders.values()):
            if order.symbol == symbol and order.client_id == client_id:
                return order
        return None


def exposure(quantity: Decimal, open_buy: Decimal, open_sell: Decimal) -> Decimal:
    """Worst-case absolute position if every resting order on one side filled."""
    return max(abs(quantity + open_buy), abs(quantity - open_sell))


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginView:
    """An account's margin state in quote currency."""

    collateral: Decimal
    unrealized_pnl: Decimal
    equity: Decimal
    initial_margin: Decimal
    position_notional: Decimal

    @property
    def available(self) -> Decimal:
        return self.equity - self.initial_margin

    @property
    def margin_fraction(self) -> Decimal | None:
        """Equity over position notional (None without a position), as venues report it."""
        if self.position_notional == 0:
            return None
        return self.equity / self.position_notional


def margin_view(
    account: Account,
    *,
    marks: Mapping[str, Decimal | None],
    initial_fraction: Decimal,
    extra: tuple[str, Side, Decimal, Decimal] | None = None,
) -> MarginView:
    """The account's equity and margin at the given marks.

    Initial margin covers the worst-case position per symbol (position plus
    every resting non-reduce-only order on one side); ``extra`` adds a
    prospective order (symbol, side, quantity, price) to that worst case.
    A symbol without a mark is valued at its order price, then its entry.
    """
    buys: dict[str, Decimal] = {}
    sells: dict[str, Decimal] = {}
    prices: dict[str, Decimal] = {}
    resting = [
        (o.symbol, o.side, o.remaining, o.price) for o in account.open_orders.values() if not o.reduce_only
    ]
    if extra is not None:
        resting.append(extra)
    for symbol, side, quantity, price in resting:
        if price is None:
            continue
        target = buys if side is Side.BUY else sells
        target[symbol] = target.get(symbol, ZERO) + quantity
        prices.setdefault(symbol, price)
    unrealized = position_notional = worst_notional = ZERO
    for symbol in set(account.positions) | set(buys) | set(sells):
        position = account.positions.get(symbol)
        quantity = position.quantity if position else ZERO
        mark = marks.get(symbol)
        price = mark or prices.get(symbol) or (position.entry_price if position else ZERO)
        if position is not None:
            unrealized += position.unrealized(mark)
        position_notional += abs(quantity) * price
        worst_notional += exposure(quantity, buys.get(symbol, ZERO), sells.get(symbol, ZERO)) * price
    return MarginView(
        collateral=account.collateral,
        unrealized_pnl=unrealized,
        equity=account.collateral + unrealized,
        initial_margin=worst_notional * initial_fraction,
        position_notional=position_notional,
    )


def estimated_liquidation_price(
    quantity: Decimal, entry_price: Decimal, *, other_equity: Decimal, maintenance_fraction: Decimal
) -> Decimal:
    """The mark at which equity falls to maintenance margin, other positions held still (0: none).

    Solves ``other_equity + q * (P - entry) = |q| * P * mmf`` for ``P``.
    """
    if quantity == 0:
        return ZERO
    price = (quantity * entry_price - other_equity) / (quantity - abs(quantity) * maintenance_fraction)
    return max(price, ZERO)
