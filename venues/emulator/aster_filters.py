"""Aster's order filters and parameter checks over the emulator, as exchangeInfo lists them.

``MIN_NOTIONAL`` (-4164, reduce-only orders excepted), ``LOT_SIZE.maxQty`` and,
for market orders, ``MARKET_LOT_SIZE.maxQty`` (-4005), ``PERCENT_PRICE`` around
the mark (-4016, -4024, -4131); decimal and boolean parameters (-1100, -1130).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from services.wire import OrderType, Side
from venues.emulator.aster_errors import (
    bad_param,
    market_outside_band,
    min_notional,
    price_above_band,
    price_below_band,
    quantity_above_max,
)
from venues.emulator.aster_format import DEFAULT_BAND, UNBOUNDED_QUANTITY
from venues.emulator.core import EmulatorCore
from venues.emulator.records import OrderRequest
from venues.precision import fmt


def decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
    """A decimal parameter (None when absent or empty); anything but a finite number is -1100."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise bad_param(f"Illegal characters found in parameter '{name}'.", code=-1100) from None
    if not value.is_finite():
        raise bad_param(f"Illegal characters found in parameter '{name}'.", code=-1100)
    return value


def flag_param(params: Mapping[str, str], name: str) -> bool:
    """A ``true``/``false`` parameter (false when absent); anything else is -1130."""
    raw = params.get(name, "false")
    if raw.lower() not in ("true", "false"):
        raise bad_param(f"Parameter '{name}' must be 'true' or 'false'.", code=-1130)
    return raw.lower() == "true"


def check_notional(core: EmulatorCore, request: OrderRequest) -> None:
    """``MIN_NOTIONAL`` (-4164), reduce-only orders excepted; a market order is valued at the mark."""
    rules = core.profiles[request.symbol].rules
    if request.reduce_only or not rules.min_notional or request.quantity is None:
        return
    price = request.price or core.engine.mark_state(request.symbol).mark
    if price is not None and price * request.quantity < rules.min_notional:
        raise min_notional(fmt(rules.min_notional))


def check_filters(core: EmulatorCore, request: OrderRequest) -> None:
    """``LOT_SIZE``/``MARKET_LOT_SIZE`` maxima and ``PERCENT_PRICE``, as exchangeInfo lists them."""
    rules = core.profiles[request.symbol].rules
    market = request.order_type is OrderType.MARKET
    largest = [rules.max_quantity or UNBOUNDED_QUANTITY]
    if market:
        largest.append(rules.max_market_quantity or UNBOUNDED_QUANTITY)
    if request.quantity is not None and request.quantity > min(largest):
        raise quantity_above_max()
    mark = core.engine.mark_state(request.symbol).mark
    if mark is None:
        return
    high = mark * (rules.price_up or DEFAULT_BAND[1])
    low = mark * (rules.price_down or DEFAULT_BAND[0])
    buy = request.side is Side.BUY
    if market:
        bid, ask = core.engine.top(request.symbol)
        best = ask if buy else bid
        if best is not None and (best[0] > high if buy else best[0] < low):
            raise market_outside_band()
    elif request.price is not None:
        if buy and request.price > high:
            raise price_above_band()
        if not buy and request.price < low:
            raise price_below_band()
