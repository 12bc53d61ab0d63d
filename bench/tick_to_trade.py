"""Tick to trade: the emulator moves the book; how long until the strategy's new order is at the exchange.

    python -m bench.tick_to_trade [--moves 500] [--step 0.05] [--pace-s 0.2] [--no-pin] [--out FILE]

Runs the emulator (random walk and taker flow paused, no request limit) and the
four real processes (guardian, both gateways, strategy with one layer a side).
Each move jumps the fair price up or down by ``--step`` (POST /_emulator/price
jump_to, with ``after_ms``: the jump comes 20 ms after the answer, so this
process is asleep when the book moves) and the emulator's book follows at
once.  The default, 5 ticks, is less than the book's half spread: the market
moves without trading against our quotes, so the strategy answers the book.  A larger step also fills a quote,
and the strategy then answers the fill first.  Per move, on the bus:

- tick: the exchange event time of the first ``md.bbo`` after the jump
  (Backpack's event times are microseconds);
- arrival (``tick_to_trade_ms``): when the first new order, at a price none of
  our orders rested at before the move, reached the emulator: the earliest
  ``received_ns`` of the new orders in ``GET /_emulator/state``, stamped as
  the emulator starts handling the request (``venues.emulator.arrival``);
- acceptance (``tick_to_accept_ms``): the ``ex.order`` envelope time of the
  first new order on the bus: the venue's acceptance event time from the
  private stream, or the gateway's receipt of the REST acknowledgement when
  that comes first.  It adds the emulator's own work (the cancel ahead of the
  order, authentication, matching) to the arrival.

Both clocks are this machine's.  The path measured is md_gateway, strategy
(the new quotes go out with the cancels of the old ones when they cannot cross
them) and order_gateway to the exchange.

CPUs: on a machine with two or more, the order gateway runs on the second
CPU and the strategy on the first (``--orders-cpus``, ``--strategy-cpus``, as
a trader would set them), and so does the emulator (its ``--cpus``); md_gateway
and the guardian go anywhere.  Unpinned, the scheduler often wakes a process
on the CPU of the one that woke it, behind it, while the other CPU idles: the
emulator behind the order gateway that just sent it the cancel, or the
strategy's ZeroMQ I/O thread, still holding the new orders, behind the order
gateway busy with the cancel.  ``--no-pin`` measures that.

The first new order is sometimes gone by the time the state is read (a later
requote replaced it), and the stamps left are later ones; its acceptance on
the bus bounds its arrival, so a move counts the earlier of the two
(``arrival_bounded_by_acceptance`` says how often that was the acceptance).
Writes ``bench/results/tick_to_trade.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from services.affinity import CPU_SETTINGS, available_cpus
from services.bus import Bus, Subscriber
from services.config import config_to_toml, load_config
from services.config_checks import flag
from services.service import endpoints_of
from services.supervise import reap
from services.wire import Bbo, OrderStatus, OrderUpdate

RESULTS = Path(__file__).with_name("results")
ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "SOL_USDC_PERP"
PROCESSES = ("risk", "md_gateway", "order_gateway", "strategy")
MOVE_TIMEOUT_S = 3.0
DRAIN_S = 0.02
SETTLE_S = 0.05
JUMP_AFTER_MS = 20
# The book moves only when the benchmark moves it, and the emulator never rate-limits.
EMULATOR_ARGS = f"--venue backpack --port 0 --symbol {SYMBOL} --rate-limit-per-min 0 --taker-rate 0".split()
PROCESS_ARGS = (
    f"--exchange backpack --symbol {SYMBOL} --sim --spread 0.05 --quantity 0.1 --max-orders 1 "
    "--max-position 5 --position-threshold 1 --interval 3600 --duration 3600 --order-rate-limit 1000 "
    "--md-stale 60 --hang-timeout 5 --md-metrics-port 0 --orders-metrics-port 0 "
    "--strategy-metrics-port 0 --risk-metrics-port 0 --log-level WARNING"
).split()


def _pinning(wanted: bool) -> dict[str, str]:
    """CPU lists: the order gateway on a CPU of its own, the strategy and the emulator on another.

    Empty when unwanted or on one CPU.
    """
    cpus = sorted(available_cpus())
    if not wanted or len(cpus) < 2:
        return {}
    return {"emulator": str(cpus[0]), "strategy": str(cpus[0]), "order_gateway": str(cpus[1])}


def _start_emulator(tmp: Path, cpus: str | None) -> tuple[subprocess.Popen[bytes], str, dict[str, Any]]:
    accounts = tmp / "accounts.json"
    pin = ["--cpus", cpus] if cpus is not None else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "venues.emulator", *EMULATOR_ARGS, *pin, "--write-accounts", str(accounts)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(tmp / "emulator.log").open("wb"),
    )
    assert proc.stdout is not None
    words = proc.stdout.readline().decode().split()
    if len(words) != 3 or words[0] != "READY":
        proc.kill()
        raise SystemExit(f"the emulator did not start: {(tmp / 'emulator.log').read_text()}")
    return proc, words[1], json.loads(accounts.read_text())[0]


def _config(tmp: Path, pinned: dict[str, str]) -> Path:
    pin = [
        arg
        for process, cpus in pinned.items()
        if process in CPU_SETTINGS
        for arg in (flag(CPU_SETTINGS[process]), cpus)
    ]
    cfg = load_config(
        [*PROCESS_ARGS, *pin, "--run-dir", str(tmp / "r"), "--data-dir", str(tmp / "d")],
        env={},
    )
    path = tmp / "config.toml"
    path.write_text(config_to_toml(cfg))
    return path


async def _first(sub: Subscriber, timeout_s: float, *wants: Any, seen: Any) -> list[Any]:
    """For each of ``wants``, the first received message (``Received``) it is true of; None on timeout.

    The streams are separate publishers: the order can arrive before the tick.
    ``seen`` is called with every message received.
    """
    found: list[Any] = [None] * len(wants)
    deadline = time.monotonic() + timeout_s
    while None in found and (left := deadline - time.monotonic()) > 0:
        try:
            item = await asyncio.wait_for(sub.recv(), left)
        except TimeoutError:
            break
        seen(item)
        for i, want in enumerate(wants):
            if found[i] is None and want(item):
                found[i] = item
    return found


async def _measure(
    url: str, config_path: Path, *, moves: int, step: Decimal, pace_s: float
) -> dict[str, Any]:
    cfg = load_config(["--config", str(config_path)], env={})
    bus = Bus(endpoints_of(cfg), process="bench")
    sub = bus.subscriber(["md", "exec"], [f"md.bbo.{SYMBOL}", f"ex.order.{SYMBOL}"], conflate_prefixes=())
    latencies_ms: list[float] = []
    accepts_ms: list[float] = []
    md_legs_ms: list[float] = []
    missed = bounded = 0
    try:
        async with aiohttp.ClientSession(base_url=url) as http:
            await http.post("/_emulator/taker", json={"symbol": SYMBOL, "pause": True})

            open_prices: dict[str, Decimal | None] = {}

            def track(item: Any) -> None:
                body = item.body
                if isinstance(body, OrderUpdate):
                    if body.status.is_open:
                        open_prices[body.order_id] = body.price
                    else:
                        open_prices.pop(body.order_id, None)

            def quote_new(item: Any) -> bool:
                return isinstance(item.body, OrderUpdate) and item.body.status is OrderStatus.NEW

            if (await _first(sub, 60.0, quote_new, seen=track))[0] is None:
                raise SystemExit("the strategy placed no quote within 60 s: see the logs in the run dir")
            async with http.get("/_emulator/state") as answer:
                base = Decimal((await answer.json())["markets"][SYMBOL]["fair"]).quantize(Decimal("0.01"))
            for i in range(moves):
                started = time.monotonic()
                level = base + step if i % 2 == 0 else base
                await _first(sub, DRAIN_S, lambda _: False, seen=track)  # what the last move still sent
                before = set(open_prices.values())
                posted_ns = time.time_ns()
                jump = {"symbol": SYMBOL, "jump_to": str(level), "after_ms": JUMP_AFTER_MS}
                async with http.post("/_emulator/price", json=jump):
                    pass
                # The messages carry their own times: reading them later keeps this process off the
                # two cores while the system under test reacts.
                await asyncio.sleep(SETTLE_S)
                tick, order = await _first(
                    sub,
                    MOVE_TIMEOUT_S,
                    lambda r, after=posted_ns: isinstance(r.body, Bbo) and r.env.ts >= after,
                    lambda r, old=before: quote_new(r) and r.body.price not in old,
                    seen=track,
                )
                arrived_ns = await _arrival(http, before) if order is not None else None
                if tick is None or order is None or arrived_ns is None:
                    missed += 1
                else:
                    if order.env.ts < arrived_ns:
                        bounded += 1
                    latencies_ms.append((min(arrived_ns, order.env.ts) - tick.env.ts) / 1e6)
                    accepts_ms.append((order.env.ts - tick.env.ts) / 1e6)
                    md_legs_ms.append((tick.env.sent - tick.env.ts) / 1e6)
                await asyncio.sleep(max(0.0, pace_s - (time.monotonic() - started)))
    finally:
        bus.close()
    return {
        "latencies_ms": latencies_ms,
        "accepts_ms": accepts_ms,
        "md_legs_ms": md_legs_ms,
        "missed": missed,
        "bounded": bounded,
    }


async def _arrival(http: aiohttp.ClientSession, before: set[Decimal | None]) -> int | None:
    """When the first of our orders resting at a price new since the move reached the emulator."""
    async with http.get("/_emulator/state") as answer:
        state = await answer.json()
    stamps = [
        order["received_ns"]
        for account in state["accounts"].values()
        for order in account["open_orders"]
        if order["received_ns"] is not None and Decimal(order["price"]) not in before
    ]
    return min(stamps, default=None)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(_percentile(values, 0.50), 3),
        "p90": round(_percentile(values, 0.90), 3),
        "p99": round(_percentile(values, 0.99), 3),
        "mean": round(statistics.fmean(values), 3),
        "max": round(max(values), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tick_to_trade", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--moves", type=int, default=500)
    parser.add_argument(
        "--step", type=Decimal, default=Decimal("0.05"), help="size of each move of the fair price"
    )
    parser.add_argument(
        "--pace-s",
        type=float,
        default=0.2,
        help="seconds between moves (4 venue calls each: under the gateway's 25/s)",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place every process (default: the strategy and the emulator on the first "
        "CPU, the order gateway on the second)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "tick_to_trade.json")
    args = parser.parse_args(argv)
    pinned = _pinning(args.pin)
    tmp = Path(tempfile.mkdtemp(dir="/tmp", prefix="pmb"))
    emulator, url, account = _start_emulator(tmp, pinned.get("emulator"))
    config_path = _config(tmp, pinned)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PERP_MM_", "BACKPACK_", "RISK_"))},
        "BACKPACK_API_URL": url,
        "BACKPACK_WS_URL": url.replace("http://", "ws://") + "/",
        "BACKPACK_API_KEY": account["api_key"],
        "BACKPACK_SECRET_KEY": account["secret"],
    }
    children = []
    started = time.monotonic()
    try:
        for name in PROCESSES:
            with (tmp / f"{name}.log").open("wb") as log_file:
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-m", name, "--config", str(config_path)],
                        cwd=ROOT,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )
        raw = asyncio.run(_measure(url, config_path, moves=args.moves, step=args.step, pace_s=args.pace_s))
    finally:
        # One at a time, strategy first: it cancels its orders through a gateway that is still up.
        for proc in [*reversed(children), emulator]:
            reap(proc, timeout_s=20)
    if not raw["latencies_ms"]:
        print(f"no move was measured; logs in {tmp}", file=sys.stderr)
        return 1
    result = {
        "what": "exchange event time of the book move to the strategy's new order reaching the exchange (ms)",
        "moves": args.moves,
        "measured": len(raw["latencies_ms"]),
        "missed": raw["missed"],
        "arrival_bounded_by_acceptance": raw["bounded"],
        "tick_to_trade_ms": _summary(raw["latencies_ms"]),
        "tick_to_accept_ms": _summary(raw["accepts_ms"]),
        "md_leg_ms": _summary(raw["md_legs_ms"]),
        "step": str(args.step),
        "setup": "emulator on loopback, ipc bus, 1 layer a side: cancel 2 and place 2 per move",
        "cpus_pinned": pinned or None,
        "run_s": round(time.monotonic() - started, 1),
    }
    shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'':<24}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}  (ms, {result['measured']} moves)")
    for name in ("tick_to_trade_ms", "tick_to_accept_ms", "md_leg_ms"):
        row = result[name]
        print(f"{name:<24}{row['p50']:>9.2f}{row['p90']:>9.2f}{row['p99']:>9.2f}{row['max']:>9.2f}")
    print(f"missed {result['missed']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
