"""What the market-data and guardian streams last said, and when: the inputs of ``decide.gate``.

No I/O; times are monotonic seconds passed in.  The book itself is kept in a
``BookView``; a ``Mark`` is handed back for the PnL, and a change of trading
state is reported so the runner requotes at once.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from services.bus import HeartbeatMonitor
from services.wire import Bbo, Book, FeedState, Heartbeat, Mark, MdStatus, Message, RiskState, TradingState
from strategy.book import BookView
from strategy.decide import Inputs

log = logging.getLogger("strategy")


class Feeds:
    """The book, the feed's health and the guardian's state for one symbol."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.book = BookView()
        self.beats = HeartbeatMonitor()
        self.md_seen_s: float | None = None
        self.md_connected = True
        self.risk_state: TradingState | None = None
        self.risk_state_seen_s: float | None = None

    def take(self, body: Message, *, ts_ns: int, now_s: float) -> tuple[bool, Decimal | None]:
        """Take one bus message: (the trading state changed, the new mark price if it was a mark)."""
        if isinstance(body, Heartbeat):
            self.beats.observe(body, now_s=now_s)
        elif isinstance(body, Bbo | Book) and body.symbol == self.symbol:
            # Any two-sided book message shows the feed alive; only a newer one replaces the prices.
            if isinstance(body, Bbo) or (body.bids and body.asks):
                self.md_seen_s = now_s
                self.book.update(body, ts_ns=ts_ns)
        elif isinstance(body, Mark) and body.symbol == self.symbol:
            return False, body.mark if body.mark > 0 else None
        elif isinstance(body, MdStatus) and body.symbol in ("", self.symbol):
            # LIVE (repeated every second) vouches that the stream delivered within md_stale: a quiet
            # book is still the book.  STALE is a silent stream, with the gateway serving REST
            # snapshots meanwhile, which keep the book fresh; RECONNECTING is a lost feed.
            self.md_connected = body.state is not FeedState.RECONNECTING
            if body.state is FeedState.LIVE and self.book.ts_ns:
                self.md_seen_s = now_s
        elif isinstance(body, RiskState) and body.symbol in ("", self.symbol):
            changed = body.state is not self.risk_state
            if changed:
                log.info("trading state %s (%s)", body.state.value, body.reason or "no reason given")
            self.risk_state, self.risk_state_seen_s = body.state, now_s
            return changed, None
        return False, None

    def inputs(self, *, now_s: float, exec_synced: bool) -> Inputs:
        age = self.beats.age_s("risk", now_s=now_s)
        return Inputs(
            md_seen_s=self.md_seen_s,
            md_connected=self.md_connected,
            risk_state=self.risk_state,
            risk_state_seen_s=self.risk_state_seen_s,
            risk_heartbeat_seen_s=None if age is None else now_s - age,
            exec_synced=exec_synced,
        )
