"""The service base as a real process: heartbeats from the loop, metrics endpoint, bounded SIGTERM stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from services.bus import Bus, HeartbeatMonitor
from services.endpoints import Endpoints
from services.wire import Heartbeat

PEER = Path(__file__).with_name("bus_peer.py")
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_service_beats_exports_metrics_and_stops_cleanly_on_sigterm() -> None:
    run_dir = Path(tempfile.mkdtemp(dir="/tmp", prefix="pm"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(PEER), "service", str(run_dir), str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        bus = Bus(Endpoints.in_run_dir(run_dir), process="risk")
        sub = bus.subscriber(["strategy"], ["hb."])
        monitor = HeartbeatMonitor()
        beats = []
        for _ in range(5):
            got = await asyncio.wait_for(sub.recv(), 5)
            monitor.observe(got.body, now_s=time.monotonic())
            beats.append(got.body)
        bus.close()
        assert all(isinstance(b, Heartbeat) and b.process == "strategy" for b in beats)
        counts = [b.loop_count for b in beats]  # type: ignore[attr-defined]
        assert counts == sorted(counts) and len(set(counts)) == 5
        age = monitor.age_s("strategy", now_s=time.monotonic())
        assert age is not None and age < 1.0

        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        for name in (
            "mm_heartbeat_timestamp_seconds",
            "mm_loop_lag_seconds",
            "mm_bus_messages_total",
            "mm_bus_seq_gaps_total",
            "mm_bus_dropped_total",
        ):
            assert name in text
        assert 'mm_bus_messages_total{direction="out",type="heartbeat"}' in text

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert "SHUTDOWN" in out
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()


def test_a_pinned_service_runs_every_thread_on_its_cpus() -> None:
    cpu = max(os.sched_getaffinity(0))
    run_dir = Path(tempfile.mkdtemp(dir="/tmp", prefix="pm"))
    proc = subprocess.Popen(
        [sys.executable, str(PEER), "service", str(run_dir), "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PERP_MM_STRATEGY_CPUS": str(cpu)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        tasks = sorted(Path(f"/proc/{proc.pid}/task").iterdir())
        # The loop's thread and the threads started after pinning: ZeroMQ's I/O thread at least.
        assert len(tasks) >= 2
        assert {task.name: os.sched_getaffinity(int(task.name)) for task in tasks} == {
            task.name: {cpu} for task in tasks
        }
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
        assert proc.returncode == 0
    finally:
        proc.kill()
        proc.wait()
