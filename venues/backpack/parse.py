"""Backpack REST JSON to bus types, and bus requests to Backpack request bodies.

Pure: no I/O.  Every number is read as an exact ``Decimal`` (JSON floats
included, see ``venues.common.parse.loads``), and anything missing or
malformed raises ``MalformedResponse`` and only that, so callers handle one
error type.
The stream's payloads are in ``events``, the error mapping in ``errors``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

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
    TimeInForce,
)
from venues.common.parse import (
    MalformedResponse,
    dec,
    field,
    integer,
    opt_client_id,
    opt_dec,
)
from venues.precision import MarketRules, fmt

SIDE_TO_VENUE = {Side.BUY: "Bid", Side.SELL: "Ask"}
_SIDE_FROM_VENUE = {"bid": Side.BUY, "ask": Side.SELL}
_STATUS = {
    "new": OrderStatus.NEW,
    "partiallyfilled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
}
# A trigger order rests (``Triggered``: the order it placed still works) until it fails or is cancelled.
_TRIGGER_STATUS = {
    "triggerpending": OrderStatus.NEW,
    "triggered": OrderStatus.NEW,
    "triggerfailed": OrderStatus.REJECTED,
}
_TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
# Fields that make an order a trigger (conditional) order, in REST objects and in stream events.
TRIGGER_FIELDS = ("triggerPrice", "triggerQuantity")
TRIGGER_EVENT_FIELDS = ("P", "Y")
# Expiry reasons that mean the venue refused the order outright.
_EXPIRY_REJECTS = {
    "PostOnlyTaker": RejectReason.POST_ONLY_WOULD_TAKE,
    "ReduceOnlyNotReduced": RejectReason.REDUCE_ONLY,
    "InsufficientMargin": RejectReason.INSUFFICIENT_MARGIN,
    "InsufficientFunds": RejectReason.INSUFFICIENT_MARGIN,
    "InvalidPrice": RejectReason.BAD_PRICE,
    "PriceOutOfBounds": RejectReason.BAD_PRICE,
    "InvalidQuantity": RejectReason.BAD_QUANTITY,
    "PositionLimit": RejectReason.POSITION_LIMIT,
}


def side_from_venue(text: Any) -> Side:
    try:
        return _SIDE_FROM_VENUE[str(text).lower()]
    except KeyError:
        raise MalformedResponse(f"unknown side {text!r}") from None


def order_kind(order_type: Any, status: Any, *, trigger: bool) -> tuple[OrderType, OrderStatus, str]:
    """``(type, status, venue_type)`` of an order as the venue names its type and status.

    A trigger order (stop, take-profit: ``trigger``), or a type or status this connector does not
    know, is ``CONDITIONAL`` with the venue's names in ``venue_type``: perp-mm never places one, so
    it is a foreign order, and it rests (``NEW``) until the venue reports an end it knows.
    """
    type_text, status_text = str(order_type), str(status)
    kind, plain = _TYPES.get(type_text.lower()), _STATUS.get(status_text.lower())
    if kind is not None and plain is not None and not trigger:
        return kind, plain, ""
    final = plain or _TRIGGER_STATUS.get(status_text.lower(), OrderStatus.NEW)
    # The stream spells types in capitals (MARKET), REST does not (Market): one name for both.
    name = type_text.capitalize() if kind is not None else type_text
    return OrderType.CONDITIONAL, final, f"{name} {status_text}"


def naive_utc_ms(value: Any) -> int:
    """Milliseconds since the epoch from Backpack's naive-UTC ISO text (or a number of ms)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise MalformedResponse(f"not a timestamp: {value!r}") from None
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


# ---------------------------------------------------------------- requests


def order_payload(order: Place, *, auto_lend_redeem: bool) -> dict[str, Any]:
    """The ``orderExecute`` body for ``order``: decimal strings, ``Bid``/``Ask``, ``clientId``."""
    body: dict[str, Any] = {
        "symbol": order.symbol,
        "side": SIDE_TO_VENUE[order.side],
        "quantity": fmt(order.quantity),
        "clientId": order.client_id,
    }
    if order.order_type is OrderType.MARKET:
        body["orderType"] = "Market"
    else:
        if order.price is None:
            raise ValueError("a limit order needs a price")
        body["orderType"] = "Limit"
        body["price"] = fmt(order.price)
        body["timeInForce"] = "IOC" if order.tif is TimeInForce.IOC else "GTC"
        if order.post_only:
            body["postOnly"] = True
        # The original bot sent this on every Backpack quote; the venue treats it as a
        # spot-margin flag, so it never changes a perp order's risk.
        if auto_lend_redeem:
            body["autoLendRedeem"] = True
    if order.reduce_only:
        body["reduceOnly"] = True
    return body


# ---------------------------------------------------------------- REST payloads


def order_from_rest(raw: Any) -> OrderUpdate:
    """An order object (execute, query, cancel answers) as an ``OrderUpdate`` (see ``order_kind``)."""
    trigger = any(raw.get(name) is not None for name in TRIGGER_FIELDS)
    order_type, status, venue_type = order_kind(
        field(raw, "orderType"), field(raw, "status"), trigger=trigger
    )
    filled = dec(raw.get("executedQuantity") or 0)
    quantity = opt_dec(raw, "quantity")
    if order_type is OrderType.CONDITIONAL and not quantity:
        quantity = trigger_amount(raw.get("triggerQuantity"))
    return OrderUpdate(
        symbol=str(field(raw, "symbol")),
        order_id=str(field(raw, "id")),
        client_id=opt_client_id(raw.get("clientId")),
        side=side_from_venue(field(raw, "side")),
        order_type=order_type,
        price=opt_dec(raw, "price") if str(raw["orderType"]).lower() == "limit" else None,
        # Quote-quantity market orders carry no base quantity: what executed is the size.
        quantity=quantity if quantity is not None else filled,
        filled_quantity=filled,
        status=status,
        post_only=bool(raw.get("postOnly", False)),
        reduce_only=bool(raw.get("reduceOnly") or False),
        reason=str(raw.get("expiryReason") or ""),
        venue_type=venue_type,
    )


def trigger_amount(raw: Any) -> Decimal | None:
    """A trigger order's ``triggerQuantity`` when it is an amount (None: a percent, or unreadable).

    Only a foreign order carries one, and nothing about it may make reading the others fail.
    """
    try:
        return None if raw is None else dec(raw)
    except MalformedResponse:
        return None


def placement_rejection(update: OrderUpdate) -> RejectReason | None:
    """Why an order that came back ``Expired`` with nothing filled was in fact refused."""
    if update.status is not OrderStatus.EXPIRED or update.filled_quantity:
        return None
    return _EXPIRY_REJECTS.get(update.reason)


def trade_id_of(raw_id: Any, *, order_id: str, at_ms: int, price: Decimal, quantity: Decimal) -> str:
    """The venue's trade id, or one made from the fill itself when it gave none.

    System fills (liquidation, ADL) carry a null ``tradeId``, and before 2025-11-12 backstop
    liquidation fills carried 0: many fills share such an id, so it never identifies one.  The
    made-up id is the same from the fill history and from the order stream.
    """
    if raw_id is None or str(raw_id).strip() in ("", "0"):
        return f"{order_id}@{at_ms}:{fmt(price)}x{fmt(quantity)}"
    return str(raw_id)


def fill_from_rest(raw: Any) -> Fill:
    """One ``/wapi/v1/history/fills`` row; a fill without a trade id (0 or null) gets one of its own."""
    order_id = str(field(raw, "orderId"))
    price, quantity = dec(field(raw, "price")), dec(field(raw, "quantity"))
    trade_id = trade_id_of(
        raw.get("tradeId"), order_id=order_id, at_ms=fill_time_ms(raw), price=price, quantity=quantity
    )
    return Fill(
        symbol=str(field(raw, "symbol")),
        trade_id=trade_id,
        order_id=order_id,
        client_id=opt_client_id(raw.get("clientId")),
        side=side_from_venue(field(raw, "side")),
        price=price,
        quantity=quantity,
        fee=dec(raw.get("fee") or 0),
        fee_asset=str(raw.get("feeSymbol") or ""),
        is_maker=bool(raw.get("isMaker", False)),
    )


def fill_time_ms(raw: Any) -> int:
    return naive_utc_ms(field(raw, "timestamp"))


def flat_position(symbol: str) -> Position:
    return Position(symbol=symbol, quantity=Decimal(0), entry_price=Decimal(0))


def position_from_rest(raw: Any) -> Position:
    return Position(
        symbol=str(field(raw, "symbol")),
        quantity=dec(field(raw, "netQuantity")),
        entry_price=dec(raw.get("entryPrice") or 0),
        mark_price=opt_dec(raw, "markPrice"),
        unrealized_pnl=opt_dec(raw, "pnlUnrealized"),
        realized_pnl=opt_dec(raw, "pnlRealized"),
    )


def balance_from_collateral(raw: Any, *, asset: str = "USDC") -> Balance:
    """``/api/v1/capital/collateral`` as the account's equity in the quote currency."""
    return Balance(
        asset=asset,
        equity=dec(field(raw, "netEquity")),
        available=dec(field(raw, "netEquityAvailable")),
        margin_fraction=opt_dec(raw, "marginFraction"),
    )


def funding_from_rest(raw: Any) -> FundingPayment:
    """One funding row; the venue has no payment id, so symbol and interval end make one."""
    symbol = str(field(raw, "symbol"))
    return FundingPayment(
        symbol=symbol,
        payment_id=f"{symbol}@{field(raw, 'intervalEndTimestamp')}",
        amount=dec(field(raw, "quantity")),
        rate=opt_dec(raw, "fundingRate"),
    )


def funding_time_ms(raw: Any) -> int:
    return naive_utc_ms(field(raw, "intervalEndTimestamp"))


def market_rules(raw: Any) -> MarketRules | None:
    """A perpetual market's precision (None for spot and other market types)."""
    market_type = raw.get("marketType") if isinstance(raw, Mapping) else None
    if market_type is not None and str(market_type).upper() != "PERP":
        return None
    filters = field(raw, "filters")
    price, quantity = field(filters, "price"), field(filters, "quantity")
    step = dec(field(quantity, "stepSize"))
    return MarketRules(
        symbol=str(field(raw, "symbol")),
        base_asset=str(field(raw, "baseSymbol")),
        quote_asset=str(field(raw, "quoteSymbol")),
        tick_size=dec(field(price, "tickSize")),
        step_size=step,
        min_quantity=dec(quantity.get("minQuantity") or step),
        # maxQuantity bounds one order of any type (null: no bound).
        max_quantity=opt_dec(quantity, "maxQuantity") or None,
    )


def mark_from_rest(raw: Any) -> Mark:
    return Mark(
        symbol=str(field(raw, "symbol")),
        mark=dec(field(raw, "markPrice")),
        index=opt_dec(raw, "indexPrice"),
        funding_rate=opt_dec(raw, "fundingRate"),
        next_funding_ms=integer(raw.get("nextFundingTimestamp") or 0),
    )
