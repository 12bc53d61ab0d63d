"""Profit and loss of one market, from fills, funding payments and mark prices, exact in Decimal.

Definitions (all in the quote currency):

- ``realized``: trading PnL by average cost, before fees and funding.  Adding
  to a position moves the average; a reduce realizes ``(exit - average) * size``;
  a fill through zero closes the whole position and opens the rest at its price.
- ``unrealized``: ``position * mark - cost basis`` (None until a mark is known).
- ``fees``: fees paid, net of rebates (a negative venue fee is a rebate).  A fee
  charged in the base asset counts at the fill price; on a USD-quoted market a
  fee in the USD stablecoin it settles in counts at par (Paradex: USD markets,
  USDC collateral); a fee in any other asset cannot be priced here and is kept
  apart in ``other_fees``.
- ``funding``: funding received (> 0) or paid (< 0).
- ``net_realized = realized - fees + funding`` (the report's cumulative PnL);
  ``total = net_realized + unrealized``.
- ``fill_rate``: orders with at least one fill per order placed, so partial
  fills of one order count once and the rate stays a share.
- ``fee_ratio = fees / quote volume``; ``wear_rate = (fees - realized - funding)
  / quote volume``: the original's net wear per unit traded, > 0 a loss.

The cost basis is kept as a total, not an average price: a partial close
removes a share of it (rounded to 1e-12) and realizes exactly the rest, so
``realized + unrealized`` equals the cash flow marked to market exactly.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from decimal import Context, Decimal, localcontext

from services.wire import Fill, FundingPayment, Side
from venues.precision import MarketRules

_ZERO = Decimal(0)
_COST_QUANTUM = Decimal("1e-12")
# Wide enough that sums and products of venue-sized prices and sizes are exact.
_CTX = Context(prec=60)
# USD-quoted perpetuals settle PnL and fees in a USD stablecoin, one for one (Paradex: USDC).
_USD_SETTLEMENT = frozenset({"USDC"})


class _RecentIds:
    """Membership of the last ``capacity`` ids: duplicates arrive close together (replays, resyncs)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def add(self, key: str) -> bool:
        """Record ``key``; False if it was already there."""
        if key in self._ids:
            return False
        self._ids.add(key)
        self._order.append(key)
        if len(self._order) > self._capacity:
            self._ids.discard(self._order.popleft())
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalPnl:
    """What happened between two reports."""

    bought_base: Decimal = _ZERO
    sold_base: Decimal = _ZERO
    fills: int = 0
    volume_quote: Decimal = _ZERO
    realized: Decimal = _ZERO
    fees: Decimal = _ZERO
    funding: Decimal = _ZERO

    @property
    def pnl(self) -> Decimal:
        """Net realized PnL of the interval: realized - fees + funding."""
        return self.realized - self.fees + self.funding

    def minus(self, earlier: IntervalPnl) -> IntervalPnl:
        """The difference of two running totals."""
        return IntervalPnl(**{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)})


@dataclass(frozen=True, slots=True, kw_only=True)
class PnlSnapshot:
    """Every cumulative figure at one moment (see the module docstring for definitions)."""

    position: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None
    realized: Decimal
    unrealized: Decimal | None
    fees: Decimal
    other_fees: dict[str, Decimal]
    funding: Decimal
    volume_base: Decimal
    volume_quote: Decimal
    fill_count: int
    filled_orders: int
    orders_placed: int
    position_deviation: Decimal

    @property
    def net_realized(self) -> Decimal:
        return self.realized - self.fees + self.funding

    @property
    def total(self) -> Decimal | None:
        return None if self.unrealized is None else self.net_realized + self.unrealized

    @property
    def fill_rate(self) -> Decimal | None:
        return None if self.orders_placed == 0 else Decimal(self.filled_orders) / self.orders_placed

    @property
    def fee_ratio(self) -> Decimal | None:
        return None if self.volume_quote == 0 else self.fees / self.volume_quote

    @property
    def wear_rate(self) -> Decimal | None:
        return None if self.volume_quote == 0 else -self.net_realized / self.volume_quote


class PnlTracker:
    """Running PnL of one market; feed it every fill, funding payment and mark price."""

    def __init__(
        self,
        rules: MarketRules,
        *,
        target_position: Decimal = _ZERO,
        position: Decimal = _ZERO,
        entry_price: Decimal | None = None,
        dedup_window: int = 100_000,
    ) -> None:
        """Start from ``position`` held at ``entry_price`` (both from the venue after a restart)."""
        if position != 0 and (entry_price is None or entry_price <= 0):
            raise ValueError("an initial position needs a positive entry_price")
        self._rules = rules
        self._target = target_position
        self._position = position
        self._cost = position * entry_price if entry_price is not None else _ZERO
        self._mark: Decimal | None = None
        self._other_fees: dict[str, Decimal] = {}
        self._totals = IntervalPnl()
        self._reported = IntervalPnl()
        self._orders_placed = 0
        self._fill_ids = _RecentIds(dedup_window)
        self._filled_order_ids = _RecentIds(dedup_window)
        self._filled_orders = 0
        self._funding_ids = _RecentIds(dedup_window)

    @property
    def position(self) -> Decimal:
        return self._position

    def on_order_placed(self, count: int = 1) -> None:
        """Count orders the venue accepted (the fill rate's denominator)."""
        self._orders_placed += count

    def on_mark(self, price: Decimal) -> None:
        """Use ``price`` for the unrealized PnL from now on."""
        if price <= 0:
            raise ValueError(f"mark price must be > 0, got {price}")
        self._mark = price

    def on_fill(self, fill: Fill) -> bool:
        """Apply a fill once; False when its trade id was already seen (a replay).

        Raises ValueError for another market's fill or a non-positive price or size.
        """
        if fill.symbol != self._rules.symbol:
            raise ValueError(f"fill for {fill.symbol} fed to the {self._rules.symbol} tracker")
        if fill.quantity <= 0 or fill.price <= 0:
            raise ValueError(f"fill {fill.trade_id} has a non-positive price or quantity")
        # A fill without a venue trade id cannot be told from a replay: count it.
        if fill.trade_id and not self._fill_ids.add(fill.trade_id):
            return False
        if fill.order_id and self._filled_order_ids.add(fill.order_id):
            self._filled_orders += 1
        with localcontext(_CTX):
            realized = self._apply(fill.side.sign * fill.quantity, fill.price)
            fee = self._fee_in_quote(fill)
            notional = fill.price * fill.quantity
            t = self._totals
            self._totals = IntervalPnl(
                bought_base=t.bought_base + (fill.quantity if fill.side is Side.BUY else _ZERO),
                sold_base=t.sold_base + (fill.quantity if fill.side is Side.SELL else _ZERO),
                fills=t.fills + 1,
                volume_quote=t.volume_quote + notional,
                realized=t.realized + realized,
                fees=t.fees + fee,
                funding=t.funding,
            )
        return True

    def on_funding(self, payment: FundingPayment) -> bool:
        """Apply a funding payment once; False when its payment id was already seen."""
        if payment.symbol != self._rules.symbol:
            raise ValueError(f"funding for {payment.symbol} fed to the {self._rules.symbol} tracker")
        if payment.payment_id and not self._funding_ids.add(payment.payment_id):
            return False
        t = self._totals
        with localcontext(_CTX):
            self._totals = IntervalPnl(
                bought_base=t.bought_base,
                sold_base=t.sold_base,
                fills=t.fills,
                volume_quote=t.volume_quote,
                realized=t.realized,
                fees=t.fees,
                funding=t.funding + payment.amount,
            )
        return True

    def snapshot(self) -> PnlSnapshot:
        """The cumulative figures now."""
        with localcontext(_CTX):
            unrealized = None
            if self._position == 0:
                unrealized = _ZERO
            elif self._mark is not None:
                unrealized = self._position * self._mark - self._cost
            t = self._totals
            return PnlSnapshot(
                position=self._position,
                entry_price=None if self._position == 0 else self._cost / self._position,
                mark_price=self._mark,
                realized=t.realized,
                unrealized=unrealized,
                fees=t.fees,
                other_fees=dict(self._other_fees),
                funding=t.funding,
                volume_base=t.bought_base + t.sold_base,
                volume_quote=t.volume_quote,
                fill_count=t.fills,
                filled_orders=self._filled_orders,
                orders_placed=self._orders_placed,
                position_deviation=self._position - self._target,
            )

    def interval(self) -> IntervalPnl:
        """What happened since the last ``close_interval`` (or since the start)."""
        with localcontext(_CTX):
            return self._totals.minus(self._reported)

    def close_interval(self) -> IntervalPnl:
        """The interval so far, and start a new one (call once per report)."""
        view = self.interval()
        self._reported = self._totals
        return view

    def _apply(self, delta: Decimal, price: Decimal) -> Decimal:
        """Move the position by signed ``delta`` at ``price``; return the PnL this realizes."""
        pos = self._position
        if pos == 0 or (pos > 0) == (delta > 0):
            self._position = pos + delta
            self._cost += delta * price
            return _ZERO
        closed = min(abs(delta), abs(pos))
        if closed == abs(pos):
            removed = self._cost
        else:
            removed = (self._cost * closed / abs(pos)).quantize(_COST_QUANTUM)
        closed_signed = closed if pos > 0 else -closed
        realized = closed_signed * price - removed
        self._position = pos - closed_signed
        self._cost -= removed
        rest = abs(delta) - closed
        if rest > 0:
            opened = rest if delta > 0 else -rest
            self._position = opened
            self._cost = opened * price
        return realized

    def _fee_in_quote(self, fill: Fill) -> Decimal:
        asset = fill.fee_asset.upper()
        quote = self._rules.quote_asset.upper()
        if asset in ("", quote) or (quote == "USD" and asset in _USD_SETTLEMENT):
            return fill.fee
        if asset == self._rules.base_asset.upper():
            return fill.fee * fill.price
        self._other_fees[fill.fee_asset] = self._other_fees.get(fill.fee_asset, _ZERO) + fill.fee
        return _ZERO
