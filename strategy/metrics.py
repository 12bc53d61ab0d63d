"""The strategy's Prometheus metrics (its own process registry; ``services.metrics`` has the common ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

POSITION = Gauge("mm_position_base", "Net position in base units (long > 0), as the venue reports it")
POSITION_TARGET = Gauge("mm_position_target_base", "Target position in base units")
POSITION_MAX = Gauge("mm_position_max_base", "Hard limit on the absolute position, in base units")
PNL = Gauge("mm_pnl_quote", "PnL in quote currency (realized: before fees and funding)", ["kind"])
FEES = Gauge("mm_fees_quote_total", "Fees paid net of rebates since start, in quote currency")
FUNDING = Gauge("mm_funding_quote_total", "Funding received (> 0) or paid (< 0) since start, in quote")
QUOTE_SPREAD = Gauge("mm_quote_spread_bps", "Width between the innermost wanted bid and ask, in bps of mid")
QUOTES_RESTING = Gauge("mm_quotes_resting", "The strategy's own open quotes", ["side"])
TICK_TO_QUOTE = Histogram(
    "mm_tick_to_quote_seconds",
    "Exchange event time of the book that moved the quotes to the first order request sent",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
FILL_RATE = Gauge("mm_fill_rate_ratio", "Orders with at least one fill per order placed")
FEE_RATIO = Gauge("mm_fee_ratio", "Fees per unit of quote volume traded")
MODE = Gauge("mm_strategy_mode", "1 for the mode the strategy is in (quote, reduce_only, pull)", ["mode"])
PULLS = Counter("mm_strategy_pulls_total", "Times the strategy pulled its quotes, by reason", ["reason"])
ORDER_REFUSALS = Counter(
    "mm_strategy_order_refusals_total", "Order requests the gateway refused, by reason", ["reason"]
)
