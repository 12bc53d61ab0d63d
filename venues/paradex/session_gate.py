"""The private stream as the order gateway sees it: ``LIVE`` only while the dead-man switch is armed too.

Orders placed while the switch is down would go over REST and never be
covered by it (Paradex's cancel-on-disconnect covers only orders placed over
the armed connection), so the gateway must not quote then.  The order gateway
already refuses new orders and the strategy pulls its quotes while the private
stream is not ``LIVE``; ``ReadyGate`` reports the stream ``RECONNECTING``
while the switch is down and ``LIVE`` again once it is re-armed, and the
gateway reconciles with the venue before quoting resumes, as after any drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator

from services.wire import ExStatus, FeedState
from venues.base import VenueEvent
from venues.paradex.deadman import CancelOnDisconnect

SWITCH_DOWN = "paradex cancel-on-disconnect is not armed: re-arming before orders go out again"


class ReadyGate:
    """Combines the stream's status and the switch's into the one status the gateway sees (pure)."""

    def __init__(self, *, armed: bool) -> None:
        self.armed = armed
        self.stream_live = False
        self.shown_live = False

    def on_stream(self, status: ExStatus) -> ExStatus | None:
        """The status to pass on for the stream's own ``status``, if any."""
        self.stream_live = status.state is FeedState.LIVE
        if not self.stream_live:
            self.shown_live = False
            return status
        return self._live_if_ready()

    def on_switch(self, armed: bool) -> ExStatus | None:
        """The status to pass on when the switch is armed (True) or lost (False), if any."""
        self.armed = armed
        if armed:
            return self._live_if_ready()
        if self.shown_live:
            self.shown_live = False
            return ExStatus(state=FeedState.RECONNECTING, reason=SWITCH_DOWN)
        return None

    def _live_if_ready(self) -> ExStatus | None:
        if self.stream_live and self.armed and not self.shown_live:
            self.shown_live = True
            return ExStatus(state=FeedState.LIVE)
        return None


async def gated(
    events: AsyncGenerator[VenueEvent, None], switch: CancelOnDisconnect
) -> AsyncGenerator[VenueEvent, None]:
    """``events`` (a private stream) with its ``ExStatus`` passed through a ``ReadyGate`` on ``switch``."""
    switch.start()
    gate = ReadyGate(armed=switch.armed)
    merged: asyncio.Queue[VenueEvent | bool] = asyncio.Queue()

    async def pump() -> None:
        async for event in events:
            merged.put_nowait(event)

    async def follow(changes: asyncio.Queue[bool]) -> None:
        while True:
            merged.put_nowait(await changes.get())

    with switch.watch() as changes:
        tasks = [asyncio.create_task(pump()), asyncio.create_task(follow(changes))]
        try:
            async for item in _until_done(merged, tasks):
                if isinstance(item, bool):
                    status = gate.on_switch(item)
                    if status is not None:
                        yield VenueEvent(time.time_ns(), status)
                elif isinstance(item.msg, ExStatus):
                    status = gate.on_stream(item.msg)
                    if status is not None:
                        yield VenueEvent(item.ts_ns, status)
                else:
                    yield item
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await events.aclose()


async def _until_done(
    merged: asyncio.Queue[VenueEvent | bool], tasks: list[asyncio.Task[None]]
) -> AsyncIterator[VenueEvent | bool]:
    """Items of ``merged`` until a task ends (its error is raised; a stream that ended just ends)."""
    while True:
        if not merged.empty():
            yield merged.get_nowait()
            continue
        for task in tasks:
            if task.done():
                task.result()
                return
        getter = asyncio.ensure_future(merged.get())
        done, _ = await asyncio.wait([getter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            yield getter.result()
        else:
            getter.cancel()
