"""Plain values shared by the strategy's unit tests: SOL_USDC_PERP's rules and one of our resting orders."""

from __future__ import annotations

from decimal import Decimal as D

from services.wire import OrderStatus, OrderType, OrderUpdate, Side
from venues.precision import MarketRules

RULES = MarketRules(
    symbol="SOL_USDC_PERP",
    base_asset="SOL",
    quote_asset="USDC",
    tick_size=D("0.01"),
    step_size=D("0.01"),
    min_quantity=D("0.01"),
)


def resting_order(
    side: Side, price: str, quantity: str = "0.1", *, oid: str = "1", reduce_only: bool = False
) -> OrderUpdate:
    """A post-only limit order of ours, resting unfilled (client id = order id)."""
    return OrderUpdate(
        symbol=RULES.symbol,
        order_id=oid,
        client_id=int(oid),
        side=side,
        order_type=OrderType.LIMIT,
        price=D(price),
        quantity=D(quantity),
        filled_quantity=D(0),
        status=OrderStatus.NEW,
        post_only=True,
        reduce_only=reduce_only,
    )
