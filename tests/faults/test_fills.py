"""Duplicate and out-of-order fill events from the venue: the journal and the strategy's PnL count each once.

The emulator's ``replay_fills`` sends every private order update that carries
a fill a second time, after the rest of its batch (so after the position
update it caused): the order gateway and the strategy see the same trade again,
late.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from faultstack import SYM, make_stack, no_orders, position
from harness import (
    Children,
    Emulator,
    FakeGuardian,
    account_state,
    async_wait_for,
    bus_for,
    emulator_control,
    journal_rows,
    wait_connected,
)

from services.bus import Bus, Subscriber
from services.reqrep import RequestClient
from services.wire import Fill, Ping, PnlReport, Pong, TradingState

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]
ACTIVE_IN_JOURNAL = (
    "SELECT count(*) FROM orders WHERE status IN ('pending', 'unknown', 'new', 'partially_filled')"
)


async def report_with_volume(sub: Subscriber, volume_base: Decimal, *, timeout_s: float) -> PnlReport:
    """The strategy's first PnL report whose traded volume reaches ``volume_base``."""

    async def find() -> PnlReport:
        while True:
            got = await sub.recv()
            if isinstance(got.body, PnlReport) and got.body.volume_base >= volume_base:
                return got.body

    return await asyncio.wait_for(find(), timeout_s)


async def halted(bus: Bus, *, timeout_s: float = 20.0) -> None:
    """Wait until the order gateway itself answers that trading is HALTED: from then on it admits no order."""
    client = RequestClient(bus, "orders")
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            pong = await client.request(Ping(), timeout_s=5, retries=2)
            if isinstance(pong, Pong) and pong.state is TradingState.HALTED:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the order gateway still says {pong!r} {timeout_s:g} s after the halt")
            await asyncio.sleep(0.05)
    finally:
        client.close()


async def test_replayed_fills_are_journaled_published_and_counted_in_the_pnl_once(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    stack = make_stack(run_dir, emulator, children, interval=1, max_orders=2)
    bus = bus_for(stack.config)
    pnl = bus.subscriber(["strategy"], ["st.pnl."], max_age_s=None)
    fills = bus.subscriber(["exec"], ["ex.fill."], max_age_s=None)
    published: list[str] = []

    async def collect() -> None:
        while True:
            got = await fills.recv()
            if isinstance(got.body, Fill):
                published.append(got.body.trade_id)

    collector = asyncio.create_task(collect())
    try:
        emulator_control(emulator.rest_url, "faults", {"replay_fills": True})
        emulator_control(emulator.rest_url, "taker", {"symbol": SYM, "rate_per_s": 4})
        async with FakeGuardian(stack.config) as guardian:
            for name in ("md_gateway", "order_gateway", "strategy"):
                stack.start(name)
            await wait_connected(pnl, timeout_s=60)
            await async_wait_for(lambda: len(account_state(emulator)["fills"]) >= 4, 60, what="fills")
            emulator_control(emulator.rest_url, "taker", {"pause": True})
            # The last taker fill may start a threshold reduce: halt, so the venue's fills are final once
            # no order of ours rests (the order gateway admits no order while HALTED).
            guardian.state = TradingState.HALTED
            await halted(bus)
            # An order admitted before the halt is journaled as pending until the venue answers it:
            # with none pending or resting, and nothing on the venue, the venue's fills are final.
            await async_wait_for(
                lambda: journal_rows(stack.config, ACTIVE_IN_JOURNAL) == [(0,)] and no_orders(emulator),
                30,
                what="every order answered and the quotes pulled",
            )
            venue_fills = account_state(emulator)["fills"]
            await async_wait_for(
                lambda: len(journal_rows(stack.config, "SELECT trade_id FROM fills")) >= len(venue_fills),
                20,
                what="the journal to hold every fill",
            )
            # Volume only grows: the first report with all of it is the one that has applied every fill.
            volume = sum((Decimal(f["quantity"]) for f in venue_fills), Decimal(0))
            report = await report_with_volume(pnl, volume, timeout_s=20)
        trade_ids = Counter(str(f["trade_id"]) for f in venue_fills)
        journaled = Counter(str(row[0]) for row in journal_rows(stack.config, "SELECT trade_id FROM fills"))
        assert journaled == trade_ids, stack.logs()
        assert Counter(published) == trade_ids, (published, trade_ids)
        assert report.volume_base == sum((Decimal(f["quantity"]) for f in venue_fills), Decimal(0))
        assert report.fees == sum((Decimal(f["fee"]) for f in venue_fills), Decimal(0))
        assert report.position == position(emulator)
        assert stack.metric("order_gateway", "mm_fills_total") == len(venue_fills)
        assert stack.alive(), stack.logs()
    finally:
        collector.cancel()
        bus.close()
