"""A bus peer run as a separate process by the bus tests.

    python bus_peer.py publish RUN_DIR COUNT [--skip N]   COUNT BBOs on md, skipping N seq numbers halfway
    python bus_peer.py serve RUN_DIR [--slow-first S]      serve `orders` (ping/place/snapshot) until killed
    python bus_peer.py serve-tcp KEYS_DIR PORT             the same over tcp with CURVE
    python bus_peer.py service RUN_DIR METRICS_PORT        a Service "strategy" idling until SIGTERM

The server answers ``place`` with an ``OrderReply`` whose ``message`` counts how
many times the place handler really ran, so a test can prove it ran once.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from services.bus import Bus
from services.codec import Envelope, Message
from services.config import load_config
from services.endpoints import Endpoints
from services.reqrep import RequestServer
from services.service import Service
from services.wire import Bbo, OrderReply, Ping, Place, Pong


def bbo(i: int) -> Bbo:
    price = Decimal("150.00") + Decimal(i) / 100
    return Bbo(
        symbol="SOL_USDC_PERP",
        bid=price,
        bid_qty=Decimal("1.5"),
        ask=price + Decimal("0.01"),
        ask_qty=Decimal("2"),
        update_id=i,
    )


async def publish(run_dir: Path, count: int, skip: int) -> None:
    bus = Bus(Endpoints.in_run_dir(run_dir), process="md_gateway")
    pub = bus.publisher("md")
    print("READY", flush=True)
    await asyncio.sleep(0.5)  # let the subscriber's connection complete (PUB drops before that)
    for i in range(count):
        if skip and i == count // 2:
            pub.seq += skip
        pub.publish("md.bbo.SOL_USDC_PERP", bbo(i))
        if i % 100 == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(0.5)
    bus.close()


async def serve(bus: Bus, slow_first_s: float) -> None:
    runs = {"place": 0}

    async def handle(env: Envelope) -> Message:
        body = env.body
        if isinstance(body, Place):
            runs["place"] += 1
            if runs["place"] == 1 and slow_first_s:
                await asyncio.sleep(slow_first_s)
            return OrderReply(ok=True, message=f"runs={runs['place']}")
        if isinstance(body, Ping):
            return Pong(process="order_gateway")
        raise ValueError(f"unsupported request {body.TYPE}")

    server = RequestServer(bus, "orders", handle)
    print("READY", flush=True)
    await server.serve()


class IdleService(Service):
    process = "strategy"
    endpoint = "strategy"

    async def main(self) -> None:
        print("READY", flush=True)
        await asyncio.Event().wait()

    async def shutdown(self) -> None:
        await asyncio.sleep(0.2)
        print("SHUTDOWN", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["publish", "serve", "serve-tcp", "service"])
    parser.add_argument("path", type=Path)
    parser.add_argument("arg", nargs="?", default="0")
    parser.add_argument("--skip", type=int, default=0)
    parser.add_argument("--slow-first", type=float, default=0.0)
    args = parser.parse_args()
    if args.mode == "service":
        argv = [
            "--exchange",
            "backpack",
            "--symbol",
            "SOL_USDC_PERP",
            "--spread",
            "0.01",
            "--quantity",
            "0.1",
        ]
        cfg = load_config([*argv, "--run-dir", str(args.path)])
        raise SystemExit(IdleService(cfg, metrics_port=int(args.arg)).run())
    if args.mode == "publish":
        asyncio.run(publish(args.path, int(args.arg), args.skip))
    elif args.mode == "serve":
        asyncio.run(serve(Bus(Endpoints.in_run_dir(args.path), process="order_gateway"), args.slow_first))
    else:
        endpoints = replace(Endpoints.in_run_dir(Path("/nonexistent")), orders=f"tcp://127.0.0.1:{args.arg}")
        asyncio.run(serve(Bus(endpoints, process="order_gateway", keys_dir=args.path), args.slow_first))


if __name__ == "__main__":
    main()
