"""The real stack against the reference loop it replaces, on one emulator at 100 book updates a second.

    python -m bench.system [--window-s 60] [--jumps 5] [--interval 10] [--fast-interval 1] [--out FILE]

Two phases on the same emulator (default random walk and taker flow, the
depth stream held at >= 100 updates/s by ``POST /_emulator/book``), the
market reset to the same seed in between:

1. the four real processes (guardian, both gateways, strategy);
2. ``bench.reference_loop``: sleep ``--interval``, GET position, GET depth,
   cancel all, place both quotes (the seed's documented 10 s);
3. the same loop at ``--fast-interval`` (1 s), what the old design must spend
   in requests to come closer.

Both quote with the same settings (spread 0.05%, 0.1 a side, one layer).  Over
a window of ``--window-s`` with a jump of 0.5 in fair price every
window/jumps seconds, this measures per design: REST requests per minute (the
emulator's counters), CPU and resident memory per process (``/proc``), the
share of samples (every 50 ms) at which the resting quotes are exactly the
quoter's target for the book of that instant (the book without the design's
own orders, as the strategy prices), and the reaction to each jump
(from the jump to the emulator's creation time of the last order of the first
correct quotes after it).  Writes ``bench/results/system.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from services.config import Config, config_to_toml, load_config
from services.supervise import reap
from services.wire import Book, OrderStatus, OrderType, OrderUpdate, Side
from strategy.book import BookView
from strategy.quoter import plan_quotes, quote_params
from venues.emulator.catalog import select_markets

RESULTS = Path(__file__).with_name("results")
ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "SOL_USDC_PERP"
BOOK_UPDATES_PER_S = 100
JUMP = Decimal("0.5")
SAMPLE_S = 0.05
# The emulator's default market: random walk and taker flow on, the default request limit.
EMULATOR_ARGS = f"--venue backpack --port 0 --symbol {SYMBOL} --log-level WARNING".split()
# Placing or cancelling one order; every other path is polling (position, book, marks, balances,
# open orders) or a cancel-all.
ORDER_ENTRY_PATH = "/api/v1/order"
STACK = ("risk", "md_gateway", "order_gateway", "strategy")
SETTINGS = (
    f"--exchange backpack --symbol {SYMBOL} --sim --spread 0.05 --quantity 0.1 --max-orders 1 "
    "--target-position 0 --max-position 5 --position-threshold 2 --inventory-skew 0 --duration 3600 "
    "--md-metrics-port 0 --orders-metrics-port 0 --strategy-metrics-port 0 --risk-metrics-port 0 "
    "--log-level WARNING"
).split()
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Phase:
    """What one design did during the window."""

    correct: list[bool] = field(default_factory=list)
    reactions_ms: list[float] = field(default_factory=list)
    missed: int = 0
    depth_messages: int = 0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def market_top(market: dict[str, Any], account: dict[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    """The best bid and ask of the emulator's book without the account's own orders."""
    view = BookView()
    levels = {side: [(Decimal(p), Decimal(q)) for p, q in market[side]] for side in ("bids", "asks")}
    view.update(Book(symbol=SYMBOL, bids=levels["bids"], asks=levels["asks"]), ts_ns=0)
    own = [
        OrderUpdate(
            symbol=SYMBOL,
            order_id=o["order_id"],
            client_id=o["client_id"],
            side=Side(o["side"]),
            order_type=OrderType.LIMIT,
            price=Decimal(o["price"]),
            quantity=Decimal(o["quantity"]),
            filled_quantity=Decimal(o["filled_quantity"]),
            status=OrderStatus.NEW,
        )
        for o in account["open_orders"]
        if o["price"] is not None and o["quantity"] is not None
    ]
    return view.top(own)


def target_prices(
    top: tuple[Decimal | None, Decimal | None], position: Decimal, cfg: Config
) -> set[tuple[Side, Decimal]]:
    """The (side, price) of every quote the quoter wants for this best bid and ask and position."""
    bid, ask = top
    if bid is None or ask is None:
        return set()
    rules = select_markets([SYMBOL])[0].rules
    plan = plan_quotes(
        bid=bid,
        ask=ask,
        rules=rules,
        params=quote_params(cfg),
        position=position,
    )
    return {(layer.side, layer.price) for layer in plan.layers}


def resting_prices(account: dict[str, Any]) -> set[tuple[Side, Decimal]]:
    return {(Side(o["side"]), Decimal(o["price"])) for o in account["open_orders"] if o["price"] is not None}


class Bench:
    def __init__(self, tmp: Path, cfg: Config, config_path: Path) -> None:
        self.tmp, self.cfg, self.config_path = tmp, cfg, config_path
        accounts = tmp / "accounts.json"
        self.emulator = subprocess.Popen(
            [sys.executable, "-m", "venues.emulator", *EMULATOR_ARGS, "--write-accounts", str(accounts)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=(tmp / "emulator.log").open("wb"),
        )
        assert self.emulator.stdout is not None
        words = self.emulator.stdout.readline().decode().split()
        if len(words) != 3 or words[0] != "READY":
            self.emulator.kill()
            raise SystemExit(f"the emulator did not start: {(tmp / 'emulator.log').read_text()}")
        self.url, self.ws_url = words[1], words[2]
        self.key: str = json.loads(accounts.read_text())[0]["api_key"]
        secret: str = json.loads(accounts.read_text())[0]["secret"]
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PERP_MM_", "BACKPACK_", "RISK_"))}
        self.env = {
            **clean,
            "BACKPACK_API_URL": self.url,
            "BACKPACK_WS_URL": self.ws_url,
            "BACKPACK_API_KEY": self.key,
            "BACKPACK_SECRET_KEY": secret,
        }

    def start(self, name: str, module: str, *extra: str) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", module, "--config", str(self.config_path), *extra],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    async def state(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get("/_emulator/state") as answer:
            state: dict[str, Any] = await answer.json()
            return state

    async def control(self, http: aiohttp.ClientSession, action: str, body: dict[str, Any]) -> None:
        async with http.post(f"/_emulator/{action}", json=body) as answer:
            if answer.status != 200:
                raise SystemExit(f"emulator {action} refused: {await answer.text()}")

    async def phase(
        self,
        http: aiohttp.ClientSession,
        procs: dict[str, subprocess.Popen[bytes]],
        *,
        window_s: float,
        jumps: int,
        interval_s: float,
    ) -> dict[str, Any]:
        """Wait for two-sided quotes, then measure one window; the figures of this design."""
        deadline = time.monotonic() + 60
        while len(resting_prices((await self.state(http))["accounts"][self.key])) < 2:
            if time.monotonic() > deadline:
                raise SystemExit(f"no two-sided quotes within 60 s: logs in {self.tmp}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)
        pids = {name: proc.pid for name, proc in procs.items()} | {"emulator": self.emulator.pid}
        phase = Phase()
        counter = asyncio.create_task(self._count_depth(phase))
        cpu_before = {name: _cpu_s(pid) for name, pid in pids.items()}
        before = await self.state(http)
        started = time.monotonic()
        await self._sample(http, phase, window_s=window_s, jumps=jumps, interval_s=interval_s)
        elapsed_s = time.monotonic() - started
        after = await self.state(http)
        cpu_pct = {
            name: round(100 * (_cpu_s(pid) - cpu_before[name]) / elapsed_s, 1) for name, pid in pids.items()
        }
        counter.cancel()
        requests = {
            path: round((count - before["requests"]["by_path"].get(path, 0)) * 60 / elapsed_s, 1)
            for path, count in sorted(after["requests"]["by_path"].items())
        }
        return {
            "interval_s": interval_s,
            "window_s": round(elapsed_s, 1),
            "book_updates_per_s": round(phase.depth_messages / elapsed_s, 1),
            "rest_per_min": round(sum(requests.values()), 1),
            "rest_per_min_order_entry": requests.get(ORDER_ENTRY_PATH, 0.0),
            "rest_per_min_by_path": {p: n for p, n in requests.items() if n},
            "time_at_correct_price": round(sum(phase.correct) / max(1, len(phase.correct)), 4),
            "samples": len(phase.correct),
            "reaction_ms": _summary(phase.reactions_ms)
            | {"n": len(phase.reactions_ms), "missed": phase.missed},
            "cpu_pct": cpu_pct,
            "rss_mb": {name: _rss_mb(pid) for name, pid in pids.items()},
        }

    async def _count_depth(self, phase: Phase) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(self.ws_url) as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": [f"depth.{SYMBOL}"]})
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT and '"depth.' in message.data:
                    phase.depth_messages += 1

    async def _sample(
        self, http: aiohttp.ClientSession, phase: Phase, *, window_s: float, jumps: int, interval_s: float
    ) -> None:
        """Sample quotes every 50 ms; jump the price every window/jumps seconds and time the reaction."""
        spacing_s = window_s / jumps
        # Random phases against the reference's cycle (seeded: the same in every run), each jump
        # still far enough from the next for a reaction within one interval.
        rng = random.Random(jumps)
        slack_s = max(0.0, spacing_s - interval_s - 2.0)
        jump_at = [i * spacing_s + rng.uniform(0.0, slack_s) + 0.5 for i in range(jumps)]
        started = time.monotonic()
        next_jump_s, sign = started + jump_at.pop(0), 1
        pending: tuple[float, Decimal] | None = None  # (jump wall time ms, fair after it)
        while (now := time.monotonic()) < started + window_s:
            if now >= next_jump_s:
                if pending is not None:
                    phase.missed += 1
                fair = Decimal((await self.state(http))["markets"][SYMBOL]["fair"]).quantize(Decimal("0.01"))
                level = fair + sign * JUMP
                jumped_ms = time.time_ns() / 1e6
                await self.control(http, "price", {"symbol": SYMBOL, "jump_to": str(level)})
                pending, sign = (jumped_ms, level), -sign
                next_jump_s = started + jump_at.pop(0) if jump_at else float("inf")
            state = await self.state(http)
            account, market = state["accounts"][self.key], state["markets"][SYMBOL]
            held = account["positions"].get(SYMBOL)
            position = Decimal(held["quantity"]) if held else Decimal(0)
            top = market_top(market, account)
            want = target_prices(top, position, self.cfg)
            correct = bool(want) and resting_prices(account) == want
            phase.correct.append(correct)
            if pending is not None and correct:
                jumped_ms, level = pending
                mid = (top[0] + top[1]) / 2  # type: ignore[operator]  # correct: both sides are there
                created = [o["created_ms"] for o in account["open_orders"]]
                if abs(mid - level) < JUMP / 2 and min(created) >= jumped_ms:
                    phase.reactions_ms.append(max(created) - jumped_ms)
                    pending = None
            await asyncio.sleep(max(0.0, SAMPLE_S - (time.monotonic() - now)))
        if pending is not None:
            phase.missed += 1


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """One at a time, last started first: the strategy cancels through a gateway that is still up."""
    for proc in reversed(procs):
        reap(proc, timeout_s=20)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "mean": round(statistics.fmean(ordered), 1),
        "max": round(ordered[-1], 1),
    }


async def _measure(bench: Bench, *, window_s: float, jumps: int, fast_interval_s: float) -> dict[str, Any]:
    designs = [("system", bench.cfg.interval), ("reference", bench.cfg.interval)]
    if fast_interval_s > 0:
        designs.append(("reference_fast", fast_interval_s))
    result: dict[str, Any] = {}
    async with aiohttp.ClientSession(base_url=bench.url) as http:
        for design, interval_s in designs:
            await bench.control(http, "reset", {})
            await bench.control(http, "book", {"symbol": SYMBOL, "updates_per_s": BOOK_UPDATES_PER_S})
            if design == "system":
                procs = {name: bench.start(name, name) for name in STACK}
            else:
                loop = bench.start(design, "bench.reference_loop", "--interval", str(interval_s))
                procs = {"reference_loop": loop}
            try:
                result[design] = await bench.phase(
                    http, procs, window_s=window_s, jumps=jumps, interval_s=interval_s
                )
            finally:
                _stop(list(procs.values()))
    return result


def _ratios(system: dict[str, Any], reference: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    return {
        "reaction_p50_reference_over_system": ratio(
            reference["reaction_ms"].get("p50"), system["reaction_ms"].get("p50")
        ),
        "rest_per_min_system_over_reference": ratio(system["rest_per_min"], reference["rest_per_min"]),
        "time_at_correct_price_system_over_reference": ratio(
            system["time_at_correct_price"], reference["time_at_correct_price"]
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.system", description=__doc__.splitlines()[0])
    parser.add_argument("--window-s", type=float, default=60.0, help="measured seconds per design")
    parser.add_argument("--jumps", type=int, default=5, help="price jumps per window")
    parser.add_argument("--interval", type=float, default=10.0, help="the seed's --interval (both designs)")
    parser.add_argument(
        "--fast-interval", type=float, default=1.0, help="a second reference loop's interval; 0: none"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "system.json")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(dir="/tmp", prefix="pmb"))
    cfg = load_config(
        [
            *SETTINGS,
            "--interval",
            str(args.interval),
            "--run-dir",
            str(tmp / "r"),
            "--data-dir",
            str(tmp / "d"),
        ],
        env={},
    )
    config_path = tmp / "config.toml"
    config_path.write_text(config_to_toml(cfg))
    started = time.monotonic()
    bench = Bench(tmp, cfg, config_path)
    try:
        raw = asyncio.run(
            _measure(bench, window_s=args.window_s, jumps=args.jumps, fast_interval_s=args.fast_interval)
        )
    finally:
        _stop([bench.emulator])
    result = {
        "what": "real stack vs the polling reference loop, same emulator, same settings, "
        f">= {BOOK_UPDATES_PER_S} book updates/s, a {JUMP} price jump every {args.window_s / args.jumps:g} s",
        "interval_s": args.interval,
        **raw,
        "ratios": _ratios(raw["system"], raw["reference"]),
        **({"ratios_fast": _ratios(raw["system"], raw["reference_fast"])} if "reference_fast" in raw else {}),
        "run_s": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    if all(raw[d]["reaction_ms"]["n"] for d in raw):
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"wrote {args.out}")
        return 0
    print(f"wrote {args.out}; a design never reacted to a jump: logs in {tmp}", file=sys.stderr)
    return 1


def print_table(result: dict[str, Any]) -> None:
    designs = [d for d in ("system", "reference", "reference_fast") if d in result]
    rows = (
        ("loop interval (s)", lambda r: r["interval_s"]),
        ("reaction to a price jump, p50 (ms)", lambda r: r["reaction_ms"].get("p50")),
        ("REST requests per minute", lambda r: r["rest_per_min"]),
        ("  of which placing/cancelling one order", lambda r: r["rest_per_min_order_entry"]),
        ("time at the correct price", lambda r: r["time_at_correct_price"]),
        ("book updates per second", lambda r: r["book_updates_per_s"]),
    )
    print(f"{'':<42}" + "".join(f"{d:>16}" for d in designs))
    for label, pick in rows:
        print(f"{label:<42}" + "".join(f"{pick(result[d])!s:>16}" for d in designs))
    for design in designs:
        procs = result[design]["cpu_pct"]
        cells = ", ".join(f"{n} {procs[n]}% {result[design]['rss_mb'][n]} MB" for n in procs)
        print(f"{design} CPU and RSS: {cells}")


if __name__ == "__main__":
    sys.exit(main())
