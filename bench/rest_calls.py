"""REST calls per minute per venue, from the exchange's side, while the seed's command lines quote.

    python -m bench.rest_calls [--window-s 60] [--warmup-s 10] [--venue NAME ...] [--out FILE]

For each venue, the seed's own command line runs through ``run.py --sim``;
once both sides are quoted and ``--warmup-s`` has passed (start-up reads are
not steady state), the emulator's request counters are read at the start and
the end of a ``--window-s`` window: calls per minute by HTTP method.  Order
state comes from the private streams, so steady-state GETs stay under
``GET_LIMIT_PER_MIN`` (Paradex allows 600 GETs a minute per account and 1,500
private calls a minute per IP); the exit code is 1 when a venue is above it.
Writes ``bench/results/rest_calls.json`` with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
ROOT = Path(__file__).resolve().parent.parent
GET_LIMIT_PER_MIN = 60
START_TIMEOUT_S = 90.0
# The seed's "啟動示例", verbatim (tests/integration/test_seed_command_lines.py runs them too).
SEED_LINES = {
    "backpack": "python run.py --exchange backpack --market-type perp --symbol SOL_USDC_PERP --spread 0.01 "
    "--quantity 0.1 --max-orders 2 --target-position 0 --max-position 5 --position-threshold 2 "
    "--inventory-skew 0 --stop-loss -1 --take-profit 5 --duration 3600 --interval 10",
    "aster": "python run.py --exchange aster --market-type perp --symbol SOLUSDT --spread 0.01 "
    "--quantity 0.1 --max-orders 2 --target-position 0 --max-position 5 --position-threshold 2 "
    "--inventory-skew 0 --stop-loss -1 --take-profit 5 --duration 3600 --interval 10",
    "paradex": "python run.py --exchange paradex --market-type perp --symbol BTC-USD-PERP --spread 0.01 "
    "--quantity 0.001 --max-orders 2 --target-position 0 --max-position 1 --position-threshold 0.1 "
    "--inventory-skew 0 --stop-loss -10 --take-profit 20 --duration 3600 --interval 10",
}


def seed_args(venue: str, *, tmp: Path, duration_s: float) -> list[str]:
    """The seed's command line for ``venue`` as ``run.py`` arguments, with ``--sim`` and private dirs."""
    words = shlex.split(SEED_LINES[venue])
    return [
        *words[2:], "--sim", "--duration", str(round(duration_s)),
        "--run-dir", str(tmp / "r"), "--data-dir", str(tmp / "d"),
        "--md-metrics-port", "0", "--orders-metrics-port", "0",
        "--strategy-metrics-port", "0", "--risk-metrics-port", "0",
    ]  # fmt: skip


def _state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/state", timeout=10) as answer:
        state: dict[str, Any] = json.loads(answer.read())
        return state


def _wait(what: str, check: Any, *, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"run.py exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} within {START_TIMEOUT_S:g} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def per_minute(before: dict[str, int], after: dict[str, int], *, elapsed_s: float) -> dict[str, float]:
    """Calls per minute by method between two readings of the emulator's counters."""
    return {
        method: round((count - before.get(method, 0)) * 60 / elapsed_s, 1)
        for method, count in sorted(after.items())
        if count != before.get(method, 0)
    }


def _by_route(by_path: dict[str, int]) -> dict[str, int]:
    """Counts by path with order ids folded (``/v1/orders/123`` counts as ``/v1/orders/{id}``)."""
    routes: dict[str, int] = {}
    for path, count in by_path.items():
        route = re.sub(r"/\d+(?=/|$)", "/{id}", path)
        routes[route] = routes.get(route, 0) + count
    return routes


def measure(venue: str, *, window_s: float, warmup_s: float) -> dict[str, Any]:
    """Run the seed's line for ``venue`` and count its REST calls over the window."""
    with tempfile.TemporaryDirectory(prefix="pm-rest-") as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "run.out"
        args = seed_args(venue, tmp=tmp, duration_s=START_TIMEOUT_S + warmup_s + window_s + 60)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PERP_MM_", "RISK_"))}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "run.py", *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        try:
            url = _wait(
                "the emulator's URL",
                lambda: (
                    (m := re.search(r"^emulator: (http://\S+)", log.read_text(errors="replace"), re.M))
                    and m.group(1)
                ),
                proc=proc,
                log=log,
            )

            def quoting() -> bool:
                accounts = _state(url)["accounts"]
                sides = {o["side"] for a in accounts.values() for o in a["open_orders"]}
                return sides == {"buy", "sell"}

            _wait("two-sided quotes", quoting, proc=proc, log=log)
            time.sleep(warmup_s)
            before = _state(url)["requests"]
            started = time.monotonic()
            time.sleep(window_s)
            after = _state(url)["requests"]
            elapsed_s = time.monotonic() - started
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    by_method = per_minute(before["by_method"], after["by_method"], elapsed_s=elapsed_s)
    by_path = per_minute(_by_route(before["by_path"]), _by_route(after["by_path"]), elapsed_s=elapsed_s)
    gets = by_method.get("GET", 0.0)
    return {
        "window_s": round(elapsed_s, 1),
        "rest_per_min": round(sum(by_method.values()), 1),
        "rest_per_min_by_method": by_method,
        "rest_per_min_by_path": by_path,
        "get_per_min": gets,
        "get_under_limit": gets < GET_LIMIT_PER_MIN,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rest_calls", description=__doc__.split("\n")[0])
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--venue", action="append", choices=list(SEED_LINES))
    parser.add_argument("--out", type=Path, default=RESULTS / "rest_calls.json")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    venues = {
        venue: measure(venue, window_s=args.window_s, warmup_s=args.warmup_s)
        for venue in args.venue or list(SEED_LINES)
    }
    result = {
        "get_limit_per_min": GET_LIMIT_PER_MIN,
        "venues": venues,
        "load_average_1m": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for venue, row in venues.items():
        methods = ", ".join(f"{m} {n:g}" for m, n in row["rest_per_min_by_method"].items())
        verdict = "yes" if row["get_under_limit"] else "NO"
        print(
            f"{venue}: {row['rest_per_min']:g} REST calls/min ({methods}); "
            f"GETs under {GET_LIMIT_PER_MIN}/min: {verdict}"
        )
    return 0 if all(row["get_under_limit"] for row in venues.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
