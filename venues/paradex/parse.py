"""Paradex JSON to bus types, and bus orders to Paradex order bodies (pure, no I/O).

REST objects and the private channels' ``data`` share one shape per kind
(order, fill, position), so one parser serves both.  Anything missing or
malformed raises ``MalformedResponse``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.wire import (
    Bbo,
    Fill,
    FundingPayment,
    Level,
    Mark,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    Side,
    TimeInForce,
    Trade,
)
from venues.common.parse import MalformedResponse, dec, field, integer, opt_dec
from venues.paradex.errors import USER_CANCELED, cancel_rejection
from venues.precision import MarketRules, fmt

SIDE_TO_VENUE = {Side.BUY: "BUY", Side.SELL: "SELL"}
_SIDE_FROM_VENUE = {"BUY": Side.BUY, "SELL": Side.SELL}
_TYPE_FROM_VENUE = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET}


def rows(raw: Any) -> list[Any]:
    """The ``results`` list of a paginated answer."""
    results = field(raw, "results")
    if not isinstance(results, list):
        raise MalformedResponse("results is not a list")
    return results


def side_from_venue(text: Any) -> Side:
    try:
        return _SIDE_FROM_VENUE[str(text).upper()]
    except KeyError:
        raise MalformedResponse(f"unknown side {text!r}") from None


def client_id_from_venue(value: Any) -> int | None:
    """Our client ids are uint32 digit strings; anyone else's become None."""
    text = str(value or "")
    return int(text) if text.isdigit() and int(text) < 2**32 else None


def market_rules(raw: Any) -> MarketRules | None:
    """A perpetual market's rules (None for other kinds: options, spot)."""
    if not isinstance(raw, Mapping):
        raise MalformedResponse("a market must be an object")
    if str(raw.get("asset_kind") or "PERP").upper() != "PERP":
        return None
    step = dec(field(raw, "order_size_increment"))
    return MarketRules(
        symbol=str(field(raw, "symbol")),
        base_asset=str(field(raw, "base_currency")),
        # PnL, fees and funding settle in the settlement asset (USDC), so money is counted in it.
        quote_asset=str(raw.get("settlement_currency") or field(raw, "quote_currency")),
        tick_size=dec(field(raw, "price_tick_size")),
        step_size=step,
        min_quantity=step,
        min_notional=opt_dec(raw, "min_notional") or Decimal(0),
        # max_order_size bounds one order of any type (absent or 0: no bound).
        max_quantity=opt_dec(raw, "max_order_size") or None,
    )


def order_from_venue(raw: Any) -> OrderUpdate:
    """An order object (REST or the ``orders`` channel) as the order's state.

    ``NEW`` is received but not yet on the book; ``OPEN`` rests; ``CLOSED`` is
    filled when nothing remains, else cancelled by the user, refused (a
    rejecting ``cancel_reason`` with nothing filled) or expired.  An order
    perp-mm never places (``STOP_MARKET``, ``TAKE_PROFIT_LIMIT`` ... set in the
    web app, ``UNTRIGGERED`` until its trigger price is crossed) or a type or
    status not known here is ``CONDITIONAL``, the venue's names in ``venue_type``.
    """
    size = dec(field(raw, "size"))
    remaining = dec(raw.get("remaining_size") or 0)
    filled = max(size - remaining, Decimal(0))
    status_text = str(field(raw, "status")).upper()
    type_text = str(field(raw, "type")).upper()
    reason = str(raw.get("cancel_reason") or "")
    order_type = _TYPE_FROM_VENUE.get(type_text, OrderType.CONDITIONAL)
    venue_type = type_text if order_type is OrderType.CONDITIONAL else ""
    if status_text in ("NEW", "UNTRIGGERED"):
        status = OrderStatus.NEW
    elif status_text == "OPEN":
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
    elif status_text == "CLOSED":
        if remaining == 0 and filled > 0:
            status = OrderStatus.FILLED
        elif reason == USER_CANCELED:
            status = OrderStatus.CANCELLED
        elif cancel_rejection(reason) is not None and filled == 0:
            status = OrderStatus.REJECTED
        else:
            status = OrderStatus.EXPIRED
    else:
        # A status this connector does not know: taken as resting, someone else's to manage.
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
        order_type, venue_type = OrderType.CONDITIONAL, f"{type_text} {status_text}"
    price = opt_dec(raw, "price")
    flags = raw.get("flags") or []
    return OrderUpdate(
        symbol=str(field(raw, "market")),
        order_id=str(field(raw, "id")),
        client_id=client_id_from_venue(raw.get("client_id")),
        side=side_from_venue(field(raw, "side")),
        order_type=order_type,
        price=price if order_type is OrderType.LIMIT or (venue_type.endswith("_LIMIT") and price) else None,
        quantity=size,
        filled_quantity=filled,
        status=status,
        post_only=raw.get("instruction") == "POST_ONLY",
        reduce_only=isinstance(flags, list) and "REDUCE_ONLY" in flags,
        reason=reason,
        venue_type=venue_type,
    )


def order_time_ms(raw: Any) -> int:
    return integer(raw.get("last_updated_at") or field(raw, "created_at"))


def order_body(order: Place, *, signature: str, signature_ms: int) -> dict[str, Any]:
    """The ``POST /orders`` body: decimals exactly as signed, the client id as a string."""
    instruction = "GTC"
    if order.post_only:
        instruction = "POST_ONLY"
    elif order.tif is TimeInForce.IOC or order.order_type is OrderType.MARKET:
        instruction = "IOC"
    body: dict[str, Any] = {
        "market": order.symbol,
        "side": SIDE_TO_VENUE[order.side],
        "type": "LIMIT" if order.order_type is OrderType.LIMIT else "MARKET",
        "size": fmt(order.quantity),
        "price": fmt(order.price) if order.order_type is OrderType.LIMIT and order.price is not None else "0",
        "instruction": instruction,
        "client_id": str(order.client_id),
        "signature": signature,
        "signature_timestamp": signature_ms,
    }
    if order.reduce_only:
        body["flags"] = ["REDUCE_ONLY"]
    return body


def fill_from_venue(raw: Any) -> Fill:
    return Fill(
        symbol=str(field(raw, "market")),
        trade_id=str(field(raw, "id")),
        order_id=str(field(raw, "order_id")),
        client_id=client_id_from_venue(raw.get("client_id")),
        side=side_from_venue(field(raw, "side")),
        price=dec(field(raw, "price")),
        quantity=dec(field(raw, "size")),
        fee=dec(raw.get("fee") or 0),
        fee_asset=str(raw.get("fee_currency") or "USDC"),
        is_maker=str(raw.get("liquidity", "")).upper() == "MAKER",
    )


def position_from_venue(raw: Any, *, mark: Decimal | None) -> Position:
    """A position (``size`` may come signed or unsigned: ``side`` SHORT makes it negative)."""
    size = dec(field(raw, "size"))
    if str(raw.get("status", "OPEN")).upper() == "CLOSED":
        size = Decimal(0)
    elif str(raw.get("side", "")).upper() == "SHORT":
        size = -abs(size)
    return Position(
        symbol=str(field(raw, "market")),
        quantity=size,
        entry_price=dec(raw.get("average_entry_price") or 0) if size else Decimal(0),
        mark_price=mark,
        unrealized_pnl=opt_dec(raw, "unrealized_pnl"),
        realized_pnl=opt_dec(raw, "realized_positional_pnl"),
    )


def position_notional(raw: Any) -> Decimal:
    """A position's value at mark, from its entry and unrealized PnL (q*mark = q*entry + upnl)."""
    position = position_from_venue(raw, mark=None)
    return abs(position.quantity * position.entry_price + (position.unrealized_pnl or 0))


def funding_from_venue(raw: Any) -> FundingPayment:
    return FundingPayment(
        symbol=str(field(raw, "market")), payment_id=str(field(raw, "id")), amount=dec(field(raw, "payment"))
    )


def mark_from_summary(raw: Any) -> Mark:
    """A ``markets/summary`` row (or ``markets_summary`` data): funding is continuous, no next time."""
    return Mark(
        symbol=str(field(raw, "symbol")),
        mark=dec(field(raw, "mark_price")),
        index=opt_dec(raw, "underlying_price"),
        funding_rate=opt_dec(raw, "funding_rate"),
    )


def bbo_from_venue(raw: Any) -> Bbo | None:
    """A BBO (None while one side of the book is empty)."""
    if not isinstance(raw, Mapping) or any(
        raw.get(k) in (None, "") for k in ("bid", "bid_size", "ask", "ask_size")
    ):
        return None
    return Bbo(
        symbol=str(field(raw, "market")),
        bid=dec(raw["bid"]),
        bid_qty=dec(raw["bid_size"]),
        ask=dec(raw["ask"]),
        ask_qty=dec(raw["ask_size"]),
        update_id=integer(raw.get("seq_no") or 0),
    )


def trade_from_venue(raw: Any) -> Trade:
    """A public trade; ``side`` is the taker's."""
    return Trade(
        symbol=str(field(raw, "market")),
        trade_id=str(field(raw, "id")),
        price=dec(field(raw, "price")),
        quantity=dec(field(raw, "size")),
        taker_side=side_from_venue(field(raw, "side")),
    )


@dataclass(frozen=True, slots=True)
class BookMessage:
    """An ``order_book`` channel message: a snapshot (``s``) or a delta (``d``) at ``seq_no``."""

    snapshot: bool
    seq_no: int
    bids: list[Level]
    asks: list[Level]


def book_message(raw: Any) -> BookMessage:
    kind = str(raw.get("update_type", "s")) if isinstance(raw, Mapping) else ""
    if kind not in ("s", "d"):
        raise MalformedResponse(f"unknown book update type {kind!r}")
    bids: list[Level] = []
    asks: list[Level] = []
    for key, deleted in (("inserts", False), ("updates", False), ("deletes", True)):
        entries = raw.get(key) or []
        if not isinstance(entries, list):
            raise MalformedResponse(f"{key} is not a list")
        for entry in entries:
            level = (dec(field(entry, "price")), Decimal(0) if deleted else dec(field(entry, "size")))
            (bids if side_from_venue(field(entry, "side")) is Side.BUY else asks).append(level)
    return BookMessage(snapshot=kind == "s", seq_no=integer(field(raw, "seq_no")), bids=bids, asks=asks)


def jwt_lifetime_s(token: str) -> tuple[int, int] | None:
    """``(iat, exp)`` in seconds from a JWT's payload (not verified: the venue does that), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or not isinstance(expires, int) or expires <= issued:
        return None
    return issued, expires
