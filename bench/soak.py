"""Soak: the whole stack (``run.py``) on the emulator in a volatile market, one run per venue at once.

    python -m bench.soak [--seconds 600] [--venue backpack --venue aster --venue paradex]

Each venue gets its own emulator (random walk at ``VOLATILITY``, house takers,
funding settled every ``FUNDING_INTERVAL_S``) and its own ``run.py`` (no
``--sim``: the emulator must outlive the run to be read).  While it runs the
market trends up and down and the funding rate changes sign.  At the end the
checks are: the PnL the order gateway's journal proves equals the emulator's
books to the cent (realized, fees, funding, collateral, position, unrealized at
the last mark), no order is open on the venue or in the journal, every
process's RSS grew less than ``MAX_RSS_GROWTH`` from the steady baseline to the
strategy's last moment of work (and none was restarted), and no process logged
an error.  Every wait is for an event (a program RUNNING, the strategy's logged
start and end, the account's orders and fills on the venue, run.py's exit
within the stop protocol's bound), so a loaded machine measures the same run.
Results go to ``bench/results/soak.json``; tests/faults/test_soak.py runs the
short version.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.soak_checks import (
    MAX_RSS_GROWTH,
    Emulator,
    journal_problems,
    log_problems,
    read_rss_kb,
    rss_problems,
    stop_bound_s,
)
from services.config import load_config
from services.supervise import PROGRAMS, SOCKET_NAME, LogWatch, Supervisor, SupervisorError, log_pattern
from strategy.runner import RUN_ENDED_LOG, RUN_STARTED_LOG
from venues.emulator.launch import sim_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "soak.json"
SECONDS_VAR = "PERP_MM_SOAK_SECONDS"
DEFAULT_SECONDS = 600.0
VOLATILITY = "0.0005"  # fair's relative move per sqrt(second): about 1% in 5 minutes
FUNDING_INTERVAL_S = 15
TAKER_RATE_PER_S = 4
# The market trends one way for a leg, then the other; the move per second is this share of fair.
TREND_LEG_S = 10.0
TREND_SHARE_PER_S = Decimal("0.0004")
FUNDING_RATES = (Decimal("0.0005"), Decimal("-0.0005"))
# The processes' startup (imports, first connections, first quotes) and the caches filling as they
# trade are not a leak.  Steady: this many orders and fills of the account on the venue, and this share
# of the strategy's run (at least MIN_WARMUP_S) since it logged its start.
STEADY_ORDERS = 50
STEADY_FILLS = 10
WARMUP_SHARE = 0.3
MIN_WARMUP_S = 30.0
# Backstops for events that normally come much sooner: every program RUNNING (run.py itself gives up
# after its own 75 s), the strategy's run started, and its end after its --duration (run.py's own
# END_GRACE_S; past it run.py stops the strategy itself).
START_TIMEOUT_S = 90.0
RUN_END_GRACE_S = 30.0
POLL_S = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Market:
    """What one venue's soak trades: its symbol and the original command line's sizing for it."""

    venue: str
    symbol: str
    quantity: str
    max_position: str
    threshold: str
    extra: tuple[str, ...] = ()


MARKETS = {
    "backpack": Market(
        venue="backpack", symbol="SOL_USDC_PERP", quantity="0.1", max_position="5", threshold="2"
    ),
    "aster": Market(venue="aster", symbol="SOLUSDT", quantity="0.1", max_position="5", threshold="2"),
    # A 0.1 tick on a 60 000 price moves quotes on almost every update (Paradex admits 800 actions/s).
    "paradex": Market(
        venue="paradex",
        symbol="BTC-USD-PERP",
        quantity="0.005",
        max_position="0.15",
        threshold="0.06",
        extra=("--order-rate-limit", "40"),
    ),
}


@dataclass
class SoakResult:
    venue: str
    seconds: float
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def _clean_env() -> dict[str, str]:
    prefixes = ("PERP_MM_", "BACKPACK_", "RISK_", "ASTER_", "PARADEX_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**clean, "PYTHONUNBUFFERED": "1"}


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(POLL_S)


class Soak:
    """One venue's soak in ``work_dir``: start, drive the market, sample memory, stop, check."""

    def __init__(self, market: Market, *, seconds: float, work_dir: Path, seed: int = 1) -> None:
        self.market = market
        self.seconds = seconds
        self.work_dir = work_dir
        self.seed = seed
        self.run_dir = work_dir / "r"
        self.data_dir = work_dir / "d"
        self.logs_dir = self.data_dir / "logs"
        self.result = SoakResult(venue=market.venue, seconds=seconds)
        self.strategy_log = LogWatch(
            self.logs_dir / "strategy.err.log",
            {"started": log_pattern(RUN_STARTED_LOG), "ended": log_pattern(RUN_ENDED_LOG)},
        )
        self._leg = -1

    def run(self) -> SoakResult:
        """Every check's problems (empty: passed) and the figures measured."""
        emulator = Emulator.start(
            self.work_dir,
            venue=self.market.venue,
            symbol=self.market.symbol,
            seed=self.seed,
            extra_args=(
                "--volatility", VOLATILITY,
                "--funding-interval-s", str(FUNDING_INTERVAL_S),
                "--taker-rate", str(TAKER_RATE_PER_S),
            ),
        )  # fmt: skip
        try:
            self._run(emulator)
        except (TimeoutError, OSError, SupervisorError, SystemExit) as exc:
            self.result.problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            emulator.stop()
        self.result.problems.extend(log_problems(self.logs_dir))
        return self.result

    def _run(self, emulator: Emulator) -> None:
        start_collateral = Decimal(emulator.account()["collateral"])
        env = {
            **_clean_env(),
            **sim_env(
                self.market.venue, emulator.first_account, rest_url=emulator.rest_url, ws_url=emulator.ws_url
            ),
        }
        out_file = self.work_dir / "run.out"
        with out_file.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "run.py", *self._args()],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        started = time.monotonic()
        try:
            pids = self._wait_running(Supervisor(self.run_dir / SOCKET_NAME), proc)
            self._measure(emulator, proc, pids)
            code = self._wait_stopped(proc)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=stop_bound_s())
        output = out_file.read_text(errors="replace")
        if code != 0:
            self.result.problems.append(f"run.py exited with {code}:\n{output[-3000:]}")
        if f"orders left open on {self.market.symbol} after stop: 0\n" not in output:
            self.result.problems.append(f"run.py did not report 0 orders left open:\n{output[-3000:]}")
        # The journal's place, by the order gateway's own rule, from the command line run.py was given.
        cfg = load_config(self._args(), env={})
        problems, figures = journal_problems(
            cfg, emulator.state(), start_collateral=start_collateral, account_id=emulator.account_id
        )
        self.result.problems.extend(problems)
        self.result.figures.update(figures)
        self.result.figures["wall_s"] = round(time.monotonic() - started, 1)

    def _measure(self, emulator: Emulator, proc: subprocess.Popen[bytes], pids: dict[str, int]) -> None:
        """Drive the market through the strategy's run; its RSS once steady and at the run's last sample.

        Both are taken from events, never from the time run.py was started (a loaded machine starts
        slower): the baseline once the account has traded ``STEADY_ORDERS`` orders and ``STEADY_FILLS``
        fills on the venue (every one passed through all four processes) and ``WARMUP_SHARE`` of the
        strategy's run has passed since it logged its start; the final one is the last sample taken
        before it logged its end.
        """
        log = self.strategy_log

        def run_started() -> bool:
            return log.seen("started") is not None

        self._drive(emulator, proc, until=run_started, timeout_s=START_TIMEOUT_S)
        started_s = log.seen("started") or time.monotonic()
        warm_after_s = started_s + max(MIN_WARMUP_S, self.seconds * WARMUP_SHARE)
        end_by_s = started_s + self.seconds + RUN_END_GRACE_S
        baseline: dict[str, int] = {}

        def steady() -> bool:
            if log.seen("ended") is not None:
                raise TimeoutError(f"the run ended before it was steady: {self.result.figures.get('steady')}")
            if time.monotonic() < warm_after_s:
                return False
            account = emulator.account()
            orders, fills = account["orders_placed"], len(account["fills"])
            self.result.figures["steady"] = {"orders": orders, "fills": fills}
            if orders < STEADY_ORDERS or fills < STEADY_FILLS:
                return False
            baseline.update(read_rss_kb(pids))
            self.result.figures["steady"]["after_s"] = round(time.monotonic() - started_s, 1)
            return True

        self._drive(emulator, proc, until=steady, timeout_s=end_by_s - time.monotonic())
        final: dict[str, int] = {}

        def run_ended() -> bool:
            try:
                sample = read_rss_kb(pids)
            except OSError:
                if log.seen("ended") is not None:
                    return True  # the strategy ended and exited between two looks
                raise
            if log.seen("ended") is not None:
                return True
            final.update(sample)  # read before the end was logged: the programs still at work
            return False

        self._drive(emulator, proc, until=run_ended, timeout_s=end_by_s - time.monotonic())
        if not final:
            raise TimeoutError("the run ended as it became steady: no memory sample after the baseline")
        self.result.problems.extend(rss_problems(baseline, final))
        self.result.figures["rss_kb"] = {name: [baseline[name], final[name]] for name in baseline}

    def _wait_stopped(self, proc: subprocess.Popen[bytes]) -> int:
        """run.py's exit code, within the stop protocol's bound counted from the strategy's logged end."""
        bound_s = stop_bound_s()
        ended_s = self.strategy_log.seen("ended") or time.monotonic()
        try:
            return proc.wait(timeout=max(0.0, ended_s + bound_s - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"run.py still running {bound_s:.0f} s after the strategy's run ended (the stop's bound)"
            ) from None

    def _args(self) -> list[str]:
        m = self.market
        return [
            "--exchange", m.venue, "--market-type", "perp", "--symbol", m.symbol,
            "--spread", "0.05", "--quantity", m.quantity, "--max-orders", "2", "--target-position", "0",
            "--max-position", m.max_position, "--position-threshold", m.threshold, "--inventory-skew", "0.3",
            "--stop-loss", "-25", "--take-profit", "50", "--duration", str(self.seconds), "--interval", "2",
            "--close-on-exit",
            "--run-dir", str(self.run_dir), "--data-dir", str(self.data_dir),
            "--md-metrics-port", "0", "--orders-metrics-port", "0",
            "--strategy-metrics-port", "0", "--risk-metrics-port", "0",
            *m.extra,
        ]  # fmt: skip

    def _wait_running(self, supervisor: Supervisor, proc: subprocess.Popen[bytes]) -> dict[str, int]:
        pids: dict[str, int] = {}

        def running() -> bool:
            if proc.poll() is not None:
                raise OSError(f"run.py exited with {proc.returncode} while starting")
            if not supervisor.ready():
                return False
            for name in PROGRAMS:
                info = supervisor.info(name)
                if info["statename"] != "RUNNING":
                    return False
                pids[name] = info["pid"]
            return True

        _wait(running, START_TIMEOUT_S, "every program RUNNING")
        return pids

    def _drive(
        self,
        emulator: Emulator,
        proc: subprocess.Popen[bytes],
        *,
        until: Callable[[], bool],
        timeout_s: float,
    ) -> None:
        """Trend the market a leg at a time until ``until()`` (asked every ``POLL_S``) is true."""
        symbol = self.market.symbol
        deadline = time.monotonic() + timeout_s
        while not until():
            if proc.poll() is not None:
                raise OSError(f"run.py exited early with {proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {until.__name__}")
            leg = int(time.monotonic() // TREND_LEG_S)
            if leg != self._leg:
                self._leg = leg
                fair = Decimal(emulator.state()["markets"][symbol]["fair"])
                direction = 1 if leg % 2 else -1
                per_s = (fair * TREND_SHARE_PER_S * direction).quantize(Decimal("0.0001"))
                emulator.control(
                    "price",
                    {
                        "symbol": symbol,
                        "trend_per_s": str(per_s),
                        "duration_s": TREND_LEG_S,
                        "funding_rate": str(FUNDING_RATES[leg % len(FUNDING_RATES)]),
                    },
                )
            time.sleep(POLL_S)


def run_soaks(venues: list[str], *, seconds: float, work_root: Path) -> list[SoakResult]:
    """The soaks of ``venues`` at the same time, each in its own directory under ``work_root``."""
    soaks = [
        Soak(
            MARKETS[venue], seconds=seconds, work_dir=Path(tempfile.mkdtemp(dir=work_root, prefix=venue[:2]))
        )
        for venue in venues
    ]
    with ThreadPoolExecutor(max_workers=len(soaks)) as pool:
        return list(pool.map(Soak.run, soaks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get(SECONDS_VAR, DEFAULT_SECONDS)),
        help="run length",
    )
    parser.add_argument("--venue", action="append", choices=sorted(MARKETS), help="repeatable (default: all)")
    args = parser.parse_args(argv)
    venues = args.venue or list(MARKETS)
    work_root = Path(tempfile.mkdtemp(dir="/tmp", prefix="soak"))
    print(f"soak: {', '.join(venues)} for {args.seconds:g} s each, at once; work in {work_root}", flush=True)
    started = time.monotonic()
    results = run_soaks(venues, seconds=args.seconds, work_root=work_root)
    report = {
        "seconds": args.seconds,
        "wall_s": round(time.monotonic() - started, 1),
        "max_rss_growth": MAX_RSS_GROWTH,
        "venues": {r.venue: {"passed": not r.problems, **r.figures, "problems": r.problems} for r in results},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    for r in results:
        print(f"{r.venue}: {'passed' if not r.problems else 'FAILED'} {json.dumps(r.figures, default=str)}")
        for problem in r.problems:
            print(f"  - {problem}")
    print(f"wrote {RESULTS}")
    return 0 if all(not r.problems for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
