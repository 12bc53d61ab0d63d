"""After a stop: perp-mm's orders still open on the venue are cancelled, foreign ones stay.

``run.py`` checks the venue itself once every process has stopped.  Ours are
the orders in the order gateway's journal and the guardian's; anything else (a
stop or take-profit the trader set in the venue's web app) stays where it was
put and is only named.  Without a journal (the gateway never ran) every order
but a conditional one is taken for ours, as before journals existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from order_gateway.journal import Journal
from order_gateway.limits import is_guardian
from order_gateway.service import journal_path
from risk.sweep import cancel_each
from services.config import Config
from services.foreign import describe_orders
from services.wire import OrderType, OrderUpdate
from venues.factory import open_venue


@dataclass(frozen=True, slots=True)
class Leftovers:
    """Orders of ours found open (and cancelled) after the stop, and the foreign ones left in place."""

    ours: int
    foreign: tuple[OrderUpdate, ...]

    def line(self, symbol: str) -> str:
        """The end-of-run line: ``orders left open on SYM after stop: N`` and the foreign ones that stay."""
        note = " (cancelled now)" if self.ours else ""
        if self.foreign:
            note += (
                f"; {len(self.foreign)} foreign order(s) stay ({describe_orders(self.foreign)}): "
                "perp-mm did not place them"
            )
        return f"orders left open on {symbol} after stop: {self.ours}{note}"


def split(orders: list[OrderUpdate], journal: Journal | None) -> tuple[list[OrderUpdate], list[OrderUpdate]]:
    """(ours, foreign) among ``orders``: ours by the journal or the guardian's client ids."""
    ours: list[OrderUpdate] = []
    foreign: list[OrderUpdate] = []
    for order in orders:
        if order.order_type is OrderType.CONDITIONAL:
            mine = False
        elif journal is None:
            mine = True
        else:
            mine = journal.owner(order) is not None or is_guardian(order.client_id)
        (ours if mine else foreign).append(order)
    return ours, foreign


async def cancel_leftovers(cfg: Config, env: Mapping[str, str]) -> Leftovers:
    """Read the venue's open orders on the symbol, cancel ours; raises ``VenueError`` when it fails."""
    path = journal_path(cfg)
    journal = Journal(path) if path.exists() else None
    venue = open_venue(cfg, role="trading", env=env)
    try:
        ours, foreign = split(await venue.open_orders(cfg.symbol), journal)
        await cancel_each(venue, cfg.symbol, ours)
        return Leftovers(len(ours), tuple(foreign))
    finally:
        await venue.close()
        if journal is not None:
            journal.close()
