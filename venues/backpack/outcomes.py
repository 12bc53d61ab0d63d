"""Orders whose outcome the answer did not tell: an ``orderExecute`` that timed out, a cancel answered 202.

``clientId`` is the idempotency key: an ``orderExecute`` whose outcome is
unknown (timeout, 5xx, garbled answer) is never re-sent; the order is looked
up by its client id until the signing window has closed (after which the
venue can no longer accept the request), and only an order that is still
unresolved after ``resolve_timeout_s`` raises ``UnknownOrderState``.

A cancel (or cancel-all) the venue answers 202 "accepted but not yet
executed" is followed until the orders have left the book; a single order's
answer is then how it ended, from the order history: a fill can beat the
cancel.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from services.wire import OrderStatus, OrderType, OrderUpdate, Place, RejectReason, TimeInForce
from venues.base import Rejected, Unavailable, UnknownOrderState, VenueError

if TYPE_CHECKING:
    from venues.backpack.rest import BackpackRest

log = logging.getLogger(__name__)

# How far back the fill history is searched for an order being resolved (clock skew margin).
RESOLVE_LOOKBACK_MS = 60_000


async def resolve_placed(
    rest: BackpackRest, order: Place, *, absent_after_ms: int, cause: VenueError
) -> OrderUpdate:
    """The order behind an unknown outcome, found by client id; ``Unavailable`` if it does not exist."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + rest.resolve_timeout_s
    since_ms = absent_after_ms - rest.transport.window_ms - RESOLVE_LOOKBACK_MS
    last_error: VenueError = cause
    misses = 0
    log.warning("backpack order %d outcome unknown (%s); looking it up", order.client_id, cause)
    while True:
        try:
            found = await _find_placed(rest, order, since_ms=since_ms)
        except VenueError as exc:
            last_error, misses = exc, 0
        else:
            if found is not None:
                log.info("backpack order %d resolved: %s %s", order.client_id, found.order_id, found.status)
                return found
            # Two misses after the window: a fill racing the first look is seen by the second.
            misses = misses + 1 if rest.transport.now_ms() >= absent_after_ms else 0
            if misses >= 2:
                raise Unavailable(
                    f"order {order.client_id} was not placed ({cause}): no such order after the "
                    "signing window closed",
                    venue_message=cause.venue_message,
                )
        if loop.time() >= give_up_at:
            raise UnknownOrderState(
                f"order {order.client_id} still unknown after {rest.resolve_timeout_s:g} s: {last_error}",
                client_id=order.client_id,
                venue_message=last_error.venue_message,
            ) from last_error
        await asyncio.sleep(rest.resolve_poll_s)


async def _find_placed(rest: BackpackRest, order: Place, *, since_ms: int) -> OrderUpdate | None:
    resting = await rest.get_order(order.symbol, client_id=order.client_id)
    if resting is not None:
        return resting
    # The order query sees resting orders only; one that already filled shows in the fills.
    # Newest page first, so a busy account cannot push it out; bounded in time, so a client
    # id reused by an earlier session cannot match.
    history = await rest.timed_fills(order.symbol, since_ms=None)
    mine = [fill for at_ms, fill in history if at_ms >= since_ms and fill.client_id == order.client_id]
    if not mine:
        return None
    filled = sum((fill.quantity for fill in mine), Decimal(0))
    if filled >= order.quantity:
        status = OrderStatus.FILLED
    elif order.order_type is OrderType.MARKET or order.tif is TimeInForce.IOC:
        status = OrderStatus.EXPIRED
    else:
        status = OrderStatus.CANCELLED
    return OrderUpdate(
        symbol=order.symbol,
        order_id=mine[0].order_id,
        client_id=order.client_id,
        side=order.side,
        order_type=order.order_type,
        price=order.price if order.order_type is OrderType.LIMIT else None,
        quantity=order.quantity,
        filled_quantity=filled,
        status=status,
        post_only=order.post_only,
        reduce_only=order.reduce_only,
        reason="resolved from fill history",
    )


async def follow_cancel(
    rest: BackpackRest, symbol: str, *, order_id: str | None, client_id: int | None
) -> OrderUpdate:
    """The order a 202 cancel was for, once off the book: as the history ends it (cancelled, filled)."""
    deadline = asyncio.get_running_loop().time() + rest.transport.timeout_s
    last: OrderUpdate | None = None
    while (current := await rest.get_order(symbol, order_id=order_id, client_id=client_id)) is not None:
        last = current
        if asyncio.get_running_loop().time() >= deadline:
            raise Unavailable(f"cancel of {current.order_id} accepted (202) but the order is still open")
        await asyncio.sleep(rest.resolve_poll_s)
    ended = await _closed_order(
        rest, symbol, order_id=last.order_id if last is not None else order_id, client_id=client_id
    )
    if ended is not None:
        return ended
    if last is None:
        raise Rejected("cancel accepted (202), no such order", reason=RejectReason.UNKNOWN_ORDER)
    return dataclasses.replace(last, status=OrderStatus.CANCELLED, reason="cancel accepted (202)")


async def follow_cancel_all(rest: BackpackRest, symbol: str) -> int:
    """After a 202 cancel-all: how many orders were open, once none of them is left on the book."""
    deadline = asyncio.get_running_loop().time() + rest.transport.timeout_s
    cancelling = {order.order_id for order in await rest.open_orders(symbol)}
    while left := cancelling & {order.order_id for order in await rest.open_orders(symbol)}:
        if asyncio.get_running_loop().time() >= deadline:
            raise Unavailable(f"cancel-all on {symbol} accepted (202) but {len(left)} orders are still open")
        await asyncio.sleep(rest.resolve_poll_s)
    return len(cancelling)


async def _closed_order(
    rest: BackpackRest, symbol: str, *, order_id: str | None, client_id: int | None
) -> OrderUpdate | None:
    """How an order that left the book ended, from the newest order history (None: not there yet)."""
    for order in await rest.order_history(symbol, order_id=order_id):
        if (client_id is None or order.client_id == client_id) and not order.status.is_open:
            return order
    return None
