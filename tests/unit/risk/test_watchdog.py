"""The strategy watchdog on its own: steady, finished on purpose, hung, restarted."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from risk.model import Limits, Observation, Reason
from risk.watchdog import StrategyWatch


def watch(**overrides: Any) -> StrategyWatch:
    settings: dict[str, Any] = {"symbol": "SOL_USDC_PERP", "max_position": D(1), "hang_settle_s": 1.0}
    settings.update(overrides)
    return StrategyWatch(Limits(**settings))


def obs(now_s: float, *, age_s: float | None = 0.1, instance: str | None = "s1", **more: Any) -> Observation:
    return Observation(
        now_s=now_s,
        position=D(0),
        entry_price=D(0),
        mark_price=D(100),
        md_age_s=0.1,
        strategy_heartbeat_age_s=age_s,
        strategy_instance=instance,
        **more,
    )


def keys(verdict: Any) -> list[str]:
    return [key for key, _, _ in verdict.logs]


def test_steady_after_the_settle_time_then_a_hang_is_cancelled_and_restarted() -> None:
    dog = watch(restart_interval_s=30.0)
    assert dog.observe(obs(0.0), past_grace=False).halt is Reason.STRATEGY_HANG
    assert dog.observe(obs(1.0), past_grace=False).halt is None
    hung = dog.observe(obs(3.0, age_s=2.0), past_grace=True)
    assert (hung.halt, hung.cancel, hung.restart, keys(hung)) == (
        Reason.STRATEGY_HANG,
        Reason.STRATEGY_HANG,
        True,
        ["strategy_hang"],
    )
    assert dog.hung
    assert not dog.observe(obs(32.9, age_s=31.9), past_grace=True).restart
    assert dog.observe(obs(33.0, age_s=32.0), past_grace=True).restart


def test_a_strategy_never_seen_is_hung_only_after_the_grace() -> None:
    dog = watch()
    assert not dog.observe(obs(5.0, age_s=None, instance=None), past_grace=False).restart
    assert dog.observe(obs(31.0, age_s=None, instance=None), past_grace=True).restart


def test_a_finished_strategy_is_never_hung_until_a_new_instance_settles() -> None:
    dog = watch()
    dog.observe(obs(0.0), past_grace=False)
    dog.observe(obs(1.0), past_grace=False)
    done = dog.observe(obs(2.0, strategy_finished="s1"), past_grace=True)
    assert (done.halt, done.cancel, done.restart, keys(done)) == (
        Reason.STRATEGY_DONE,
        Reason.STRATEGY_DONE,
        False,
        ["strategy_done"],
    )
    silent = dog.observe(obs(100.0, age_s=98.0, strategy_finished="s1"), past_grace=True)
    assert (silent.halt, silent.cancel, silent.restart, silent.logs) == (
        Reason.STRATEGY_DONE,
        None,
        False,
        [],
    )
    assert not dog.hung
    fresh = dog.observe(obs(101.0, instance="s2", strategy_finished="s1"), past_grace=True)
    assert fresh.halt is Reason.STRATEGY_DONE and keys(fresh) == ["strategy_instance"]
    assert dog.observe(obs(102.0, instance="s2", strategy_finished="s1"), past_grace=True).halt is None
