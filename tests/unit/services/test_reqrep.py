"""The request server keeps reading while it answers (one process, loopback ipc sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import zmq

from services.bus import Bus
from services.codec import Envelope, Message, decode, encode
from services.endpoints import Endpoints
from services.reqrep import RequestServer, is_transient_refusal
from services.wire import (
    Cancel,
    CancelAllReply,
    ErrorReply,
    OrderReply,
    Ping,
    Pong,
    RejectReason,
    TradingState,
)


@contextlib.contextmanager
def _orders_bus() -> Iterator[tuple[Bus, zmq.Socket[bytes]]]:
    """An order gateway's bus in a fresh run dir, and a DEALER peer (identity ``tester``) on ``orders``."""
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="rq") as run_dir:
        bus = Bus(Endpoints.in_run_dir(Path(run_dir)), process="order_gateway")
        client: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        client.setsockopt(zmq.IDENTITY, b"tester")
        client.connect(bus.endpoints.orders)
        try:
            yield bus, client
        finally:
            client.close(linger=0)
            bus.close()


async def _reply(client: zmq.Socket[bytes], *, timeout_s: float = 5.0) -> list[bytes]:
    """The next reply on a synchronous DEALER, polled without blocking the event loop."""
    deadline = time.monotonic() + timeout_s
    while not client.poll(0):
        assert time.monotonic() < deadline, "no reply"
        await asyncio.sleep(0.01)
    return client.recv_multipart()


async def test_a_reply_sent_while_a_request_arrives_does_not_stall_the_server() -> None:
    # The reply goes out while the next request is already queued and its wake-up not yet seen by
    # the event loop: a send behind the asyncio socket's back used to swallow that wake-up, and the
    # server read nothing more until another peer connected (the soak's stalled order gateway).
    with _orders_bus() as (bus, client):
        served: list[str] = []

        async def handle(env: Envelope) -> Message:
            served.append(env.type)
            return Pong(process="order_gateway", state=TradingState.ACTIVE)

        server = RequestServer(bus, "orders", handle)
        serving = asyncio.create_task(server.serve())
        try:
            ping = encode(Ping(), seq=1, ts=1, sent=1, src="tester:1")
            client.send_multipart([b"first", ping])
            corr, frame = await _reply(client)
            assert corr == b"first" and isinstance(decode(frame).body, Pong)
            await asyncio.sleep(0.1)  # the server waits on its next recv

            # Without yielding to the event loop: the next request arrives, then a reply is sent.
            client.send_multipart([b"second", ping])
            time.sleep(0.2)
            server._send(b"tester", b"extra", Pong(process="order_gateway", state=TradingState.ACTIVE))

            deadline = time.monotonic() + 3.0
            while len(served) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert served == ["ping", "ping"]
        finally:
            serving.cancel()


async def test_each_handler_starts_before_the_next_queued_request_is_read() -> None:
    # The order gateway's handler puts its venue request on the wire at its first wait: reading every
    # queued request first made the first order wait behind the others' journaling and signing.
    with _orders_bus() as (bus, client):
        read_when_started: list[int] = []

        async def handle(env: Envelope) -> Message:
            read_when_started.append(server.received)
            await asyncio.sleep(0.05)
            return Pong(process="order_gateway", state=TradingState.ACTIVE)

        server = RequestServer(bus, "orders", handle)
        serving = None
        try:
            await asyncio.sleep(0.1)  # connected
            for n in range(3):
                client.send_multipart([b"r%d" % n, encode(Ping(), seq=n + 1, ts=1, sent=1, src="tester:1")])
            await asyncio.sleep(0.2)  # all three queued before the server reads any
            serving = asyncio.create_task(server.serve())
            replies = {(await _reply(client))[0] for _ in range(3)}
            assert replies == {b"r0", b"r1", b"r2"}
            assert read_when_started == [1, 2, 3]
        finally:
            if serving is not None:
                serving.cancel()


def test_only_rate_limited_and_unavailable_refusals_are_transient() -> None:
    assert is_transient_refusal(OrderReply(ok=False, reason=RejectReason.RATE_LIMITED))
    assert is_transient_refusal(CancelAllReply(ok=False, reason=RejectReason.UNAVAILABLE))
    assert is_transient_refusal(ErrorReply(reason=RejectReason.RATE_LIMITED))
    assert not is_transient_refusal(OrderReply(ok=False, reason=RejectReason.UNKNOWN_ORDER))
    assert not is_transient_refusal(OrderReply(ok=True))
    assert not is_transient_refusal(ErrorReply(reason=RejectReason.MALFORMED))
    assert not is_transient_refusal(Pong(process="order_gateway"))


async def test_a_transient_refusal_is_not_cached_so_a_retried_cancel_runs_again() -> None:
    # A cancel refused while the venue rate-limits must be tried again, not answered from the cache
    # (the strategy's quotes stayed stuck after a 429 storm), while a final answer stays cached.
    with _orders_bus() as (bus, client):
        answers = [
            OrderReply(ok=False, reason=RejectReason.RATE_LIMITED),
            OrderReply(ok=True),
            OrderReply(ok=False, reason=RejectReason.OTHER),
        ]
        runs: list[int] = []

        async def handle(env: Envelope) -> Message:
            runs.append(1)
            return answers[len(runs) - 1]

        server = RequestServer(bus, "orders", handle)
        serving = asyncio.create_task(server.serve())
        try:
            cancel = encode(Cancel(symbol="SOL_USDC_PERP", order_id="7"), seq=1, ts=1, sent=1, src="t:1")
            got = []
            for corr in (b"a", b"b", b"c"):
                client.send_multipart([corr, cancel])
                _, frame = await _reply(client)
                got.append(decode(frame).body)
            assert got == [answers[0], answers[1], answers[1]]
            assert len(runs) == 2
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
