"""Aster WebSocket payloads as bus types (pure, no I/O).

Stream times are milliseconds; ``event_time_ns`` turns them into the
nanoseconds ``VenueEvent.ts_ns`` carries.  Malformed payloads raise
``MalformedResponse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.wire import Bbo, Fill, Mark, OrderType, OrderUpdate, Side, Trade
from venues.aster.parse import (
    GTX,
    client_id_from_venue,
    flag,
    order_kind,
    side_from_venue,
)
from venues.common.parse import dec, field, integer, opt_dec
from venues.precision import fmt


def event_time_ns(raw: Any) -> int | None:
    """A stream event's exchange time in ns (``E``, else transaction time ``T``; both ms)."""
    if not isinstance(raw, Mapping):
        return None
    value = raw.get("E", raw.get("T"))
    return None if value is None else integer(value) * 1_000_000


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
    """An ``aggTrade`` event; ``m`` says the buyer was the maker, so the seller took."""
    return Trade(
        symbol=str(field(raw, "s")),
        trade_id=str(field(raw, "a")),
        price=dec(field(raw, "p")),
        quantity=dec(field(raw, "q")),
        taker_side=Side.SELL if flag(raw.get("m")) else Side.BUY,
    )


def mark_from_ws(raw: Any) -> Mark:
    """A ``markPriceUpdate`` event (``T`` is the next funding time, ``r`` the funding rate)."""
    return Mark(
        symbol=str(field(raw, "s")),
        mark=dec(field(raw, "p")),
        index=opt_dec(raw, "i"),
        funding_rate=opt_dec(raw, "r"),
        next_funding_ms=integer(raw.get("T") or 0),
    )


def order_from_ws(update: Any) -> OrderUpdate:
    """The ``o`` object of an ``ORDER_TRADE_UPDATE`` as the order's new state (``ot``: its original type)."""
    order_type, status, venue_type = order_kind(field(update, "o"), update.get("ot"), field(update, "X"))
    price = opt_dec(update, "p")
    return OrderUpdate(
        symbol=str(field(update, "s")),
        order_id=str(integer(field(update, "i"))),
        client_id=client_id_from_venue(update.get("c")),
        side=side_from_venue(field(update, "S")),
        order_type=order_type,
        price=price if order_type is not OrderType.MARKET and price else None,
        quantity=dec(field(update, "q")),
        filled_quantity=dec(update.get("z") or 0),
        status=status,
        post_only=update.get("f") == GTX,
        reduce_only=flag(update.get("R")),
        reason=str(update.get("x") or ""),
        venue_type=venue_type,
    )


def fill_from_ws(update: Any) -> Fill | None:
    """The fill inside an ``ORDER_TRADE_UPDATE`` of execution type ``TRADE`` or ``CALCULATED`` (else None).

    ``CALCULATED`` is a liquidation's execution: a fill of the position like any
    other.  Its trade id may be 0; the order id and its filled total then name
    the fill, the same on a replay and different for each fill.
    """
    if not isinstance(update, Mapping) or update.get("x") not in ("TRADE", "CALCULATED"):
        return None
    order_id = str(integer(field(update, "i")))
    trade_id = str(field(update, "t"))
    if trade_id in ("0", "", "None"):
        trade_id = f"{order_id}-{fmt(dec(field(update, 'z')))}"
    return Fill(
        symbol=str(field(update, "s")),
        trade_id=trade_id,
        order_id=order_id,
        client_id=client_id_from_venue(update.get("c")),
        side=side_from_venue(field(update, "S")),
        price=dec(field(update, "L")),
        quantity=dec(field(update, "l")),
        fee=dec(update.get("n") or 0),
        fee_asset=str(update.get("N") or ""),
        is_maker=flag(update.get("m")),
    )
