"""Heartbeat bookkeeping (pure): ages per peer and instance changes."""

from __future__ import annotations

import pytest

from services.bus import HeartbeatMonitor
from services.wire import Heartbeat


def test_heartbeat_monitor_tracks_instances_and_ages() -> None:
    monitor = HeartbeatMonitor()
    assert monitor.age_s("strategy", now_s=10.0) is None
    monitor.observe(Heartbeat(process="strategy", instance="a", loop_count=1), now_s=10.0)
    monitor.observe(Heartbeat(process="strategy", instance="a", loop_count=2), now_s=10.5)
    assert monitor.age_s("strategy", now_s=11.0) == pytest.approx(0.5)
    assert monitor.steady_s("strategy", now_s=11.0) == pytest.approx(1.0)
    monitor.observe(Heartbeat(process="strategy", instance="b", loop_count=1), now_s=12.0)
    assert monitor.instance("strategy") == "b"
    assert monitor.steady_s("strategy", now_s=12.5) == pytest.approx(0.5)
    monitor.observe(
        Heartbeat(process="strategy", instance="b", loop_count=1), now_s=13.0
    )  # replay: no refresh
    assert monitor.age_s("strategy", now_s=13.0) == pytest.approx(1.0)
