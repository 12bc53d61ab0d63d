"""The tick-to-trade benchmark's CPU placement."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import tick_to_trade


def test_the_emulator_and_the_order_gateway_get_cpus_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tick_to_trade, "available_cpus", lambda: frozenset({3, 1, 6}))
    assert tick_to_trade._pinning(True) == {"emulator": "1", "order_gateway": "3"}
    assert tick_to_trade._pinning(False) is None


def test_one_cpu_is_left_unpinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tick_to_trade, "available_cpus", lambda: frozenset({2}))
    assert tick_to_trade._pinning(True) is None


def test_the_order_gateway_is_pinned_through_its_own_setting(tmp_path: Path) -> None:
    path = tick_to_trade._config(tmp_path, "0")
    assert 'orders_cpus = "0"' in path.read_text()
    assert "orders_cpus" not in tick_to_trade._config(tmp_path, None).read_text()
