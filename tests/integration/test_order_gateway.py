"""order_gateway as a real process against the emulator, with a fake guardian on the risk endpoint."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zmq
from harness import (
    Children,
    Emulator,
    FakeGuardian,
    account_state,
    async_wait_for,
    bus_for,
    child_env,
    emulator_control,
    journal_rows,
    kill_process,
    process_log,
    read_config,
    start_emulator,
    stop_process,
    wait_connected,
    write_config,
)

from order_gateway.journal import Journal
from order_gateway.service import journal_path
from services.bus import Bus, Received, Subscriber
from services.codec import decode, encode
from services.reqrep import RequestClient
from services.wire import (
    Cancel,
    CancelAll,
    CancelAllReply,
    ErrorReply,
    ExStatus,
    FeedState,
    Fill,
    Message,
    OrderReply,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Ping,
    Place,
    Pong,
    Quotes,
    RejectReason,
    Side,
    Snapshot,
    SnapshotRequest,
    TradingState,
)
from venues.backpack.venue import BackpackVenue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SYM = "SOL_USDC_PERP"
D = Decimal


@dataclass
class Gateway:
    config: Path
    emulator: Emulator
    children: Children
    guardian: FakeGuardian
    bus: Bus
    client: RequestClient
    exec: Subscriber
    proc: subprocess.Popen[bytes]

    async def request(self, msg: Message, *, timeout_s: float = 15.0) -> Message:
        return await self.client.request(msg, timeout_s=timeout_s, retries=0)

    async def place(
        self, client_id: int, side: Side = Side.BUY, quantity: str = "0.1", **kw: Any
    ) -> OrderReply:
        price = kw.pop("price", "100" if side is Side.BUY else "200")
        reply = await self.request(
            Place(
                client_id=client_id,
                symbol=SYM,
                side=side,
                quantity=D(quantity),
                price=None if price is None else D(price),
                **kw,
            )
        )
        assert isinstance(reply, OrderReply), reply
        return reply

    async def state(self) -> TradingState:
        pong = await self.request(Ping())
        assert isinstance(pong, Pong) and pong.process == "order_gateway"
        return pong.state

    async def snapshot(self) -> Snapshot:
        reply = await self.request(SnapshotRequest(symbol=SYM))
        assert isinstance(reply, Snapshot), reply
        return reply

    async def wait_state(self, state: TradingState, *, timeout_s: float = 20.0) -> None:
        async def reached() -> None:
            while await self.state() is not state:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(reached(), timeout_s)

    async def wait_ready(self, *, timeout_s: float = 30.0) -> Snapshot:
        async def ready() -> Snapshot:
            while True:
                reply = await self.request(SnapshotRequest(symbol=SYM))
                if isinstance(reply, Snapshot):
                    return reply
                await asyncio.sleep(0.1)

        return await asyncio.wait_for(ready(), timeout_s)

    def restart(self) -> None:
        self.proc = self.children.start("order_gateway", self.config, child_env(self.emulator))

    async def next_exec(self, kind: type[Message], *, timeout_s: float = 10.0) -> Received:
        async def find() -> Received:
            while True:
                got = await self.exec.recv()
                if isinstance(got.body, kind):
                    return got

        return await asyncio.wait_for(find(), timeout_s)


def open_orders_on_venue(emulator: Emulator) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = account_state(emulator)["open_orders"]
    return orders


async def start_gateway(
    run_dir: Path, emulator: Emulator, children: Children, **overrides: Any
) -> AsyncIterator[Gateway]:
    config = write_config(run_dir, **{"order_rate_limit": 500, **overrides})
    bus = bus_for(config)
    exec_sub = bus.subscriber(["exec"], ["ex."])
    client = RequestClient(bus, "orders")
    proc = children.start("order_gateway", config, child_env(emulator))
    try:
        async with FakeGuardian(config) as guardian:
            gw = Gateway(config, emulator, children, guardian, bus, client, exec_sub, proc)
            await gw.wait_ready()
            await gw.wait_state(TradingState.ACTIVE)
            await wait_connected(exec_sub)
            yield gw
    finally:
        client.close()
        bus.close()
        print(process_log(config, "order_gateway"))


@pytest.fixture
async def gateway(run_dir: Path, emulator: Emulator, children: Children) -> AsyncIterator[Gateway]:
    async for gw in start_gateway(run_dir, emulator, children):
        yield gw


async def test_every_command_round_trip(gateway: Gateway) -> None:
    assert await gateway.state() is TradingState.ACTIVE
    placed = await gateway.place(101)
    assert placed.ok and placed.order is not None and placed.order.status is OrderStatus.NEW
    assert placed.order.client_id == 101 and placed.order.price == D(100)
    published = await gateway.next_exec(OrderUpdate)
    assert published.topic == f"ex.order.{SYM}" and published.body.client_id == 101  # type: ignore[attr-defined]

    snap = await gateway.snapshot()
    assert [o.client_id for o in snap.orders] == [101]
    assert snap.exec_src.startswith("order_gateway:") and snap.exec_seq >= published.env.seq
    assert snap.position is not None and snap.position.quantity == 0
    assert snap.balances and snap.balances[0].equity > 0
    assert snap.state is TradingState.ACTIVE

    cancelled = await gateway.request(Cancel(symbol=SYM, client_id=101))
    assert isinstance(cancelled, OrderReply) and cancelled.ok
    assert cancelled.order is not None and cancelled.order.status is OrderStatus.CANCELLED
    # A repeated cancel is answered from the reply cache (cancels are idempotent too).
    repeated = await gateway.request(Cancel(symbol=SYM, client_id=101))
    assert repeated == cancelled
    missing = await gateway.request(Cancel(symbol=SYM, order_id="999999"))
    assert isinstance(missing, OrderReply) and not missing.ok and missing.reason is RejectReason.UNKNOWN_ORDER

    assert (await gateway.place(102)).ok
    assert (await gateway.place(103, Side.SELL)).ok
    assert len(open_orders_on_venue(gateway.emulator)) == 2
    all_gone = await gateway.request(CancelAll(symbol=SYM))
    assert isinstance(all_gone, CancelAllReply) and all_gone.ok and all_gone.cancelled == 2
    assert open_orders_on_venue(gateway.emulator) == []
    assert (await gateway.snapshot()).orders == []

    wrong = await gateway.request(SnapshotRequest(symbol="BTC_USDC_PERP"))
    assert isinstance(wrong, ErrorReply) and wrong.reason is RejectReason.MALFORMED


async def test_the_same_place_twice_gives_one_order(gateway: Gateway) -> None:
    first = await gateway.place(201)
    again = await gateway.place(201)
    other_client = RequestClient(gateway.bus, "orders")
    try:
        third = await other_client.request(
            Place(client_id=201, symbol=SYM, side=Side.BUY, quantity=D("0.1"), price=D(100)),
            timeout_s=15,
            retries=0,
        )
    finally:
        other_client.close()
    assert first.ok and again.ok and isinstance(third, OrderReply) and third.ok
    assert first.order is not None and again.order is not None and third.order is not None
    assert first.order.order_id == again.order.order_id == third.order.order_id
    on_venue = [o for o in open_orders_on_venue(gateway.emulator) if o["client_id"] == 201]
    assert len(on_venue) == 1
    assert account_state(gateway.emulator)["orders_placed"] == 1


async def test_a_fill_on_the_stream_and_in_the_history_is_journaled_once(gateway: Gateway) -> None:
    reply = await gateway.place(301, quantity="0.1", price=None, order_type=OrderType.MARKET)
    assert reply.ok and reply.order is not None and reply.order.status is OrderStatus.FILLED
    fill = await gateway.next_exec(Fill)
    trade_id = fill.body.trade_id  # type: ignore[attr-defined]
    history = account_state(gateway.emulator)["fills"]
    assert [str(f["trade_id"]) for f in history] == [trade_id]

    # Drop the private stream: the reconnect reconciliation reads the fill history again, and
    # finds a fill made meanwhile (by another client of the account) that the stream could not deliver.
    emulator_control(gateway.emulator.rest_url, "faults", {"drop_ws": True})
    status = await gateway.next_exec(ExStatus)
    while status.body.state is FeedState.LIVE:  # type: ignore[attr-defined]
        status = await gateway.next_exec(ExStatus)
    venue = BackpackVenue(
        api_url=gateway.emulator.rest_url,
        ws_url=gateway.emulator.ws_url,
        api_key=gateway.emulator.api_key,
        secret=gateway.emulator.secret,
    )
    try:
        away = await venue.place_order(
            Place(client_id=302, symbol=SYM, side=Side.SELL, quantity=D("0.1"), order_type=OrderType.MARKET)
        )
    finally:
        await venue.close()
    fills_after: list[Received] = []

    async def live_and_reconciled() -> None:
        seen_live = False
        while True:
            got = await gateway.exec.recv()
            if isinstance(got.body, Fill):
                fills_after.append(got)
            if isinstance(got.body, ExStatus) and got.body.state is FeedState.LIVE:
                seen_live = True
            # Reconciliation ends by publishing the balance it polled.
            if seen_live and got.topic == "ex.balance":
                return

    await asyncio.wait_for(live_and_reconciled(), 30)
    # Only the fill made while away is new to the bus, and it is published once.
    assert [(f.body.client_id, f.body.order_id) for f in fills_after] == [(302, away.order_id)]  # type: ignore[attr-defined]
    rows = journal_rows(gateway.config, "SELECT trade_id, client_id, quantity FROM fills ORDER BY client_id")
    assert rows[0] == (trade_id, 301, "0.1")
    assert [row[1:] for row in rows] == [(301, "0.1"), (302, "0.1")]
    orders = journal_rows(gateway.config, "SELECT status, filled FROM orders WHERE client_id = 301")
    assert orders == [("filled", "0.1")]


async def test_halted_refuses_new_orders_while_cancels_pass(gateway: Gateway) -> None:
    assert (await gateway.place(401)).ok
    gateway.guardian.state = TradingState.HALTED
    await gateway.wait_state(TradingState.HALTED)
    refused = await gateway.place(402)
    assert not refused.ok and refused.reason is RejectReason.TRADING_STATE and "HALTED" in refused.message
    reduce_only = await gateway.place(403, Side.SELL, reduce_only=True)
    assert not reduce_only.ok and reduce_only.reason is RejectReason.TRADING_STATE
    cancelled = await gateway.request(Cancel(symbol=SYM, client_id=401))
    assert isinstance(cancelled, OrderReply) and cancelled.ok

    gateway.guardian.state = TradingState.REDUCING
    await gateway.wait_state(TradingState.REDUCING)
    refused = await gateway.place(404)
    assert not refused.ok and refused.reason is RejectReason.TRADING_STATE and "REDUCING" in refused.message

    gateway.guardian.state = TradingState.ACTIVE
    await gateway.wait_state(TradingState.ACTIVE)
    assert (await gateway.place(405)).ok
    # A silent guardian halts trading within its timeout (3 s).
    gateway.guardian.silent = True
    await gateway.wait_state(TradingState.HALTED, timeout_s=10)
    refused = await gateway.place(406)
    assert not refused.ok and refused.reason is RejectReason.TRADING_STATE
    assert (await gateway.request(CancelAll(symbol=SYM))).ok  # type: ignore[attr-defined]


async def test_the_worst_case_limit_refuses_an_order_beyond_max_position(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    async for gw in start_gateway(run_dir, emulator, children, max_position="1"):
        assert (await gw.place(501, quantity="0.6")).ok
        assert (await gw.place(502, quantity="0.4")).ok
        refused = await gw.place(503, quantity="0.01")
        assert not refused.ok and refused.reason is RejectReason.POSITION_LIMIT
        assert "1.01" in refused.message
        # The other side is not affected, and a reduce-only order is not counted.
        assert (await gw.place(504, Side.SELL, quantity="1")).ok
        assert len(open_orders_on_venue(emulator)) == 3


async def test_a_malformed_command_gets_an_error_reply_and_the_gateway_keeps_serving(
    gateway: Gateway,
) -> None:
    cfg = read_config(gateway.config)
    raw = gateway.bus.socket(zmq.DEALER)
    raw.connect(cfg.orders_endpoint)
    await raw.send_multipart([b"corr-1", b"\xc1 not msgpack"])
    corr, payload = await asyncio.wait_for(raw.recv_multipart(), 10)
    reply = decode(payload).body
    assert corr == b"corr-1" and isinstance(reply, ErrorReply) and reply.reason is RejectReason.MALFORMED

    quotes = Quotes(symbol=SYM, bids=[], asks=[])
    await raw.send_multipart([b"corr-2", encode(quotes, seq=1, ts=0, sent=0, src="tester:x")])
    corr, payload = await asyncio.wait_for(raw.recv_multipart(), 10)
    reply = decode(payload).body
    assert corr == b"corr-2" and isinstance(reply, ErrorReply) and reply.reason is RejectReason.MALFORMED

    bad_id = await gateway.place(0)
    assert not bad_id.ok and bad_id.reason is RejectReason.MALFORMED
    assert await gateway.state() is TradingState.ACTIVE
    assert (await gateway.place(601)).ok


async def test_orders_it_did_not_place_are_left_alone_and_survive_its_cancel_all(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    venue = BackpackVenue(
        api_url=emulator.rest_url, ws_url=emulator.ws_url, api_key=emulator.api_key, secret=emulator.secret
    )
    try:
        stranger = await venue.place_order(
            Place(client_id=777, symbol=SYM, side=Side.BUY, quantity=D("0.1"), price=D(100))
        )
        guardian = await venue.place_order(
            Place(client_id=2**31 + 1, symbol=SYM, side=Side.BUY, quantity=D("0.1"), price=D(101))
        )
    finally:
        await venue.close()
    assert {o["client_id"] for o in open_orders_on_venue(emulator)} == {777, 2**31 + 1}
    async for gw in start_gateway(run_dir, emulator, children):
        snap = await gw.snapshot()
        # Placed by hand (or another program): foreign, tracked, never cancelled by the gateway.
        assert {o.order_id: o.foreign for o in snap.orders} == {
            stranger.order_id: True,
            guardian.order_id: False,
        }
        assert "was not placed by perp-mm" in process_log(gw.config, "order_gateway", lines=200)
        assert (await gw.place(901)).ok
        reply = await gw.request(CancelAll(symbol=SYM))
        assert isinstance(reply, CancelAllReply) and reply.ok and reply.cancelled == 1
        assert {o["client_id"] for o in open_orders_on_venue(emulator)} == {777, 2**31 + 1}


async def test_kill_9_during_a_burst_then_restart_agrees_with_the_exchange(gateway: Gateway) -> None:
    ids = list(range(1000, 1030))

    async def send(client_id: int) -> Message | None:
        try:
            return await gateway.request(
                Place(
                    client_id=client_id,
                    symbol=SYM,
                    side=Side.BUY,
                    quantity=D("0.1"),
                    price=D(100) + D(client_id - 1000) / 100,
                ),
                timeout_s=5,
            )
        except TimeoutError:
            return None

    # The first 10 placements are executed but their answers hang, and every request is slow,
    # so the kill finds orders on the exchange that the journal only has as sent.
    emulator_control(gateway.emulator.rest_url, "faults", {"hang_after_execute": 10, "latency_ms": 200})
    burst = [asyncio.create_task(send(cid)) for cid in ids]
    await async_wait_for(lambda: sum(task.done() for task in burst) >= 8, 30, what="some replies")
    kill_process(gateway.proc)
    results = await asyncio.gather(*burst)
    emulator_control(gateway.emulator.rest_url, "faults", {})
    assert sum(reply is None for reply in results) >= 10, "the hung answers should be lost with the gateway"

    gateway.restart()
    snap = await gateway.wait_ready()
    venue_open = open_orders_on_venue(gateway.emulator)
    venue_ids = [o["client_id"] for o in venue_open]
    assert len(venue_ids) == len(set(venue_ids)), "a client id is on the exchange twice"
    assert set(venue_ids) <= set(ids)
    assert {o.order_id for o in snap.orders} == {o["order_id"] for o in venue_open}
    journal_open = journal_rows(
        gateway.config, "SELECT client_id, order_id FROM orders WHERE status IN ('new', 'partially_filled')"
    )
    assert {(cid, oid) for cid, oid in journal_open} == {(o["client_id"], o["order_id"]) for o in venue_open}
    active = journal_rows(
        gateway.config, "SELECT count(*) FROM orders WHERE status IN ('pending', 'unknown')"
    )
    assert active == [(0,)]

    # Retrying the whole burst with the same client ids never makes a second order.
    await gateway.wait_state(TradingState.ACTIVE)
    replies = [await send(cid) for cid in ids]
    venue_open = open_orders_on_venue(gateway.emulator)
    by_client = {o["client_id"]: o for o in venue_open}
    assert len(by_client) == len(venue_open)
    for cid, reply in zip(ids, replies, strict=True):
        assert isinstance(reply, OrderReply), reply
        if reply.ok:
            assert reply.order is not None and by_client[cid]["order_id"] == reply.order.order_id
        else:
            assert cid not in by_client and reply.reason is RejectReason.UNAVAILABLE
    snap = await gateway.snapshot()
    assert {o.order_id for o in snap.orders} == {o["order_id"] for o in venue_open}
    assert account_state(gateway.emulator)["orders_placed"] == len(by_client)


async def test_a_restart_resolves_orders_journaled_as_sent(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    """A crash right after journaling: one order reached the venue, one never did, one filled meanwhile."""
    config = write_config(run_dir, order_rate_limit=500)
    journal = Journal(journal_path(read_config(config)))
    resting = Place(client_id=71, symbol=SYM, side=Side.BUY, quantity=D("0.1"), price=D(100))
    lost = Place(client_id=72, symbol=SYM, side=Side.BUY, quantity=D("0.1"), price=D(101))
    filled = Place(client_id=73, symbol=SYM, side=Side.BUY, quantity=D("0.1"), order_type=OrderType.MARKET)
    now_ns = time.time_ns()
    for place in (resting, lost, filled):
        journal.record_intent(place, now_ns=now_ns)
    journal.close()
    venue = BackpackVenue(
        api_url=emulator.rest_url, ws_url=emulator.ws_url, api_key=emulator.api_key, secret=emulator.secret
    )
    try:
        on_venue = await venue.place_order(resting)
        taken = await venue.place_order(filled)
    finally:
        await venue.close()
    assert taken.status is OrderStatus.FILLED
    async for gw in start_gateway(run_dir, emulator, children):
        snap = await gw.snapshot()
        assert [o.order_id for o in snap.orders] == [on_venue.order_id]
        rows = journal_rows(
            gw.config, "SELECT client_id, order_id, status, filled FROM orders ORDER BY client_id"
        )
        assert rows == [
            (71, on_venue.order_id, "new", "0"),
            (72, None, "rejected", "0"),
            (73, taken.order_id, "filled", "0.1"),
        ]
        fills = journal_rows(gw.config, "SELECT client_id, quantity FROM fills")
        assert fills == [(73, "0.1")]
        # Retries are answered from the journal, never sent again.
        again = await gw.place(71, price="100")
        assert again.ok and again.order is not None and again.order.order_id == on_venue.order_id
        refused = await gw.place(72, price="101")
        assert not refused.ok and refused.reason is RejectReason.UNAVAILABLE
        assert account_state(emulator)["orders_placed"] == 2


async def test_funding_settled_since_the_last_poll_is_journaled_at_stop(
    run_dir: Path, children: Children
) -> None:
    # Funding every 3 s; the gateway polls it a minute apart, so only its stop can journal this one.
    emulator = start_emulator(run_dir, extra_args=("--funding-interval-s", "3"))
    try:
        async for gateway in start_gateway(run_dir, emulator, children):
            reply = await gateway.place(801, quantity="0.1", price=None, order_type=OrderType.MARKET)
            assert reply.ok, reply

            def funding() -> Decimal:
                return D(account_state(emulator)["positions"][SYM]["funding"])

            await async_wait_for(lambda: funding() != 0, timeout_s=10)
            before = funding()
            assert journal_rows(gateway.config, "SELECT COUNT(*) FROM funding") == [(0,)]
            assert stop_process(gateway.proc) == 0
            after = funding()  # the next settlement may come between the two reads
            rows = journal_rows(gateway.config, "SELECT amount FROM funding")
            journaled = sum(D(amount) for (amount,) in rows)
            assert journaled != 0 and journaled in (before, after)
            log_text = process_log(gateway.config, "order_gateway")
            assert "funding payment(s) settled since the last poll" in log_text
    finally:
        emulator.stop()
