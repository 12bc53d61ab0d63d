"""Run the benchmarks, merge their JSON into bench/results.json and print one table of the headline figures.

    python -m bench [NAME ...]      (default: the benchmarks in BENCHMARKS, about 13 minutes)

Each benchmark is its own module (``python -m bench.NAME``) that writes
``bench/results/NAME.json``; this runner only sequences them, merges every
result file present and prints the table (Markdown, as the README shows it).
Any other ``bench/*.py`` with a ``main()`` runs when named (``python -m bench
soak``); the reference loop is a program the system benchmark starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS_DIR = HERE / "results"
MERGED = HERE / "results.json"
BENCHMARKS = ("bus", "tick_to_trade", "risk_reaction", "system", "rest_calls")
NOT_BENCHMARKS = {"reference_loop"}

Row = tuple[str, str, str]


def available() -> list[str]:
    return sorted(
        p.stem
        for p in HERE.glob("*.py")
        if not p.stem.startswith("_") and p.stem not in NOT_BENCHMARKS and "def main(" in p.read_text()
    )


def _bus(r: dict[str, Any]) -> list[Row]:
    ps, rr = r["pub_sub"], r["req_rep"]
    return [
        ("bus PUB->SUB, BBO envelopes, two processes over ipc", f"{ps['msgs_per_s']:,} msgs/s", ">= 100,000"),
        (
            "bus DEALER->ROUTER round trip",
            f"p50 {rr['p50_us']:.0f} us, p99 {rr['p99_us']:.0f} us",
            "p50 <= 200 us, p99 <= 1 ms",
        ),
    ]


def _tick_to_trade(r: dict[str, Any]) -> list[Row]:
    t, accepted = r["tick_to_trade_ms"], r.get("tick_to_accept_ms")
    pinned = r.get("cpus_pinned")
    where = ", ".join(f"{name} on CPU {cpus}" for name, cpus in pinned.items()) if pinned else "unpinned"
    rows = [
        (
            "tick to trade: book move to the new order arriving at the exchange",
            f"p50 {t['p50']:.1f} ms, p99 {t['p99']:.1f} ms ({r['measured']} moves; {where})",
            "p50 <= 3 ms, p99 <= 15 ms",
        )
    ]
    if accepted is not None:
        rows.append(
            (
                "tick to accept: book move to the exchange's acceptance of that order",
                f"p50 {accepted['p50']:.1f} ms, p99 {accepted['p99']:.1f} ms",
                "",
            )
        )
    return rows


def _risk_reaction(r: dict[str, Any]) -> list[Row]:
    def cell(name: str) -> str:
        row = r[name]
        return f"p50 {row['p50']:.0f} ms, p99 {row['p99']:.0f} ms (n {row['n']})"

    return [
        ("stop-loss breach to closing fill, guardian with the bus", cell("stop_loss_bus"), ""),
        ("stop-loss breach to closing fill, guardian polling alone (1 s)", cell("stop_loss_poll"), ""),
        (
            "strategy hang (SIGSTOP) to cancel-all, hang timeout 1.5 s",
            cell("hang_to_cancel_all"),
            "<= 2000 ms",
        ),
    ]


def _times(ratio: float | None) -> str:
    """A ratio as "236x" (or "1.4x" under ten; "n/a" without one)."""
    if ratio is None:
        return "n/a"
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def _system(r: dict[str, Any]) -> list[Row]:
    ours, ref, ratios = r["system"], r["reference"], r["ratios"]
    interval = f"{r['interval_s']:g} s"
    reaction = f"{ours['reaction_ms']['p50']:.0f} ms vs {ref['reaction_ms']['p50'] / 1000:.1f} s"
    cpu = ", ".join(f"{name} {pct:.1f}%" for name, pct in ours["cpu_pct"].items() if name != "emulator")
    rss = ", ".join(f"{name} {mb:.0f}" for name, mb in ours["rss_mb"].items() if name != "emulator")
    return [
        (
            f"reaction to a price jump, p50: stack vs reference loop (--interval {interval})",
            f"{reaction} ({_times(ratios['reaction_p50_reference_over_system'])} faster)",
            "",
        ),
        (
            "time at the correct price: stack vs reference loop",
            f"{ours['time_at_correct_price']:.1%} vs {ref['time_at_correct_price']:.1%} "
            f"({_times(ratios['time_at_correct_price_system_over_reference'])} as long)",
            "",
        ),
        (
            "REST requests per minute, steady state: stack vs reference loop",
            f"{ours['rest_per_min']:.0f} vs {ref['rest_per_min']:.0f} "
            f"({_times(ratios['rest_per_min_system_over_reference'])} as many; "
            "placing or cancelling one order "
            f"{ours['rest_per_min_order_entry']:.0f} vs {ref['rest_per_min_order_entry']:.0f})",
            "",
        ),
        *_fast_row(r),
        (f"CPU per process at {ours['book_updates_per_s']:.0f} book updates/s", cpu, ""),
        ("resident memory per process (MB)", rss, ""),
    ]


def _fast_row(r: dict[str, Any]) -> list[Row]:
    """The reference loop at a short interval, when the run had one."""
    fast = r.get("reference_fast")
    if fast is None:
        return []
    return [
        (
            f"reference loop at --interval {fast['interval_s']:g} s",
            f"reaction p50 {fast['reaction_ms']['p50']:.0f} ms, at the correct price "
            f"{fast['time_at_correct_price']:.1%}, {fast['rest_per_min']:.0f} REST requests/min",
            "",
        )
    ]


def _rest_calls(r: dict[str, Any]) -> list[Row]:
    """One row per venue: REST calls per minute by method while the seed's line quotes."""
    limit = r["get_limit_per_min"]
    rows = []
    for venue, row in r["venues"].items():
        methods = ", ".join(f"{m} {n:.0f}" for m, n in row["rest_per_min_by_method"].items())
        rows.append(
            (
                f"REST calls per minute, steady state, {venue} (the seed's line, counted at the exchange)",
                f"{row['rest_per_min']:.0f} ({methods})",
                f"GET < {limit}/min",
            )
        )
    return rows


TABLE: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "bus": _bus,
    "tick_to_trade": _tick_to_trade,
    "risk_reaction": _risk_reaction,
    "system": _system,
    "rest_calls": _rest_calls,
}


def table(merged: dict[str, Any]) -> str:
    """The headline figures of every known result present, as a Markdown table."""
    lines = ["| benchmark | result | target |", "|---|---|---|"]
    for name, rows in TABLE.items():
        if name in merged:
            try:
                lines += [f"| {what} | {result} | {target} |" for what, result, target in rows(merged[name])]
            except (KeyError, TypeError, ValueError) as exc:
                lines.append(f"| {name} | result file lacks {exc} | |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}",
            file=sys.stderr,
        )
        return 2
    failed = []
    started_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_at_start = os.getloadavg()[0]
    run_started = time.monotonic()
    for name in names:
        print(f"== bench.{name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"   ({time.monotonic() - started:.1f} s, exit {code})", flush=True)
        if code:
            failed.append(name)
    merged: dict[str, Any] = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("*.json"))}
    # Figures from a busy machine are not comparable with a quiet run's: say how busy it was.
    merged["run"] = {
        "benchmarks": names,
        "started_utc": started_utc,
        "seconds": round(time.monotonic() - run_started, 1),
        "cpus": os.cpu_count(),
        "load_average_1m": {"start": round(load_at_start, 2), "end": round(os.getloadavg()[0], 2)},
    }
    MERGED.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"\nwrote {MERGED} ({', '.join(merged)})\n")
    print(table(merged))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
