"""Stand-ins the guardian tests run as separate processes (so they can be stopped with SIGSTOP).

    python risk_peer.py strategy CONFIG   hb.strategy heartbeats on the strategy endpoint every 0.2 s
    python risk_peer.py md CONFIG         a live md.status on the md endpoint every 0.2 s

Both run until SIGTERM or SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

from services.bus import Bus
from services.config import load_config
from services.service import endpoints_of
from services.wire import FeedState, Heartbeat, MdStatus

INTERVAL_S = 0.2


async def publish(kind: str, config: str) -> None:
    cfg = load_config(["--config", config], env={})
    process, endpoint = ("strategy", "strategy") if kind == "strategy" else ("md_gateway", "md")
    bus = Bus(endpoints_of(cfg), process=process, keys_dir=cfg.keys_dir)
    publisher = bus.publisher(endpoint)
    try:
        for loop_count in itertools.count(1):
            if kind == "strategy":
                beat = Heartbeat(process=process, instance=bus.instance, loop_count=loop_count)
                publisher.publish("hb.strategy", beat)
            else:
                publisher.publish("md.status", MdStatus(state=FeedState.LIVE, symbol=cfg.symbol))
            await asyncio.sleep(INTERVAL_S)
    finally:
        bus.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("strategy", "md"))
    parser.add_argument("config")
    args = parser.parse_args()
    asyncio.run(publish(args.kind, args.config))


if __name__ == "__main__":
    main()
