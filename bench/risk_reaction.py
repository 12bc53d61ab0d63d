"""Guardian reaction times at the emulator: stop-loss with the bus and by polling alone; hang to cancel-all.

    python -m bench.risk_reaction [--trials 15] [--hangs 5] [--out FILE]

- stop-loss, bus: the guardian (``python -m risk``) with the real md_gateway
  feeding it prices; a 1 SOL long is opened at the mark (POST
  /_emulator/position) and the price jumps 10 below (stop-loss -5).  Measured:
  from just before the jump request to the guardian's closing fill at the
  emulator (the fill's exchange time).
- stop-loss, poll: the same move with ``python -m risk watch`` alone (its own
  REST poll every 1 s, no bus).
- hang: a fake strategy heartbeat publisher (its own process) is SIGSTOPped
  with three orders resting; measured: until the emulator shows none (the
  hang timeout, 1.5 s, is included).

Both clocks are this machine's.  Writes ``bench/results/risk_reaction.json``
and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from risk.control import ControlError, send_command
from services.bus import Bus
from services.config import Config, config_to_toml, load_config
from services.service import endpoints_of
from services.supervise import reap
from services.wire import Heartbeat, OrderType, Place, Side, TradingState
from venues.backpack.venue import BackpackVenue

RESULTS = Path(__file__).with_name("results")
ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "SOL_USDC_PERP"
DROP = Decimal(10)
EMULATOR_ARGS = f"--venue backpack --port 0 --symbol {SYMBOL} --rate-limit-per-min 0 --taker-rate 0".split()
SETTINGS = (
    f"--exchange backpack --symbol {SYMBOL} --spread 0.05 --quantity 0.1 --max-position 5 "
    "--stop-loss -5 --hang-timeout 1.5 --md-stale 5 --md-metrics-port 0 --orders-metrics-port 0 "
    "--strategy-metrics-port 0 --risk-metrics-port 0 --log-level WARNING"
).split()
# Long enough for the guardian's 1 s poll to have seen a position set behind its back.
SEEN_S = 1.2
CLOSE_TIMEOUT_S = 5.0


class Emulator:
    """The emulator as a subprocess, its control API and the first account."""

    def __init__(self, tmp: Path) -> None:
        accounts = tmp / "accounts.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "venues.emulator", *EMULATOR_ARGS, "--write-accounts", str(accounts)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=(tmp / "emulator.log").open("wb"),
        )
        assert self.proc.stdout is not None
        words = self.proc.stdout.readline().decode().split()
        if len(words) != 3 or words[0] != "READY":
            self.proc.kill()
            raise SystemExit(f"the emulator did not start: {(tmp / 'emulator.log').read_text()}")
        self.url, self.ws_url = words[1], words[2]
        self.account: dict[str, str] = json.loads(accounts.read_text())[0]

    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PERP_MM_", "BACKPACK_", "RISK_"))}
        return {
            **clean,
            "BACKPACK_API_URL": self.url,
            "BACKPACK_WS_URL": self.ws_url,
            "BACKPACK_API_KEY": self.account["api_key"],
            "BACKPACK_SECRET_KEY": self.account["secret"],
        }

    async def state(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get("/_emulator/state") as answer:
            state: dict[str, Any] = await answer.json()
            return state

    async def mine(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        account: dict[str, Any] = (await self.state(http))["accounts"][self.account["api_key"]]
        return account

    async def control(self, http: aiohttp.ClientSession, action: str, body: dict[str, Any]) -> None:
        async with http.post(f"/_emulator/{action}", json=body) as answer:
            if answer.status != 200:
                raise SystemExit(f"emulator {action} refused: {await answer.text()}")


def _start(name: str, args: list[str], tmp: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (tmp / f"{name}.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
        )


async def _until(check: Callable[[], Awaitable[Any]], timeout_s: float, *, interval_s: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(interval_s)
    return None


async def stop_loss_trials(emu: Emulator, http: aiohttp.ClientSession, trials: int) -> dict[str, Any]:
    """Jump through the stop-loss ``trials`` times; ms from the jump to the closing fill."""
    key = emu.account["api_key"]
    rng = random.Random(trials)
    latencies_ms: list[float] = []
    missed = 0
    for _ in range(trials):
        base = Decimal((await emu.state(http))["markets"][SYMBOL]["mark"])
        fills_before = len((await emu.mine(http))["fills"])
        body = {"api_key": key, "symbol": SYMBOL, "quantity": "1", "entry_price": str(base)}
        await emu.control(http, "position", body)
        # A random phase against the guardian's poll, or every trial would hit it at the same point.
        await asyncio.sleep(SEEN_S + rng.uniform(0.0, 1.0))
        jumped_ms = time.time_ns() / 1e6
        await emu.control(http, "price", {"symbol": SYMBOL, "jump_to": str(base - DROP)})

        fill = await _until(functools.partial(_closing_fill, emu, http, fills_before), CLOSE_TIMEOUT_S)
        if fill is None:
            missed += 1
        else:
            latencies_ms.append(fill["ts_ms"] - jumped_ms)
        await emu.control(http, "position", {"api_key": key, "symbol": SYMBOL, "quantity": "0"})
        await emu.control(http, "price", {"symbol": SYMBOL, "jump_to": str(base)})
        await asyncio.sleep(0.3)
    return {"latencies_ms": latencies_ms, "missed": missed}


async def _closing_fill(
    emu: Emulator, http: aiohttp.ClientSession, fills_before: int
) -> dict[str, Any] | None:
    """The newest fill once the position is flat again (None before)."""
    account = await emu.mine(http)
    held = account["positions"].get(SYMBOL)
    fills = account["fills"][fills_before:]
    flat = held is None or Decimal(held["quantity"]) == 0
    return fills[-1] if flat and fills else None


async def _rest_orders(emu: Emulator, price: Decimal, ids: itertools.count[int]) -> None:
    venue = BackpackVenue(
        api_url=emu.url, ws_url=emu.ws_url, api_key=emu.account["api_key"], secret=emu.account["secret"]
    )
    try:
        for i in range(3):
            order = Place(
                client_id=next(ids),
                symbol=SYMBOL,
                side=Side.BUY,
                quantity=Decimal("0.1"),
                price=price - i,
                order_type=OrderType.LIMIT,
                post_only=True,
            )
            await venue.place_order(order)
    finally:
        await venue.close()


async def _active(cfg: Config, timeout_s: float) -> bool:
    async def check() -> bool:
        try:
            return (await send_command(cfg, "status", timeout_s=0.5)).state is TradingState.ACTIVE
        except ControlError:
            return False

    return bool(await _until(check, timeout_s, interval_s=0.1))


async def hang_trials(
    emu: Emulator, http: aiohttp.ClientSession, cfg: Config, peer: subprocess.Popen[bytes], hangs: int
) -> dict[str, Any]:
    """SIGSTOP the fake strategy ``hangs`` times; ms until the emulator shows no open order."""
    latencies_ms: list[float] = []
    missed = 0
    ids = itertools.count(10_000)
    for _ in range(hangs):
        if not await _active(cfg, 30.0):
            raise SystemExit("the guardian did not become ACTIVE: see risk.log in the run dir")
        mark = Decimal((await emu.state(http))["markets"][SYMBOL]["mark"])
        await _rest_orders(emu, (mark * Decimal("0.8")).quantize(Decimal("0.01")), ids)
        os.kill(peer.pid, signal.SIGSTOP)
        stopped = time.monotonic()

        async def none_open() -> bool:
            return not (await emu.mine(http))["open_orders"]

        if await _until(none_open, 10.0):
            latencies_ms.append((time.monotonic() - stopped) * 1000)
        else:
            missed += 1
        os.kill(peer.pid, signal.SIGCONT)
    return {"latencies_ms": latencies_ms, "missed": missed}


async def _measure(emu: Emulator, tmp: Path, config: Path, *, trials: int, hangs: int) -> dict[str, Any]:
    cfg = load_config(["--config", str(config)], env={})
    env = emu.env()
    result: dict[str, Any] = {}
    async with aiohttp.ClientSession(base_url=emu.url) as http:
        children = [
            _start("md_gateway", ["md_gateway", "--config", str(config)], tmp, env),
            _start("peer", ["bench.risk_reaction", "--peer", str(config)], tmp, env),
            _start("risk", ["risk", "--config", str(config)], tmp, env),
        ]
        try:
            if not await _active(cfg, 60.0):
                raise SystemExit(f"the guardian did not become ACTIVE: see {tmp / 'risk.log'}")
            result["stop_loss_bus"] = await stop_loss_trials(emu, http, trials)
            result["hang_to_cancel_all"] = await hang_trials(emu, http, cfg, children[1], hangs)
        finally:
            _stop(children)
        watch = _start("watch", ["risk", "watch", "--config", str(config)], tmp, env)
        try:
            await asyncio.sleep(1.0)
            result["stop_loss_poll"] = await stop_loss_trials(emu, http, trials)
        finally:
            _stop([watch])
    return result


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Last started first; a process left stopped (SIGSTOP) is continued so it can exit."""
    for proc in reversed(procs):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        reap(proc, timeout_s=10)


async def _peer(config: str) -> None:
    """The fake strategy: a heartbeat on ``hb.strategy`` every 0.2 s, as a real strategy's loop sends."""
    cfg = load_config(["--config", config], env={})
    bus = Bus(endpoints_of(cfg), process="strategy")
    publisher = bus.publisher("strategy")
    try:
        for loop_count in itertools.count(1):
            beat = Heartbeat(process="strategy", instance=bus.instance, loop_count=loop_count)
            publisher.publish("hb.strategy", beat)
            await asyncio.sleep(0.2)
    finally:
        bus.close()


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)

    return {"p50": pick(0.5), "p99": pick(0.99), "mean": round(statistics.fmean(values), 1), "max": pick(1.0)}


def main(argv: list[str] | None = None) -> int:
    description = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m bench.risk_reaction", description=description)
    parser.add_argument("--trials", type=int, default=15, help="stop-loss moves per mode")
    parser.add_argument("--hangs", type=int, default=5, help="strategy SIGSTOPs")
    parser.add_argument("--out", type=Path, default=RESULTS / "risk_reaction.json")
    parser.add_argument("--peer", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        asyncio.run(_peer(args.peer))
        return 0
    tmp = Path(tempfile.mkdtemp(dir="/tmp", prefix="pmb"))
    emu = Emulator(tmp)
    config = tmp / "config.toml"
    cfg = load_config([*SETTINGS, "--run-dir", str(tmp / "r"), "--data-dir", str(tmp / "d")], env={})
    config.write_text(config_to_toml(cfg))
    started = time.monotonic()
    try:
        raw = asyncio.run(_measure(emu, tmp, config, trials=args.trials, hangs=args.hangs))
    finally:
        _stop([emu.proc])
    result = {
        name: {**_summary(data["latencies_ms"]), "n": len(data["latencies_ms"]), "missed": data["missed"]}
        for name, data in raw.items()
    }
    result["seconds"] = {"total": round(time.monotonic() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'guardian reaction (ms)':<34}{'p50':>9}{'p99':>9}{'max':>9}{'n':>5}{'missed':>8}")
    for name, label in (
        ("stop_loss_bus", "stop-loss, jump to close (bus)"),
        ("stop_loss_poll", "stop-loss, jump to close (poll)"),
        ("hang_to_cancel_all", "SIGSTOP to cancel-all (1.5 s limit)"),
    ):
        row = result[name]
        cells = "".join(f"{row.get(k, float('nan')):>9.1f}" for k in ("p50", "p99", "max"))
        print(f"{label:<34}{cells}{row['n']:>5}{row['missed']:>8}")
    print(f"wrote {args.out} ({result['seconds']['total']} s; logs in {tmp})")
    return 0 if all(result[name]["missed"] == 0 for name in raw) else 1


if __name__ == "__main__":
    sys.exit(main())
