"""Keeping a process on chosen CPUs: ``--orders-cpus 1`` runs the order gateway on CPU 1 only.

Why a trader would: on a small machine the scheduler tends to wake a process
on the CPU of the process that woke it, behind it, even when another CPU is
idle.  On the quoting path (market data, strategy, order gateway) that turns
into a queue: the order gateway's next order waits while the process it just
woke runs.  Giving the order gateway a CPU of its own removes that wait; the
tick-to-trade benchmark shows the effect (``bench/tick_to_trade.py``).

A CPU list is Linux's: ``1``, ``0-3``, ``0,2-3``.  Unset, a process runs on any
CPU, as before.  Pinning applies to every thread of the process, the ones that
exist (``/proc/self/task``) and the ones it starts later (ZeroMQ's I/O
thread, the metrics server), which inherit it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CPU_SETTINGS", "available_cpus", "format_cpus", "parse_cpus", "pin", "problem"]

# The setting that pins each process.
CPU_SETTINGS = {
    "md_gateway": "md_cpus",
    "order_gateway": "orders_cpus",
    "strategy": "strategy_cpus",
    "risk": "risk_cpus",
}

_TASKS = Path("/proc/self/task")


def parse_cpus(text: str) -> frozenset[int]:
    """``"1"``, ``"0-3"``, ``"0,2-3"`` as CPU numbers; ValueError saying what is wrong."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(
                f"{text!r} is not a CPU list: write CPU numbers and ranges, e.g. 1 or 0-1 or 0,2-3"
            )
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"{text!r} has the range {part.strip()} backwards: write it {high}-{low}")
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def format_cpus(cpus: Iterable[int]) -> str:
    """CPU numbers as a Linux CPU list: {0, 1, 2, 5} -> ``0-2,5``."""
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)


def available_cpus() -> frozenset[int]:
    """The CPUs this process may run on."""
    return frozenset(os.sched_getaffinity(0))


def problem(setting: str, text: str) -> str | None:
    """Why ``text`` cannot pin a process on this machine (None when it can); ``setting`` names it."""
    try:
        cpus = parse_cpus(text)
    except ValueError as exc:
        return f"{setting} {exc}"
    missing = cpus - available_cpus()
    if missing:
        return (
            f"{setting} {text} names CPU {format_cpus(missing)}, which this machine does not give us: "
            f"choose from {format_cpus(available_cpus())}, or leave it unset to run on any CPU"
        )
    return None


def pin(text: str, *, setting: str) -> frozenset[int]:
    """Every thread of this process, now and later, on the CPUs ``text`` names; ValueError if it cannot."""
    reason = problem(setting, text)
    if reason is not None:
        raise ValueError(reason)
    cpus = parse_cpus(text)
    try:
        os.sched_setaffinity(0, cpus)  # this thread, and so every thread it starts from now on
        for task in _TASKS.iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except ProcessLookupError:  # the thread ended meanwhile
                continue
    except OSError as exc:  # a cpuset or a container may forbid it
        refused = f"{setting} {text}: the system refused to pin this process ({exc.strerror})"
        raise ValueError(refused) from None
    return cpus
