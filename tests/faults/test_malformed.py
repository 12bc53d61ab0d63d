"""Garbage on the bus and from the exchange: counted in /metrics, logged, and the processes keep working."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import zmq
from faultstack import Stack, make_stack, open_orders, quoting
from harness import (
    Children,
    Emulator,
    FakeGuardian,
    async_wait_for,
    bus_for,
    emulator_control,
    read_config,
)

from services.codec import decode, encode
from services.wire import ErrorReply, Heartbeat, RejectReason, RiskState, TradingState

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]
SYM = "SOL_USDC_PERP"


async def wait(stack: Stack, predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    try:
        await async_wait_for(predicate, timeout_s, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


def start(run_dir: Path, emulator: Emulator, children: Children) -> Stack:
    emulator_control(emulator.rest_url, "taker", {"pause": True})
    stack = make_stack(run_dir, emulator, children)
    for name in ("md_gateway", "order_gateway", "strategy"):
        stack.start(name)
    return stack


@contextlib.asynccontextmanager
async def garbling_guardian(config: Path) -> AsyncIterator[list[list[bytes]]]:
    """The guardian's PUB, sending a valid ACTIVE state and heartbeat every 0.1 s, and any frames queued."""
    bus = bus_for(config, process="risk")
    sock = bus.socket(zmq.PUB)
    sock.bind(read_config(config).risk_endpoint)
    queued: list[list[bytes]] = []

    async def beat() -> None:
        seq = 0
        while True:
            for topic, msg in (
                ("rk.state", RiskState(state=TradingState.ACTIVE, reason="test guardian")),
                ("hb.risk", Heartbeat(process="risk", instance="garbler", loop_count=seq)),
            ):
                seq += 1
                now = time.time_ns()
                await sock.send_multipart(
                    [topic.encode(), encode(msg, seq=seq, ts=now, sent=now, src="risk:g")]
                )
            while queued:
                await sock.send_multipart(queued.pop(0))
            await asyncio.sleep(0.1)

    task = asyncio.create_task(beat())
    try:
        yield queued
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        bus.close()


async def test_malformed_bus_frames_are_counted_and_logged_and_every_process_keeps_working(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    stack = start(run_dir, emulator, children)
    async with garbling_guardian(stack.config) as queued:
        await wait(stack, lambda: quoting(emulator), 60, "quotes on both sides")
        before = {
            p: stack.metric(p, "mm_bus_dropped_total", reason="malformed")
            for p in ("strategy", "order_gateway")
        }
        for _ in range(3):
            queued.append([b"rk.state", b"\xc1 not msgpack"])
            queued.append([b"hb.risk"])
            queued.append([b"rk.state", b"a", b"b"])

        def counted() -> bool:
            return all(
                stack.metric(p, "mm_bus_dropped_total", reason="malformed") >= before[p] + 9 for p in before
            )

        await wait(stack, counted, 15, "every malformed frame counted by the strategy and the order gateway")
        # A malformed request on the order gateway's ROUTER is answered, counted and logged too.
        raw = bus_for(stack.config).socket(zmq.DEALER)
        raw.connect(read_config(stack.config).orders_endpoint)
        await raw.send_multipart([b"corr", b"\xc1 not msgpack"])
        corr, payload = await asyncio.wait_for(raw.recv_multipart(), 10)
        raw.close(linger=0)
        reply = decode(payload).body
        assert corr == b"corr" and isinstance(reply, ErrorReply) and reply.reason is RejectReason.MALFORMED
        assert (
            stack.metric("order_gateway", "mm_bus_dropped_total", reason="malformed")
            >= before["order_gateway"] + 10
        )
        for process in ("strategy", "order_gateway"):
            assert "dropped a malformed bus frame" in stack.log(process), stack.logs()
        assert "malformed request refused" in stack.log("order_gateway"), stack.logs()
        # Still trading: a price move is followed by new quotes.
        fair = float(emulator_control(emulator.rest_url, "price", {"symbol": SYM, "volatility": "0"})["fair"])
        emulator_control(emulator.rest_url, "price", {"symbol": SYM, "jump_to": f"{fair * 1.02:.2f}"})
        await wait(stack, lambda: quoting(emulator) and _quotes_near(emulator, fair * 1.02), 30, "requoted")
        assert stack.alive(), stack.logs()


async def test_malformed_exchange_payloads_are_counted_and_logged_and_every_process_keeps_working(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    stack = start(run_dir, emulator, children)
    async with FakeGuardian(stack.config):
        await wait(stack, lambda: quoting(emulator), 60, "quotes on both sides")
        emulator_control(emulator.rest_url, "faults", {"malformed_ws": True})
        # A move makes every stream speak: book, trades, marks and our own order updates.
        fair = float(emulator_control(emulator.rest_url, "price", {"symbol": SYM, "volatility": "0"})["fair"])
        emulator_control(emulator.rest_url, "price", {"symbol": SYM, "jump_to": f"{fair * 1.02:.2f}"})

        def counted(process: str) -> Callable[[], bool]:
            return lambda: stack.metric(process, "mm_venue_malformed_total", venue="backpack") > 0

        await wait(stack, counted("md_gateway"), 20, "malformed market data counted")
        await wait(stack, counted("order_gateway"), 20, "malformed order updates counted")
        for process in ("md_gateway", "order_gateway"):
            assert "malformed backpack" in stack.log(process), stack.logs()
        await wait(stack, lambda: quoting(emulator) and _quotes_near(emulator, fair * 1.02), 30, "requoted")
        assert stack.alive(), stack.logs()


def _quotes_near(emulator: Emulator, price: float) -> bool:
    prices = [float(o["price"]) for o in open_orders(emulator)]
    return bool(prices) and all(abs(p - price) < price * 0.005 for p in prices)
