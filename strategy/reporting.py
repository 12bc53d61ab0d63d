"""The strategy's outputs besides orders: the cycle report, ``st.quotes`` / ``st.pnl`` and the metrics.

The report's three blocks come from ``strategy.report``; this module decides
when they are due, prints them to the console (stdout), logs them and
publishes the same figures on the bus and as Prometheus metrics.  Fills,
funding and marks reach the PnL behind them through ``feed_tracker``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import TextIO, cast

from services.bus import Publisher
from services.logs import log_once
from services.wire import Level, OrderUpdate, PnlReport, Quotes, Side
from strategy import metrics
from strategy.exec_state import Changes
from strategy.pnl import PnlTracker
from strategy.quoter import QuotePlan, active_quotes
from strategy.report import Lang, render_report
from venues.precision import MarketRules

log = logging.getLogger("strategy.report")

_BPS = Decimal(10_000)
_WAITING = {
    "zh-TW": "等待行情與訂單狀態…",
    "en": "waiting for market data and the order stream...",
}


def feed_tracker(tracker: PnlTracker, changes: Changes) -> None:
    """Apply what the exec stream reported to the PnL; a message it cannot take is logged and skipped."""
    for fill in changes.fills:
        try:
            new = tracker.on_fill(fill)
        except ValueError as exc:
            log_once(log, "bad_fill", f"fill {fill.trade_id} left out of the PnL: {exc}")
            continue
        if new:
            maker = "maker" if fill.is_maker else "taker"
            log.info("filled %s %s @ %s (%s)", fill.side.value, fill.quantity, fill.price, maker)
    for payment in changes.funding:
        try:
            tracker.on_funding(payment)
        except ValueError as exc:
            log_once(log, "bad_funding", f"funding {payment.payment_id} left out of the PnL: {exc}")
    if changes.mark is not None and changes.mark > 0:
        tracker.on_mark(changes.mark)


class Reporter:
    """Cycle reports every ``interval_s`` and the figures behind them."""

    def __init__(self, *, rules: MarketRules, lang: str, out: TextIO) -> None:
        self.rules = rules
        self.lang = cast(Lang, lang)
        self.out = out
        self.interval_s = 60.0
        self._next_s = 0.0

    def start(self, *, now_s: float, interval_s: float) -> None:
        """The first report is due ``interval_s`` after ``now_s``."""
        self.interval_s = interval_s
        self._next_s = now_s + interval_s

    def due(self, *, now_s: float) -> bool:
        return now_s >= self._next_s

    def report(
        self,
        pub: Publisher,
        *,
        plan: QuotePlan | None,
        tracker: PnlTracker | None,
        quotes: Sequence[OrderUpdate],
        now_s: float,
    ) -> str:
        """Print, log and publish one report; returns its text."""
        self._next_s = max(self._next_s + self.interval_s, now_s)
        if plan is None or tracker is None:
            text = _WAITING[self.lang]
        else:
            active_bid, active_ask = active_quotes(quotes)
            interval = tracker.close_interval()
            totals = tracker.snapshot()
            text = render_report(
                plan,
                interval=interval,
                totals=totals,
                active_bid=active_bid,
                active_ask=active_ask,
                rules=self.rules,
                lang=self.lang,
            )
            pub.publish(
                f"st.pnl.{self.rules.symbol}",
                PnlReport(
                    symbol=self.rules.symbol,
                    realized=totals.realized,
                    unrealized=totals.unrealized if totals.unrealized is not None else Decimal(0),
                    fees=totals.fees,
                    funding=totals.funding,
                    volume_base=totals.volume_base,
                    position=totals.position,
                ),
            )
        print(text + "\n", file=self.out, flush=True)
        log.info("cycle report\n%s", text)
        return text

    def publish_quotes(
        self,
        pub: Publisher,
        *,
        symbol: str,
        bids: list[Level],
        asks: list[Level],
        plan: QuotePlan | None,
    ) -> None:
        """``st.quotes.<SYM>``: the ladder the strategy wants now (empty sides when pulled)."""
        pub.publish(
            f"st.quotes.{symbol}",
            Quotes(symbol=symbol, bids=bids, asks=asks, mid=plan.mid if plan is not None else None),
        )

    def update_metrics(
        self,
        *,
        tracker: PnlTracker | None,
        position: Decimal,
        quotes: Sequence[OrderUpdate],
        plan: QuotePlan | None,
    ) -> None:
        """Refresh the gauges from the current figures."""
        metrics.POSITION.set(float(position))
        metrics.QUOTES_RESTING.labels(Side.BUY.value).set(sum(1 for o in quotes if o.side is Side.BUY))
        metrics.QUOTES_RESTING.labels(Side.SELL.value).set(sum(1 for o in quotes if o.side is Side.SELL))
        if plan is not None and plan.bids and plan.asks and plan.mid > 0:
            assert plan.bid_price is not None and plan.ask_price is not None
            metrics.QUOTE_SPREAD.set(float((plan.ask_price - plan.bid_price) / plan.mid * _BPS))
        if tracker is None:
            return
        totals = tracker.snapshot()
        metrics.PNL.labels("realized").set(float(totals.realized))
        if totals.unrealized is not None:
            metrics.PNL.labels("unrealized").set(float(totals.unrealized))
        metrics.FEES.set(float(totals.fees))
        metrics.FUNDING.set(float(totals.funding))
        if totals.fill_rate is not None:
            metrics.FILL_RATE.set(float(totals.fill_rate))
        if totals.fee_ratio is not None:
            metrics.FEE_RATIO.set(float(totals.fee_ratio))
