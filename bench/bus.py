"""Bus benchmark: PUB->SUB throughput of BBO envelopes and DEALER->ROUTER round trips, two processes, ipc.

    python -m bench.bus [--messages N] [--round-trips N] [--out FILE]

Throughput counts the whole path a market-data update takes: encode and send
in the publisher process, receive, decode and seq/age checks in the subscriber
process.  Targets on the 2-core machine: >= 100,000 msgs/s; round trip p50 <=
200 us and p99 <= 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.bus import Bus
from services.codec import Envelope, Message
from services.endpoints import Endpoints
from services.reqrep import RequestClient, RequestServer
from services.wire import Bbo, Ping, Pong

RESULTS = Path(__file__).with_name("results")
HWM = 1_000_000


def _bbo(i: int) -> Bbo:
    price = Decimal(15000 + i % 500) / 100
    return Bbo(
        symbol="SOL_USDC_PERP",
        bid=price,
        bid_qty=Decimal("12.5"),
        ask=price + Decimal("0.01"),
        ask_qty=Decimal("8.25"),
        update_id=i,
    )


async def _publisher(run_dir: Path, count: int) -> None:
    bus = Bus(Endpoints.in_run_dir(run_dir), process="md_gateway")
    pub = bus.publisher("md", sndhwm=HWM)
    messages = [_bbo(i) for i in range(1000)]
    print("READY", flush=True)
    sys.stdin.readline()  # the subscriber is connected
    for i in range(count):
        pub.publish("md.bbo.SOL_USDC_PERP", messages[i % 1000])
    await asyncio.sleep(1.0)
    bus.close()


async def _server(run_dir: Path) -> None:
    bus = Bus(Endpoints.in_run_dir(run_dir), process="order_gateway")

    async def handle(env: Envelope) -> Message:
        return Pong(process="order_gateway")

    server = RequestServer(bus, "orders", handle)
    print("READY", flush=True)
    await server.serve()


def _child(role: str, run_dir: Path, count: int = 0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.bus",
            "--role",
            role,
            "--run-dir",
            str(run_dir),
            "--messages",
            str(count),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    return proc


async def throughput(count: int) -> dict[str, float]:
    run_dir = Path(tempfile.mkdtemp(dir="/tmp", prefix="pmb"))
    proc = _child("publish", run_dir, count)
    bus = Bus(Endpoints.in_run_dir(run_dir), process="strategy")
    sub = bus.subscriber(["md"], ["md."], rcvhwm=HWM)
    await asyncio.sleep(0.3)
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    received = 0
    first = await sub.recv_batch()
    started = time.perf_counter()
    received += len(first)
    last = started
    while received + sub.gaps < count:
        try:
            batch = await asyncio.wait_for(sub.recv_batch(), 2.0)
        except TimeoutError:
            break
        received += len(batch)
        last = time.perf_counter()
    bus.close()
    proc.wait(timeout=10)
    elapsed = last - started
    return {
        "messages": count,
        "received": received,
        "gaps": sub.gaps,
        "seconds": round(elapsed, 4),
        "msgs_per_s": round((received - len(first)) / elapsed) if elapsed > 0 else 0.0,
    }


async def round_trips(count: int) -> dict[str, float]:
    run_dir = Path(tempfile.mkdtemp(dir="/tmp", prefix="pmb"))
    proc = _child("serve", run_dir)
    bus = Bus(Endpoints.in_run_dir(run_dir), process="strategy")
    client = RequestClient(bus, "orders")
    for _ in range(200):  # warm up connections and code paths
        await client.request(Ping(), timeout_s=2.0)
    samples = []
    for _ in range(count):
        t0 = time.perf_counter_ns()
        await client.request(Ping(), timeout_s=2.0)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    client.close()
    bus.close()
    proc.kill()
    proc.wait()
    samples.sort()
    return {
        "round_trips": count,
        "p50_us": round(statistics.median(samples), 1),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1], 1),
        "max_us": round(samples[-1], 1),
    }


def run(*, messages: int = 300_000, trips: int = 5000) -> dict[str, Any]:
    result = {
        "bench": "bus",
        "pub_sub": asyncio.run(throughput(messages)),
        "req_rep": asyncio.run(round_trips(trips)),
        "targets": {"msgs_per_s": 100_000, "p50_us": 200, "p99_us": 1000},
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bus", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--round-trips", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=RESULTS / "bus.json")
    parser.add_argument("--role", choices=["publish", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "publish":
        asyncio.run(_publisher(args.run_dir, args.messages))
        return
    if args.role == "serve":
        asyncio.run(_server(args.run_dir))
        return
    result = run(messages=args.messages, trips=args.round_trips)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    ps, rr = result["pub_sub"], result["req_rep"]
    print(f"bus pub->sub: {ps['msgs_per_s']:,} msgs/s ({ps['received']:,} of {ps['messages']:,} received)")
    print(f"bus req->rep: p50 {rr['p50_us']} us, p99 {rr['p99_us']} us")


if __name__ == "__main__":
    main()
