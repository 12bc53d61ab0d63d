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
    """A market's precision and minimums as the venue lists them."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal = Decimal(0)


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
    """Why the venue would refuse this size/price on precision or minimums (None: it fits).

    ``price`` None means a market order, whose notional is not checked here.
    Reduce-only orders are exempt from the minimum notional, as the venues do.
    """
    if quantity <= 0 or not is_multiple(quantity, rules.step_size):
        return RejectReason.BAD_QUANTITY
    if quantity < rules.min_quantity:
        return RejectReason.BAD_QUANTITY
    if price is not None:
        if price <= 0 or not is_multiple(price, rules.tick_size):
            return RejectReason.BAD_PRICE
        if not reduce_only and rules.min_notional and price * quantity < rules.min_notional:
            return RejectReason.MIN_NOTIONAL
    return None
