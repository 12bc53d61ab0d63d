"""The bus over real sockets: pub/sub and request/reply between separate processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import zmq

from services.bus import Bus
from services.endpoints import Endpoints
from services.keys import generate
from services.reqrep import RequestClient, RequestTimeout
from services.wire import Bbo, ErrorReply, Fill, OrderReply, Ping, Place, Pong, RejectReason, Side

PEER = Path(__file__).with_name("bus_peer.py")
pytestmark = pytest.mark.integration


def start_peer(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(PEER), *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    return proc


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def peers() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def place(client_id: int) -> Place:
    return Place(
        client_id=client_id,
        symbol="SOL_USDC_PERP",
        side=Side.BUY,
        quantity=Decimal("0.1"),
        price=Decimal("150.01"),
        post_only=True,
    )


async def test_pub_sub_between_processes_delivers_every_message_exactly(run_dir: Path, peers: list) -> None:
    bus = Bus(Endpoints.in_run_dir(run_dir), process="strategy")
    sub = bus.subscriber(["md"], ["md.bbo."])
    peers.append(start_peer("publish", str(run_dir), "2000"))
    got = [await asyncio.wait_for(sub.recv(), 10) for _ in range(2000)]
    bus.close()
    assert [r.body.update_id for r in got] == list(range(2000))  # type: ignore[attr-defined]
    assert got[7].body == Bbo(
        symbol="SOL_USDC_PERP",
        bid=Decimal("150.07"),
        bid_qty=Decimal("1.5"),
        ask=Decimal("150.08"),
        ask_qty=Decimal("2"),
        update_id=7,
    )
    assert sub.gaps == 0 and all(r.gap == 0 for r in got)
    assert oct((run_dir.stat().st_mode) & 0o777) == "0o700"


async def test_forced_seq_gap_is_detected(run_dir: Path, peers: list) -> None:
    bus = Bus(Endpoints.in_run_dir(run_dir), process="strategy")
    sub = bus.subscriber(["md"], ["md."])
    peers.append(start_peer("publish", str(run_dir), "100", "--skip", "7"))
    got = [await asyncio.wait_for(sub.recv(), 10) for _ in range(100)]
    bus.close()
    assert sub.gaps == 7
    assert [r.gap for r in got if r.gap] == [7]
    assert got[50].gap == 7


async def test_stale_messages_are_flagged(run_dir: Path) -> None:
    bus = Bus(Endpoints.in_run_dir(run_dir), process="md_gateway")
    pub = bus.publisher("md")
    sub = bus.subscriber(["md"], ["md."], max_age_s=0.05)
    await asyncio.sleep(0.2)
    pub.publish(
        "md.bbo.X", Bbo(symbol="X", bid=Decimal(1), bid_qty=Decimal(1), ask=Decimal(2), ask_qty=Decimal(1))
    )
    fresh = await asyncio.wait_for(sub.recv(), 5)
    pub.publish(
        "md.bbo.X", Bbo(symbol="X", bid=Decimal(1), bid_qty=Decimal(1), ask=Decimal(2), ask_qty=Decimal(1))
    )
    await asyncio.sleep(0.15)
    old = await asyncio.wait_for(sub.recv(), 5)
    bus.close()
    assert not fresh.stale
    assert old.stale


async def test_conflating_reader_skips_a_burst_to_the_newest_but_keeps_fills(run_dir: Path) -> None:
    bus = Bus(Endpoints.in_run_dir(run_dir), process="md_gateway")
    pub = bus.publisher("md")
    sub = bus.subscriber(["md"], [""])
    await asyncio.sleep(0.2)
    for i in range(500):
        pub.publish(
            "md.bbo.X",
            Bbo(
                symbol="X",
                bid=Decimal(i),
                bid_qty=Decimal(1),
                ask=Decimal(i + 1),
                ask_qty=Decimal(1),
                update_id=i,
            ),
        )
        if i % 100 == 0:
            pub.publish(
                "ex.fill.X",
                Fill(
                    symbol="X",
                    trade_id=str(i),
                    order_id="1",
                    client_id=1,
                    side=Side.BUY,
                    price=Decimal(i),
                    quantity=Decimal(1),
                    fee=Decimal(0),
                    fee_asset="USDC",
                    is_maker=True,
                ),
            )
    await asyncio.sleep(0.3)
    batch = await asyncio.wait_for(sub.recv_conflated(), 5)
    bus.close()
    bbos = [r for r in batch if r.topic == "md.bbo.X"]
    fills = [r for r in batch if r.topic == "ex.fill.X"]
    assert len(bbos) == 1 and bbos[0].body.update_id == 499  # type: ignore[attr-defined]
    assert [f.body.trade_id for f in fills] == ["0", "100", "200", "300", "400"]  # type: ignore[attr-defined]
    assert sub.gaps == 0


async def test_retried_request_gets_the_cached_first_reply_and_the_handler_runs_once(
    run_dir: Path, peers: list
) -> None:
    peers.append(start_peer("serve", str(run_dir), "--slow-first", "0.5"))
    bus = Bus(Endpoints.in_run_dir(run_dir), process="strategy")
    client = RequestClient(bus, "orders")
    reply = await client.request(place(42), timeout_s=0.3, retries=3)
    again = await client.request(place(42), timeout_s=0.3, retries=0)
    other = await client.request(place(43), timeout_s=1.0, retries=0)
    await asyncio.sleep(0.1)
    late = client.late_replies
    client.close()
    bus.close()
    assert isinstance(reply, OrderReply) and reply.message == "runs=1"
    assert isinstance(again, OrderReply) and again.message == "runs=1"
    assert isinstance(other, OrderReply) and other.message == "runs=2"
    assert late >= 1  # the abandoned first attempt's answer was dropped, not taken


async def test_late_reply_is_never_taken_for_a_newer_request(run_dir: Path, peers: list) -> None:
    peers.append(start_peer("serve", str(run_dir), "--slow-first", "0.4"))
    bus = Bus(Endpoints.in_run_dir(run_dir), process="strategy")
    client = RequestClient(bus, "orders")
    with pytest.raises(RequestTimeout):
        await client.request(place(1), timeout_s=0.1, retries=0)
    pong = await client.request(Ping(), timeout_s=2.0, retries=0)
    await asyncio.sleep(0.5)
    client.close()
    bus.close()
    assert isinstance(pong, Pong)
    assert client.late_replies == 1


async def test_malformed_frames_are_answered_and_counted_and_the_server_keeps_serving(
    run_dir: Path, peers: list
) -> None:
    peers.append(start_peer("serve", str(run_dir)))
    bus = Bus(Endpoints.in_run_dir(run_dir), process="strategy")
    raw = bus.socket(zmq.DEALER)
    raw.connect(Endpoints.in_run_dir(run_dir).orders)
    await raw.send_multipart([b"c1", b"\xc1 not msgpack"])
    corr, payload = await asyncio.wait_for(raw.recv_multipart(), 5)
    from services.codec import decode

    err = decode(payload).body
    await raw.send_multipart([b"only-one-frame-set", b"x", b"y"])  # wrong frame count: dropped
    client = RequestClient(bus, "orders")
    pong = await client.request(Ping(), timeout_s=2.0, retries=0)
    client.close()
    bus.close()
    assert corr == b"c1"
    assert isinstance(err, ErrorReply) and err.reason is RejectReason.MALFORMED
    assert isinstance(pong, Pong)


async def test_subscriber_drops_and_counts_malformed_frames(run_dir: Path) -> None:
    bus = Bus(Endpoints.in_run_dir(run_dir), process="md_gateway")
    pub = bus.publisher("md")
    raw: zmq.Socket[bytes] = zmq.Socket.shadow(pub._sock.underlying)
    sub = bus.subscriber(["md"], ["md."])
    await asyncio.sleep(0.2)
    raw.send_multipart([b"md.bbo.X", b"garbage"])
    raw.send_multipart([b"md.bbo.X"])
    pub.publish(
        "md.bbo.X", Bbo(symbol="X", bid=Decimal(1), bid_qty=Decimal(1), ask=Decimal(2), ask_qty=Decimal(1))
    )
    got = await asyncio.wait_for(sub.recv(), 5)
    bus.close()
    assert got.body.TYPE == "bbo"
    assert sub.malformed == 2


async def test_tcp_with_curve_admits_known_keys_only(tmp_path: Path, peers: list) -> None:
    keys = tmp_path / "keys"
    generate(keys)
    with zmq.Context() as probe:
        sock = probe.socket(zmq.REP)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        sock.close()
    peers.append(start_peer("serve-tcp", str(keys), str(port)))
    endpoints = replace(Endpoints.in_run_dir(tmp_path / "run"), orders=f"tcp://127.0.0.1:{port}")

    good_bus = Bus(endpoints, process="strategy", keys_dir=keys)
    good = RequestClient(good_bus, "orders")
    pong = await good.request(Ping(), timeout_s=3.0, retries=0)
    good.close()
    good_bus.close()
    assert isinstance(pong, Pong)

    stranger_keys = tmp_path / "stranger"
    generate(stranger_keys)
    for name in ("order_gateway.key",):  # it knows the server's public key, but its own key is not admitted
        (stranger_keys / name).write_bytes((keys / name).read_bytes())
    bad_bus = Bus(endpoints, process="strategy", keys_dir=stranger_keys)
    bad = RequestClient(bad_bus, "orders")
    with pytest.raises(RequestTimeout):
        await bad.request(Ping(), timeout_s=0.5, retries=1)
    bad.close()
    bad_bus.close()

    with zmq.Context() as plain, plain.socket(zmq.DEALER) as sock:
        sock.linger = 0
        sock.connect(f"tcp://127.0.0.1:{port}")
        sock.send_multipart([b"c", b"x"], flags=zmq.NOBLOCK)
        assert sock.poll(500) == 0  # no CURVE at all: nothing comes back
