"""Exact price and size arithmetic: snapping to tick and step, venue minimums, formatting.

Bids floor to the tick and asks ceil, so snapping never makes a quote more
aggressive than asked; sizes always floor to the step, so an order is never
larger than asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from services.wire import RejectReason, Side


@dataclass(frozen=True, slots=True)
class MarketRules:
    """A market's precision, minimums and maximums as the venue lists them.

    ``max_quantity`` bounds a limit order's size and ``max_market_quantity`` a
    market order's (Aster's ``LOT_SIZE`` and ``MARKET_LOT_SIZE``); None where
    the venue publishes no bound.  ``price_up``/``price_down`` are Aster's
    ``PERCENT_PRICE`` multipliers of the mark price: a buy may not be priced
    above ``mark * price_up``, a sell not below ``mark * price_down``.
    """

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal = Decimal(0)
    max_quantity: Decimal | None = None
    max_market_quantity: Decimal | None = None
    price_up: Decimal | None = None
    price_down: Decimal | None = None

    def max_order_quantity(self, *, market: bool) -> Decimal | None:
        """The largest size one order may have (None: no bound)."""
        bounds = [self.max_quantity, self.max_market_quantity if market else None]
        known = [bound for bound in bounds if bound is not None]
        return min(known) if known else None


def floor_to(value: Decimal, increment: Decimal) -> Decimal:
    """The largest multiple of ``increment`` not above ``value``."""
    return (value / increment).to_integral_value(rounding=ROUND_FLOOR) * increment


def ceil_to(value: Decimal, increment: Decimal) -> Decimal:
    """The smallest multiple of ``increment`` not below ``value``."""
    return (value / increment).to_integral_value(rounding=ROUND_CEILING) * increment


def snap_price(price: Decimal, tick: Decimal, side: Side) -> Decimal:
    """Snap a quote price to the tick: bids floor, asks ceil (never more aggressive)."""
    return floor_to(price, tick) if side is Side.BUY else ceil_to(price, tick)


def snap_quantity(quantity: Decimal, step: Decimal) -> Decimal:
    """Floor a size to the step (never larger than asked)."""
    return floor_to(quantity, step)


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    return value % increment == 0


def fmt(value: Decimal) -> str:
    """Plain decimal text: no exponent, no trailing zeros ('1.50' -> '1.5', '1E+2' -> '100')."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def check_order(
    rules: MarketRules, *, quantity: Decimal, price: Decimal | None, reduce_only: bool = False
) -> RejectReason | None:
    """Why the venue would refuse this size/price on precision, minimums or maximums (None: it fits).

    ``price`` None means a market order, whose notional is not checked here.
    Reduce-only orders are exempt from the minimum notional, as the venues do.
    """
    if quantity <= 0 or not is_multiple(quantity, rules.step_size):
        return RejectReason.BAD_QUANTITY
    if quantity < rules.min_quantity:
        return RejectReason.BAD_QUANTITY
    largest = rules.max_order_quantity(market=price is None)
    if largest is not None and quantity > largest:
        return RejectReason.BAD_QUANTITY
    if price is not None:
        if price <= 0 or not is_multiple(price, rules.tick_size):
            return RejectReason.BAD_PRICE
        if not reduce_only and rules.min_notional and price * quantity < rules.min_notional:
            return RejectReason.MIN_NOTIONAL
    return None


def split_quantity(quantity: Decimal, rules: MarketRules, *, market: bool) -> list[Decimal]:
    """``quantity`` (a multiple of the step) as orders no larger than the market allows, largest first.

    Each part is a multiple of the step; the last may be below the venue's
    minimum only when ``quantity`` itself is.  One part when there is no bound.
    """
    largest = rules.max_order_quantity(market=market)
    if largest is None or quantity <= largest:
        return [quantity]
    part = floor_to(largest, rules.step_size)
    if part <= 0:
        raise ValueError(f"{rules.symbol}: the maximum order size {largest} is below one step")
    count, rest = divmod(quantity, part)
    parts = [part] * int(count) + ([rest] if rest else [])
    if len(parts) > 1 and parts[-1] < rules.min_quantity:
        # Too small to send alone: take it out of the part before, which stays within the bounds.
        short = rules.min_quantity - parts[-1]
        parts[-2] -= short
        parts[-1] += short
    return parts


def band_price(rules: MarketRules, side: Side, price: Decimal, *, mark: Decimal | None) -> Decimal:
    """``price`` moved inside the venue's percent-price band around ``mark`` (unchanged without one).

    A buy above ``mark * price_up`` comes down to it (floored to the tick), a
    sell below ``mark * price_down`` up to it (ceiled): never more aggressive.
    """
    if mark is None or mark <= 0:
        return price
    if side is Side.BUY and rules.price_up is not None:
        return min(price, floor_to(mark * rules.price_up, rules.tick_size))
    if side is Side.SELL and rules.price_down is not None:
        return max(price, ceil_to(mark * rules.price_down, rules.tick_size))
    return price
