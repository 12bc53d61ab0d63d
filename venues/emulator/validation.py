"""Checks a new order must pass before it reaches the book, and the refusals the engine raises."""

from __future__ import annotations

from decimal import Decimal

from services.wire import OrderType, RejectReason
from venues.emulator.records import UINT32_MAX, OrderRejected, OrderRequest, RejectDetail
from venues.precision import MarketRules, fmt, is_multiple


def _reject(reason: RejectReason, detail: RejectDetail, message: str) -> OrderRejected:
    return OrderRejected(reason, detail, message)


def check_request(request: OrderRequest, rules: MarketRules | None, *, known_account: bool) -> None:
    """Raise ``OrderRejected`` when the request is malformed or off the market's tick, step or minimum."""
    if not known_account:
        raise _reject(RejectReason.AUTH, RejectDetail.UNKNOWN_ACCOUNT, "unknown account")
    if rules is None:
        raise _reject(RejectReason.MALFORMED, RejectDetail.UNKNOWN_SYMBOL, f"unknown symbol {request.symbol}")
    if request.client_id is not None and not 0 <= request.client_id <= UINT32_MAX:
        raise _reject(RejectReason.MALFORMED, RejectDetail.CLIENT_ID, "client id must be a uint32")
    if request.order_type is OrderType.LIMIT:
        if request.price is None:
            raise _reject(RejectReason.BAD_PRICE, RejectDetail.PRICE_MISSING, "a limit order needs a price")
        if request.quantity is None:
            raise _reject(
                RejectReason.BAD_QUANTITY, RejectDetail.QUANTITY_MISSING, "a limit order needs a quantity"
            )
        if request.quote_quantity is not None:
            raise _reject(
                RejectReason.MALFORMED,
                RejectDetail.QUANTITY_MISSING,
                "quote quantity is for market orders only",
            )
    else:
        if request.post_only:
            raise _reject(
                RejectReason.MALFORMED, RejectDetail.POST_ONLY_MARKET, "a market order cannot be post-only"
            )
        if (request.quantity is None) == (request.quote_quantity is None):
            raise _reject(
                RejectReason.BAD_QUANTITY,
                RejectDetail.QUANTITY_MISSING,
                "a market order needs exactly one of quantity and quote quantity",
            )
    if request.price is not None:
        _check_price(request.price, rules)
    if request.quantity is not None:
        _check_quantity(request.quantity, rules)
    if request.quote_quantity is not None and request.quote_quantity <= 0:
        raise _reject(
            RejectReason.BAD_QUANTITY, RejectDetail.QUANTITY_NOT_POSITIVE, "quote quantity must be positive"
        )


def _check_price(price: Decimal, rules: MarketRules) -> None:
    if price <= 0:
        raise _reject(RejectReason.BAD_PRICE, RejectDetail.PRICE_NOT_POSITIVE, "price must be positive")
    if not is_multiple(price, rules.tick_size):
        raise _reject(
            RejectReason.BAD_PRICE,
            RejectDetail.PRICE_TICK,
            f"price {fmt(price)} is not a multiple of {rules.tick_size}",
        )


def _check_quantity(quantity: Decimal, rules: MarketRules) -> None:
    if quantity <= 0:
        raise _reject(
            RejectReason.BAD_QUANTITY, RejectDetail.QUANTITY_NOT_POSITIVE, "quantity must be positive"
        )
    if not is_multiple(quantity, rules.step_size):
        raise _reject(
            RejectReason.BAD_QUANTITY,
            RejectDetail.QUANTITY_STEP,
            f"quantity {fmt(quantity)} is not a multiple of {rules.step_size}",
        )
    if quantity < rules.min_quantity:
        raise _reject(
            RejectReason.BAD_QUANTITY,
            RejectDetail.QUANTITY_MIN,
            f"quantity {fmt(quantity)} is below the minimum {rules.min_quantity}",
        )


def post_only_rejection() -> OrderRejected:
    return _reject(
        RejectReason.POST_ONLY_WOULD_TAKE,
        RejectDetail.POST_ONLY_TAKER,
        "post-only order would take liquidity",
    )


def reduce_only_rejection() -> OrderRejected:
    return _reject(
        RejectReason.REDUCE_ONLY,
        RejectDetail.REDUCE_ONLY_NOT_REDUCING,
        "reduce-only order would not reduce the position",
    )


def margin_rejection(*, required: Decimal, equity: Decimal) -> OrderRejected:
    return _reject(
        RejectReason.INSUFFICIENT_MARGIN,
        RejectDetail.INSUFFICIENT_MARGIN,
        f"initial margin {fmt(required)} would exceed equity {fmt(equity)}",
    )
