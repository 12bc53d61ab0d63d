"""A busy Backpack market whose REST depth lags the stream: the connector seeds once and stays seeded.

The emulator serves depth snapshots ``depth_snapshot_lag`` updates behind the
stream (as the venue does) while the depth churn keeps the book changing.  A
busy market's minute is counted in depth updates, not waited out: at churn
speed the connector applies ``MINUTE_OF_UPDATES`` of them in a few seconds.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from services.wire import Book, FeedState, MdStatus
from venues.backpack.venue import BackpackVenue
from venues.emulator.credentials import generate_account
from venues.emulator.server import EmulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SOL = "SOL_USDC_PERP"
CHURN_PER_S = 200
MINUTE_OF_UPDATES = 2400  # a busy market's minute: 40 depth updates a second
SEED_DEADLINE_S = 20.0
MINUTE_DEADLINE_S = 40.0


async def busy(emu: EmulatorServer, *, updates: int) -> None:
    """Wait until the churn made ``updates`` book changes: the connector joins a market in motion."""
    start_id = emu.engine.depth(SOL, limit=1)[2]
    async with asyncio.timeout(SEED_DEADLINE_S):
        while emu.engine.depth(SOL, limit=1)[2] < start_id + updates:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("lag", [10, 30])
async def test_a_lagging_snapshot_seeds_under_churn_and_stays_seeded(lag: int) -> None:
    async with EmulatorServer(
        venue="backpack", seed=4, symbols=[SOL], accounts=[generate_account()], depth_snapshot_lag=lag
    ) as emu:
        emu.core.depth_churn.set_rate(SOL, CHURN_PER_S, now_s=time.monotonic())
        await busy(emu, updates=2 * lag)
        venue = BackpackVenue(api_url=emu.rest_url, ws_url=emu.ws_url, timeout_s=2.0)
        events = venue.public_stream(SOL)
        try:
            async with asyncio.timeout(SEED_DEADLINE_S):
                async for event in events:
                    msg = event.msg
                    assert not (isinstance(msg, MdStatus) and msg.state is FeedState.RECONNECTING), msg
                    if isinstance(msg, Book):
                        break
            assert isinstance(msg, Book)
            snapshots = emu.core.requests["/api/v1/depth"]
            applied = 0
            last_id = msg.update_id
            async with asyncio.timeout(MINUTE_DEADLINE_S):
                async for event in events:
                    msg = event.msg
                    assert not (isinstance(msg, MdStatus) and msg.state is FeedState.RECONNECTING), msg
                    if isinstance(msg, Book):
                        assert msg.bids and msg.asks and msg.bids[0][0] < msg.asks[0][0]
                        assert msg.update_id > last_id
                        last_id = msg.update_id
                        applied += 1
                        if applied >= MINUTE_OF_UPDATES:
                            break
            # Seeded once: no snapshot was fetched again while the updates kept coming.
            assert emu.core.requests["/api/v1/depth"] == snapshots
        finally:
            await events.aclose()
            await venue.close()
