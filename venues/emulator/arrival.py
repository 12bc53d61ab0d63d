"""When each venue request reached the emulator.

The server's first middleware stamps every request with the wall clock as its
handling starts, before authentication, parsing or matching, and an order keeps
the stamp of the request that placed it (``Order.received_ns``, shown by
``GET /_emulator/state``).  ``bench.tick_to_trade`` measures to it: the order's
arrival at the exchange, apart from the time the emulator then spends on it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from aiohttp import web

# Set for the task handling a request (the handler runs in the middleware's task).
_RECEIVED_NS: ContextVar[int | None] = ContextVar("emulator_received_ns", default=None)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def stamp_arrival(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = _RECEIVED_NS.set(time.time_ns())
    try:
        return await handler(request)
    finally:
        _RECEIVED_NS.reset(token)


def arrival_ns() -> int | None:
    """The wall-clock nanoseconds the request being handled reached the emulator (None outside one)."""
    return _RECEIVED_NS.get()
