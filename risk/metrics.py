"""The guardian's Prometheus metrics (the common ones are in ``services.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.wire import TradingState

# The state as a number, so alert rules can compare it: 0 ACTIVE, 1 REDUCING, 2 HALTED.
STATE_CODES = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}

TRADING_STATE = Gauge("mm_risk_trading_state", "Trading state set by risk: 0 ACTIVE, 1 REDUCING, 2 HALTED")
ACTIONS = Counter("mm_risk_actions_total", "Actions the guardian took", ["action", "reason"])
LAST_ACTION_TS = Gauge("mm_risk_last_action_timestamp_seconds", "Unix time of the guardian's last action")
UNREALIZED_PNL = Gauge("mm_risk_unrealized_pnl_quote", "Unrealized PnL marked to market, quote currency")
# The configured exits, so alert rules can say "near the stop-loss"; NaN when the exit is off.
STOP_LOSS = Gauge("mm_risk_stop_loss_quote", "Unrealized PnL (quote) that triggers the stop-loss; NaN: off")
TAKE_PROFIT = Gauge("mm_risk_take_profit_quote", "Unrealized PnL (quote) that takes profit; NaN: off")
# The position table's bands as the trader configured them (the dashboard draws them around the position).
REDUCE_ABOVE = Gauge(
    "mm_position_reduce_above_base", "|position| above which the strategy reduces: target + threshold"
)
HEARTBEAT_AGE = Gauge("mm_heartbeat_age_seconds", "Seconds since a process's last heartbeat", ["process"])
POLL_LATENCY = Histogram(
    "mm_risk_poll_latency_seconds",
    "Time for one REST poll of position, mark and open orders",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
POLL_ERRORS = Counter("mm_risk_poll_errors_total", "REST polls that failed", ["what"])
