"""Opening a venue WebSocket the way every connector here does."""

from __future__ import annotations

from websockets.asyncio.client import connect


def open_ws(
    url: str, *, open_timeout_s: float, ping_interval_s: float, ping_timeout_s: float, max_queue: int
) -> connect:
    """A connection to ``url`` (use with ``async with``): our own pings, no proxy, no compression.

    Market data is small and latency-bound: inflating every frame (permessage-deflate) costs both
    ends CPU on the quoting path for bandwidth a market maker does not need to save.
    """
    return connect(
        url,
        open_timeout=open_timeout_s,
        ping_interval=ping_interval_s,
        ping_timeout=ping_timeout_s,
        close_timeout=2.0,
        max_queue=max_queue,
        proxy=None,
        compression=None,
    )
