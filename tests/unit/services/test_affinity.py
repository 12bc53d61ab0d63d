"""CPU lists, the checks on them, and pinning a whole process."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from services.affinity import available_cpus, format_cpus, parse_cpus, pin, problem
from services.service import Service

CPUS = sorted(available_cpus())
ABSENT = str(max(CPUS) + 1)


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("1", {1}), ("0-3", {0, 1, 2, 3}), ("0,2-3", {0, 2, 3}), (" 5 , 1 ", {1, 5}), ("2-2", {2})],
)
def test_a_cpu_list_reads_as_linux_writes_it(text: str, cpus: set[int]) -> None:
    assert parse_cpus(text) == cpus


@pytest.mark.parametrize("text", ["", "x", "1-", "-1", "1,,2", "0.5", "1 2"])
def test_what_is_not_a_cpu_list_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a CPU list: write CPU numbers and ranges, e\.g\. 1 or 0-1"):
        parse_cpus(text)


def test_a_backwards_range_is_refused_with_the_right_way_round() -> None:
    with pytest.raises(ValueError, match="has the range 3-1 backwards: write it 1-3"):
        parse_cpus("0,3-1")


@pytest.mark.parametrize(("cpus", "text"), [({0}, "0"), ({0, 1, 2, 5}, "0-2,5"), ({3, 1, 7, 8}, "1,3,7-8")])
def test_format_is_the_shortest_cpu_list_and_reads_back(cpus: set[int], text: str) -> None:
    assert format_cpus(cpus) == text
    assert parse_cpus(text) == cpus


def test_problem_names_the_setting_and_the_cpus_this_machine_has() -> None:
    assert problem("orders-cpus", str(CPUS[0])) is None
    reason = problem("orders-cpus", f"{CPUS[0]},{ABSENT}")
    assert reason == (
        f"orders-cpus {CPUS[0]},{ABSENT} names CPU {ABSENT}, which this machine does not give us: "
        f"choose from {format_cpus(CPUS)}, or leave it unset to run on any CPU"
    )
    assert problem("md-cpus", "two") == (
        "md-cpus 'two' is not a CPU list: write CPU numbers and ranges, e.g. 1 or 0-1 or 0,2-3"
    )


def test_pin_moves_the_threads_already_running_and_the_ones_started_later() -> None:
    cpu = CPUS[-1]
    script = textwrap.dedent(
        f"""
        import os, threading
        from services.affinity import pin
        started = threading.Event(); stop = threading.Event()
        def early():
            started.set(); stop.wait()
        thread = threading.Thread(target=early); thread.start(); started.wait()
        pin("{cpu}", setting="strategy-cpus")
        later = threading.Thread(target=stop.wait); later.start()
        for task in sorted(os.listdir("/proc/self/task")):
            print(sorted(os.sched_getaffinity(int(task))))
        stop.set()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert out.splitlines() == [f"[{cpu}]"] * 3  # main, the thread from before, the thread from after


def test_pin_refuses_a_cpu_the_machine_lacks_and_changes_nothing() -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(ValueError, match=f"risk-cpus {ABSENT} names CPU {ABSENT}"):
        pin(ABSENT, setting="risk-cpus")
    assert os.sched_getaffinity(0) == before


class _Gateway(Service):
    process = "order_gateway"
    endpoint = "exec"

    async def main(self) -> None:  # pragma: no cover - never reached: it cannot start
        raise AssertionError("started on CPUs it was not given")


def test_a_service_that_cannot_be_pinned_does_not_start_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = SimpleNamespace(log_format="console", log_level="INFO", orders_cpus=ABSENT)
    with caplog.at_level(logging.ERROR, logger="services.service"):
        assert _Gateway(cfg, metrics_port=0).run() == 2
    assert f"order_gateway cannot start: orders-cpus {ABSENT} names CPU {ABSENT}" in caplog.text


def test_a_refusal_by_the_system_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, cpus: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    refused = r"md-cpus \d+: the system refused to pin this process \(Operation not permitted\)"
    with pytest.raises(ValueError, match=refused):
        pin(str(CPUS[0]), setting="md-cpus")
