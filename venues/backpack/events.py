"""Backpack WebSocket payloads (``data`` of each stream message) as bus types.

Pure: no I/O.  Stream times are microseconds; ``event_time_ns`` turns them
into the nanoseconds ``VenueEvent.ts_ns`` carries.  Malformed payloads raise
``parse.MalformedResponse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.wire import Bbo, Fill, Mark, OrderType, OrderUpdate, Position, Side, Trade
from venues.backpack.parse import (
    TRIGGER_EVENT_FIELDS,
    dec,
    field,
    integer,
    opt_client_id,
    opt_dec,
    order_kind,
    side_from_venue,
    trade_id_of,
    trigger_amount,
)

# Order events whose payload may lack ``X`` (the order state), and the state they mean.
_EVENT_STATUS = {
    "orderAccepted": "New",
    "orderCancelled": "Cancelled",
    "orderExpired": "Expired",
    "triggerPlaced": "TriggerPending",
    "triggerFailed": "TriggerFailed",
}


def event_time_ns(raw: Any) -> int | None:
    """A stream event's exchange time in ns (``E``, else engine time ``T``; both microseconds)."""
    if not isinstance(raw, Mapping):
        return None
    value = raw.get("E", raw.get("T"))
    return None if value is None else integer(value) * 1000


def bbo_from_ws(raw: Any) -> Bbo | None:
    """A ``bookTicker`` event (None while one side of the book is empty)."""
    if not isinstance(raw, Mapping) or any(raw.get(key) in (None, "") for key in "bBaA"):
        return None
    return Bbo(
        symbol=str(field(raw, "s")),
        bid=dec(raw["b"]),
        bid_qty=dec(raw["B"]),
        ask=dec(raw["a"]),
        ask_qty=dec(raw["A"]),
        update_id=integer(raw.get("u") or 0),
    )


def trade_from_ws(raw: Any) -> Trade:
    """A ``trade`` event; ``m`` says the buyer was the maker, so the seller took."""
    return Trade(
        symbol=str(field(raw, "s")),
        trade_id=str(field(raw, "t")),
        price=dec(field(raw, "p")),
        quantity=dec(field(raw, "q")),
        taker_side=Side.SELL if raw.get("m") else Side.BUY,
    )


def mark_from_ws(raw: Any) -> Mark:
    """A ``markPrice`` event (``n``, the next funding time, is in microseconds like every stream time)."""
    return Mark(
        symbol=str(field(raw, "s")),
        mark=dec(field(raw, "p")),
        index=opt_dec(raw, "i"),
        funding_rate=opt_dec(raw, "f"),
        next_funding_ms=integer(raw.get("n") or 0) // 1000,
    )


def order_from_ws(raw: Any) -> OrderUpdate:
    """An ``account.orderUpdate`` event as the order's new state (trigger orders: see ``order_kind``)."""
    event = str(field(raw, "e"))
    filled = dec(raw.get("z") or 0)
    quantity = opt_dec(raw, "q")
    trigger = any(raw.get(name) is not None for name in TRIGGER_EVENT_FIELDS)
    if raw.get("X") is not None:
        status_text = raw["X"]
    elif event in _EVENT_STATUS:
        status_text = _EVENT_STATUS[event]
    elif quantity and filled >= quantity:
        status_text = "Filled"
    else:
        status_text = "PartiallyFilled" if filled else "New"
    order_type, status, venue_type = order_kind(field(raw, "o"), status_text, trigger=trigger)
    if order_type is OrderType.CONDITIONAL and not quantity:
        quantity = trigger_amount(raw.get("Y"))
    # Quote-quantity market orders carry no base quantity: what executed is the size.
    quantity = quantity if quantity is not None else filled
    return OrderUpdate(
        symbol=str(field(raw, "s")),
        order_id=str(field(raw, "i")),
        client_id=opt_client_id(raw.get("c")),
        side=side_from_venue(field(raw, "S")),
        order_type=order_type,
        price=opt_dec(raw, "p") if str(raw["o"]).lower() == "limit" else None,
        quantity=quantity,
        filled_quantity=filled,
        status=status,
        post_only=bool(raw.get("y", False)),
        reduce_only=bool(raw.get("r", False)),
        reason=str(raw.get("R") or ""),
        venue_type=venue_type,
    )


def fill_from_ws(raw: Any) -> Fill | None:
    """The fill inside an ``orderFill`` event (None for every other event)."""
    if not isinstance(raw, Mapping) or raw.get("e") != "orderFill":
        return None
    order_id = str(field(raw, "i"))
    price, quantity = dec(field(raw, "L")), dec(field(raw, "l"))
    # A fill without a trade id (0 or null) is named as its history row is: engine time in ms.
    at_ms = integer(raw.get("T", raw.get("E", 0))) // 1000
    return Fill(
        symbol=str(field(raw, "s")),
        trade_id=trade_id_of(raw.get("t"), order_id=order_id, at_ms=at_ms, price=price, quantity=quantity),
        order_id=order_id,
        client_id=opt_client_id(raw.get("c")),
        side=side_from_venue(field(raw, "S")),
        price=price,
        quantity=quantity,
        fee=dec(raw.get("n") or 0),
        fee_asset=str(raw.get("N") or ""),
        is_maker=bool(raw.get("m", False)),
    )


def position_from_ws(raw: Any) -> Position:
    """An ``account.positionUpdate`` event (or the snapshot the venue sends on subscribe)."""
    return Position(
        symbol=str(field(raw, "s")),
        quantity=dec(raw.get("q") or 0),
        entry_price=dec(raw.get("B") or 0),
        mark_price=opt_dec(raw, "M"),
        unrealized_pnl=opt_dec(raw, "P"),
        realized_pnl=opt_dec(raw, "p"),
    )
