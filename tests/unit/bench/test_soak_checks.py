"""The soak's instruments: RSS by pid, and how long run.py may take to stop."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys

import pytest

from bench.soak_checks import read_rss_kb, stop_bound_s
from services.supervise import PROGRAMS, SUPERVISORD_CONF
from strategy.runner import RUN_STARTED_LOG

STARTED = "2026-12-07 23:15:16.450 INFO  strategy: " + RUN_STARTED_LOG % (
    "SOL_USDC_PERP",
    "0.05",
    "0.1",
    2,
    120,
)


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
