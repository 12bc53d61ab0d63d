"""The soak's instruments: the strategy's run events read from its log, RSS by pid, the stop's bound."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.soak_checks import LogWatch, log_pattern, read_rss_kb, stop_bound_s
from services.supervise import PROGRAMS, SUPERVISORD_CONF
from strategy.runner import RUN_ENDED_LOG, RUN_STARTED_LOG

STARTED = "2026-12-07 23:15:16.450 INFO  strategy: " + RUN_STARTED_LOG % (
    "SOL_USDC_PERP",
    "0.05",
    "0.1",
    2,
    120,
)


def test_the_patterns_match_the_lines_the_strategy_logs_and_nothing_else() -> None:
    started, ended = log_pattern(RUN_STARTED_LOG), log_pattern(RUN_ENDED_LOG)
    assert started.search(STARTED)
    assert ended.search("2026-12-07 23:17:16.451 INFO  strategy: " + RUN_ENDED_LOG % 120.0)
    assert not ended.search(STARTED)
    assert not started.search("2026-12-07 23:15:16.530 INFO  strategy: mode quote")


def test_a_log_watch_reads_only_what_was_appended_and_waits_for_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "strategy.err.log"
    watch = LogWatch(path, {"started": log_pattern(RUN_STARTED_LOG)})
    assert watch.seen("started") is None  # no file yet
    half = len(STARTED) // 2
    path.write_text("a line before\n" + STARTED[:half])
    assert watch.seen("started") is None  # half a line is not the event yet
    with path.open("a") as f:
        f.write(STARTED[half:] + "\n")
    first = watch.seen("started")
    assert first is not None
    with path.open("a") as f:
        f.write(STARTED + "\n")
    assert watch.seen("started") == first  # the first time it came


def test_rss_is_read_by_pid_and_a_gone_process_is_named() -> None:
    assert read_rss_kb({"me": os.getpid()})["me"] > 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with pytest.raises(OSError, match=r"strategy .* is gone before the end of the run"):
        read_rss_kb({"strategy": gone.pid})


def test_the_stop_bound_covers_every_programs_stop_wait() -> None:
    conf = configparser.RawConfigParser()
    conf.read(SUPERVISORD_CONF)
    waits_s = sum(conf.getfloat(f"program:{name}", "stopwaitsecs") for name in PROGRAMS)
    assert stop_bound_s() > waits_s
