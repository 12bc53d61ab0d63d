"""The tick-to-trade benchmark's CPU placement."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import tick_to_trade


def test_the_emulator_and_the_order_gateway_get_cpus_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tick_to_trade, "available_cpus", lambda: frozenset({3, 1, 6}))
    assert tick_to_trade._pinning(True) == {"emulator": "1", "strategy": "1", "order_gateway": "3"}
    assert tick_to_trade._pinning(False) == {}


def test_one_cpu_is_left_unpinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tick_to_trade, "available_cpus", lambda: frozenset({2}))
    assert tick_to_trade._pinning(True) == {}


def test_the_processes_are_pinned_through_their_own_settings(tmp_path: Path) -> None:
    pinned = {"emulator": "0", "strategy": "0", "order_gateway": "1"}
    text = tick_to_trade._config(tmp_path, pinned).read_text()
    assert 'orders_cpus = "1"' in text and 'strategy_cpus = "0"' in text
    assert "md_cpus" not in text and "risk_cpus" not in text
    assert "cpus" not in tick_to_trade._config(tmp_path, {}).read_text()
