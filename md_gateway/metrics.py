"""The market-data gateway's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MD_UPDATES = Counter(
    "mm_md_updates_total", "Market data messages published, by kind (bbo, book, trade, mark)", ["kind"]
)
MD_LAST_UPDATE = Gauge(
    "mm_md_last_update_timestamp_seconds", "Exchange time of the newest market data published (unix s)"
)
WS_RECONNECTS = Counter("mm_ws_reconnects_total", "Times the public market-data stream dropped")
MD_FEED_LATENCY = Histogram(
    "mm_md_feed_latency_seconds",
    "From the exchange's event time to publishing on the bus",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
MD_REST_POLLS = Counter(
    "mm_md_rest_polls_total", "REST snapshots taken while the stream was silent, by outcome", ["outcome"]
)
MD_STATE = Gauge("mm_md_feed_state", "1 for the feed's current state (live, stale, reconnecting)", ["state"])

# Every kind exists from the start, so rates and alerts see zeros, not gaps.
for _kind in ("bbo", "book", "trade", "mark"):
    MD_UPDATES.labels(_kind)
for _outcome in ("ok", "error"):
    MD_REST_POLLS.labels(_outcome)
