"""The order gateway's Prometheus metrics (reject reasons are the fixed ``RejectReason`` set)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.wire import RejectReason, Side

ORDERS_SUBMITTED = Counter("mm_orders_submitted_total", "Orders sent to the venue", ["side"])
ORDER_REJECTS = Counter(
    "mm_order_rejects_total", "Order requests refused, by the gateway or the venue", ["reason"]
)
FILLS = Counter("mm_fills_total", "Fills journaled", ["side", "liquidity"])
FILL_VOLUME = Counter("mm_fill_volume_base_total", "Filled size in base units")
# Not mm_fees_quote_total: the strategy exports that name (net fees, a gauge) and tests import both.
FEES = Counter(
    "mm_fill_fees_quote_total", "Fees paid on journaled fills, in quote currency (rebates not counted)"
)
ACK_LATENCY = Histogram(
    "mm_order_ack_latency_seconds",
    "From sending an order to the venue's answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REST_REQUESTS = Counter("mm_rest_requests_total", "Venue REST calls by outcome", ["endpoint", "code"])
OPEN_ORDERS = Gauge("mm_open_orders", "Orders resting on the venue as the gateway knows them")
UNKNOWN_ORDERS = Gauge("mm_orders_unknown", "Orders whose outcome is being resolved")
RECONCILIATIONS = Counter(
    "mm_reconciliations_total", "Reconciliations with the venue, by outcome", ["outcome"]
)
FOREIGN_ORDERS = Gauge("mm_foreign_orders", "Open orders on the symbol that perp-mm did not place")
EXEC_STATE = Gauge("mm_exec_stream_state", "1 for the private stream's state", ["state"])

# Every label of a fixed set exists from the start, so rates and alerts see zeros, not gaps.
for _reason in RejectReason:
    ORDER_REJECTS.labels(_reason.value)
for _side in Side:
    ORDERS_SUBMITTED.labels(_side.value)
    for _liquidity in ("maker", "taker"):
        FILLS.labels(_side.value, _liquidity)
