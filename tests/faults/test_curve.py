"""Real gateways on tcp:// with CURVE keys: a peer with the right keys is served, a stranger gets nothing.

The socket-level proof is tests/integration/test_bus.py; here the servers are
the real md_gateway and order_gateway processes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from faultstack import make_stack
from harness import Children, Emulator, FakeGuardian, free_ports, read_config, wait_connected

from services.bus import Bus
from services.config_checks import ENDPOINT_NAMES
from services.endpoints import Endpoints
from services.keys import generate
from services.reqrep import RequestClient, RequestTimeout
from services.service import endpoints_of
from services.wire import Ping, Pong

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(90)]


async def nothing_within(sock: zmq.asyncio.Socket, timeout_s: float) -> bool:
    """True when no frame arrives on ``sock`` within ``timeout_s``."""
    return await sock.poll(int(timeout_s * 1000)) == 0


async def test_a_stranger_without_the_curve_key_gets_nothing_from_real_processes(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    keys = run_dir / "keys"
    generate(keys)
    endpoints = {
        f"{name}_endpoint": f"tcp://127.0.0.1:{port}"
        for name, port in zip(ENDPOINT_NAMES, free_ports(len(ENDPOINT_NAMES)), strict=True)
    }
    stack = make_stack(run_dir, emulator, children, keys_dir=str(keys), **endpoints)
    cfg = read_config(stack.config)
    known: Endpoints = endpoints_of(cfg)
    # A stranger knows the servers' public keys (they are public) but its own key was never admitted.
    stranger_keys = run_dir / "stranger"
    generate(stranger_keys)
    for server in ("md_gateway", "order_gateway"):
        (stranger_keys / f"{server}.key").write_bytes((keys / f"{server}.key").read_bytes())
    friend = Bus(known, process="strategy", keys_dir=keys)
    stranger = Bus(known, process="strategy", keys_dir=stranger_keys)
    plain = zmq.asyncio.Context()
    try:
        async with FakeGuardian(stack.config):
            stack.start("md_gateway")
            stack.start("order_gateway")
            friend_md = friend.subscriber(["md"], ["md."], max_age_s=None)
            friend_exec = friend.subscriber(["exec"], ["ex."], max_age_s=None)
            await wait_connected(friend_md, timeout_s=30)
            await wait_connected(friend_exec, timeout_s=30)
            client = RequestClient(friend, "orders")
            pong = await client.request(Ping(), timeout_s=10, retries=2)
            client.close()
            assert isinstance(pong, Pong) and pong.process == "order_gateway"

            stranger_md = stranger.subscriber(["md"], ["md."], max_age_s=None)
            stranger_exec = stranger.subscriber(["exec"], ["ex."], max_age_s=None)
            bare = plain.socket(zmq.SUB)
            bare.linger = 0
            bare.setsockopt(zmq.SUBSCRIBE, b"")
            bare.connect(cfg.md_endpoint)
            heard = await asyncio.gather(
                asyncio.wait_for(stranger_md.recv(), 3.0),
                asyncio.wait_for(stranger_exec.recv(), 3.0),
                return_exceptions=True,
            )
            assert all(isinstance(got, TimeoutError) for got in heard), heard
            assert await nothing_within(bare, 0.5)
            bare.close()
            intruder = RequestClient(stranger, "orders")
            with pytest.raises(RequestTimeout):
                await intruder.request(Ping(), timeout_s=1.0, retries=1)
            intruder.close()
            # Meanwhile the admitted peer is served all along.
            await asyncio.wait_for(friend_md.recv(), 5)
            await asyncio.wait_for(friend_exec.recv(), 5)
            assert stack.alive(), stack.logs()
    finally:
        friend.close()
        stranger.close()
        plain.term()
