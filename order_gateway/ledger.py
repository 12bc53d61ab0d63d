"""The PnL a journal proves: every journaled fill and funding payment of one market, replayed.

The figures follow ``strategy.pnl`` (average cost; ``net_realized = realized -
fees + funding``), so the journal, the strategy's reports and the venue's own
accounting can be compared to the cent.
"""

from __future__ import annotations

from decimal import Decimal

from order_gateway.journal import Journal
from strategy.pnl import PnlSnapshot, PnlTracker
from venues.precision import MarketRules


def journal_pnl(journal: Journal, rules: MarketRules, *, mark: Decimal | None) -> PnlSnapshot:
    """Realized PnL, fees, funding and position of ``rules.symbol`` from ``journal`` alone.

    The unrealized PnL is valued at ``mark`` (None: unknown, unless the position is flat).
    """
    tracker = PnlTracker(rules)
    for fill in journal.fills(rules.symbol):
        tracker.on_fill(fill)
    for payment in journal.funding(rules.symbol):
        tracker.on_funding(payment)
    if mark is not None:
        tracker.on_mark(mark)
    return tracker.snapshot()
