"""md_gateway as a real process against the emulator: every topic, exchange times, drop and recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import (
    Children,
    Emulator,
    bus_for,
    child_env,
    emulator_control,
    free_port,
    process_log,
    write_config,
)

from services.bus import Received, Subscriber
from services.wire import Bbo, Book, FeedState, Mark, MdStatus, Message, Trade

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
SYM = "SOL_USDC_PERP"


@pytest.fixture
async def md(run_dir: Path, emulator: Emulator, children: Children) -> AsyncIterator[Subscriber]:
    config = write_config(run_dir, md_stale=2.0)
    bus = bus_for(config)
    sub = bus.subscriber(["md"], ["md."], max_age_s=None)
    proc = children.start("md_gateway", config, child_env(emulator))
    try:
        yield sub
    finally:
        bus.close()
        if proc.poll() is not None:
            print(process_log(config, "md_gateway"))


async def next_where(
    sub: Subscriber, check: type, *, timeout_s: float, state: FeedState | None = None
) -> Received:
    """The next message of type ``check`` (and ``state`` for a status)."""

    async def find() -> Received:
        while True:
            got = await sub.recv()
            if isinstance(got.body, check) and (state is None or getattr(got.body, "state", None) is state):
                return got

    return await asyncio.wait_for(find(), timeout_s)


async def test_publishes_every_topic_with_exchange_time(md: Subscriber) -> None:
    await next_where(md, MdStatus, state=FeedState.LIVE, timeout_s=30)
    seen: dict[type[Message], Received] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 4 and time.monotonic() < deadline:
        got = await asyncio.wait_for(md.recv(), 10)
        if isinstance(got.body, (Bbo, Book, Trade, Mark)):
            seen.setdefault(type(got.body), got)
    assert set(seen) == {Bbo, Book, Trade, Mark}
    for kind, got in seen.items():
        assert got.topic == f"md.{kind.TYPE}.{SYM}"
        assert got.body.symbol == SYM  # type: ignore[attr-defined]
        # The envelope ts is the exchange's event time, close to now on loopback, never after sending.
        assert got.env.ts <= got.env.sent + 1_000_000
        assert got.env.sent - got.env.ts < 5_000_000_000
    book = seen[Book].body
    assert isinstance(book, Book)
    assert book.bids and book.asks and book.bids[0][0] < book.asks[0][0]
    assert all(a[0] > b[0] for a, b in zip(book.bids, book.bids[1:], strict=False))


async def test_status_repeats_for_late_joiners(md: Subscriber) -> None:
    await next_where(md, MdStatus, state=FeedState.LIVE, timeout_s=30)
    again = await next_where(md, MdStatus, timeout_s=3)
    assert again.topic == "md.status" and again.body.state is FeedState.LIVE  # type: ignore[attr-defined]


async def test_stale_within_a_second_of_a_dropped_websocket_and_live_after_reconnect(
    md: Subscriber, emulator: Emulator
) -> None:
    await next_where(md, MdStatus, state=FeedState.LIVE, timeout_s=30)
    await next_where(md, Bbo, timeout_s=10)
    dropped_at = time.monotonic()
    emulator_control(emulator.rest_url, "faults", {"drop_ws": True})

    async def not_live() -> Received:
        while True:
            got = await md.recv()
            if isinstance(got.body, MdStatus) and got.body.state is not FeedState.LIVE:
                return got

    status = await asyncio.wait_for(not_live(), 5)
    assert time.monotonic() - dropped_at < 1.0
    assert status.body.state is FeedState.RECONNECTING  # type: ignore[attr-defined]
    await next_where(md, MdStatus, state=FeedState.LIVE, timeout_s=30)
    await next_where(md, Book, timeout_s=10)
    await next_where(md, Bbo, timeout_s=10)


async def test_without_a_stream_it_serves_rest_snapshots_after_the_staleness(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    config = write_config(run_dir, md_stale=1.0)
    bus = bus_for(config)
    sub = bus.subscriber(["md"], ["md."], max_age_s=None)
    dead_ws = f"ws://127.0.0.1:{free_port()}/"
    children.start("md_gateway", config, child_env(emulator, BACKPACK_WS_URL=dead_ws))
    try:
        status = await next_where(sub, MdStatus, timeout_s=30)
        assert status.body.state is FeedState.RECONNECTING  # type: ignore[attr-defined]
        book = await next_where(sub, Book, timeout_s=15)
        bbo = await next_where(sub, Bbo, timeout_s=5)
        mark = await next_where(sub, Mark, timeout_s=5)
        assert book.body.bids and book.body.asks  # type: ignore[attr-defined]
        assert bbo.body.bid == book.body.bids[0][0]  # type: ignore[attr-defined]
        assert mark.body.mark > 0  # type: ignore[attr-defined]
        # Still not live: REST snapshots never pass for a working stream.
        again = await next_where(sub, MdStatus, timeout_s=5)
        assert again.body.state is FeedState.RECONNECTING  # type: ignore[attr-defined]
    finally:
        bus.close()
        print(process_log(config, "md_gateway"))


async def test_a_late_subscriber_gets_the_quiet_book_within_a_second_or_so(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    # A quiet market (no random walk, no takers) far from the staleness: nothing new to publish.
    emulator_control(emulator.rest_url, "taker", {"symbol": SYM, "pause": True})
    config = write_config(run_dir, md_stale=60.0)
    bus = bus_for(config)
    try:
        first = bus.subscriber(["md"], ["md."], max_age_s=None)
        children.start("md_gateway", config, child_env(emulator))
        seeded = await next_where(first, Book, timeout_s=30)
        # Joining now, a strategy restarted say, it still gets the book, with its original event time.
        late = bus.subscriber(["md"], ["md.book."], max_age_s=None)
        joined_s = time.monotonic()
        again = await next_where(late, Book, timeout_s=5)
        assert time.monotonic() - joined_s < 2.5
        assert again.body == seeded.body and again.env.ts == seeded.env.ts
    finally:
        bus.close()
