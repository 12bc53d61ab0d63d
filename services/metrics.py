"""Prometheus metrics every process exports, and the per-process HTTP endpoint.

Each process is its own Python interpreter, so the default registry is
per-process; the endpoint binds to 127.0.0.1 unless configured otherwise.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge, start_http_server

BUS_MESSAGES = Counter("mm_bus_messages_total", "Bus messages sent or received", ["direction", "type"])
BUS_SEQ_GAPS = Counter(
    "mm_bus_seq_gaps_total", "Messages missed by a subscriber (per-publisher seq gaps)", ["publisher"]
)
BUS_DROPPED = Counter(
    "mm_bus_dropped_total",
    "Bus messages dropped (could not queue, malformed, duplicate, late reply, unroutable)",
    ["reason"],
)
BUS_STALE = Counter(
    "mm_bus_stale_total", "Messages older than the subscriber's age limit on arrival", ["type"]
)
VENUE_MALFORMED = Counter(
    "mm_venue_malformed_total",
    "Venue stream payloads that could not be parsed and were skipped",
    ["venue", "kind"],
)
LOOP_LAG = Gauge("mm_loop_lag_seconds", "How late the event loop woke the heartbeat timer")
HEARTBEAT_TS = Gauge("mm_heartbeat_timestamp_seconds", "Unix time of this process's last heartbeat")
UP_INFO = Gauge("mm_process_info", "Constant 1, labelled with the process identity", ["process", "instance"])


@functools.cache
def bus_messages(direction: str, kind: str) -> Any:
    """The counter child for one direction and message type (label lookup is cached: hot path)."""
    return BUS_MESSAGES.labels(direction, kind)


def serve_metrics(*, host: str, port: int) -> None:
    """Start the process's Prometheus endpoint (port 0: metrics are not exported)."""
    if port:
        start_http_server(port, addr=host)
