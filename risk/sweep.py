"""The guardian's cancels: perp-mm's orders on its own, or everything on the symbol for the kill switch.

A foreign order (a stop or take-profit the trader set in the venue's web app)
is one perp-mm never places: the guardian, which has no journal, knows it by
its type (``OrderType.CONDITIONAL``).  The kill switch (an operator's halt,
flatten) cancels it too and says so; every other cancel of the guardian (a
hung strategy, stale data, a limit, a clean stop) leaves the trader's stops
where they were put: they protect the position.  A venue's cancel-all may
leave conditional orders resting (the docs do not promise it reaches them), so
what the kill switch still finds listed after it is cancelled one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from services.foreign import conditional, describe_orders
from services.wire import OrderType, OrderUpdate
from venues.base import Rejected, Venue, VenueError


@dataclass(frozen=True, slots=True)
class Swept:
    """How many orders went, and the foreign ones among them (perp-mm never places those)."""

    cancelled: int
    foreign: tuple[OrderUpdate, ...] = ()
    kept: tuple[OrderUpdate, ...] = ()  # foreign orders left in place

    def describe(self) -> str:
        """``3 order(s), 1 of them foreign (1 STOP_MARKET: ...)`` for a log line or a command's output."""
        text = f"{self.cancelled} order(s)"
        if self.foreign:
            kinds = describe_orders(self.foreign)
            text += f", {len(self.foreign)} of them foreign ({kinds}: not placed by perp-mm)"
        if self.kept:
            text += f"; {len(self.kept)} foreign order(s) left in place ({describe_orders(self.kept)})"
        return text


async def cancel_everything(venue: Venue, symbol: str, *, list_first: bool) -> Swept:
    """Cancel every order on ``symbol``, foreign ones included; raises ``VenueError`` when the venue fails.

    ``list_first`` reads the open orders before the cancel-all, so the report names every
    foreign order; without it (the kill switch, where the cancel must not wait) the listing
    goes out with the cancel-all and names those it saw.
    """
    if list_first:
        seen = await venue.open_orders(symbol)
        cancelled = await venue.cancel_all(symbol)
    else:
        # The cancel-all is sent first, at once; the listing goes out beside it.
        listing = asyncio.ensure_future(venue.open_orders(symbol))
        try:
            cancelled = await venue.cancel_all(symbol)
        finally:
            seen = await _seen(listing)
    left = await venue.open_orders(symbol)
    cancelled += await cancel_each(venue, symbol, left)
    foreign = {order.order_id: order for order in conditional([*seen, *left])}
    return Swept(cancelled, tuple(foreign.values()))


async def cancel_ours(venue: Venue, symbol: str) -> Swept:
    """Cancel every order on ``symbol`` but the conditional ones (the trader's stops stay where they are)."""
    listed = await venue.open_orders(symbol)
    kept = conditional(listed)
    if not kept:  # sent even when nothing was listed: a place may have landed since
        return Swept(await venue.cancel_all(symbol))
    ours = [order for order in listed if order.order_type is not OrderType.CONDITIONAL]
    return Swept(await cancel_each(venue, symbol, ours), kept=tuple(kept))


async def _seen(listing: asyncio.Future[list[OrderUpdate]]) -> list[OrderUpdate]:
    """The listing that went out beside the cancel-all ([] when it failed: it only names orders)."""
    try:
        return await listing
    except VenueError:
        return []


async def cancel_each(venue: Venue, symbol: str, orders: Sequence[OrderUpdate]) -> int:
    """Cancel ``orders`` one by one; how many the venue cancelled (one already gone is skipped)."""
    cancelled = 0
    for order in orders:
        try:
            await venue.cancel_order(symbol, order_id=order.order_id)
        except Rejected:
            continue
        cancelled += 1
    return cancelled
