"""The guardian's rules driven with plain values and explicit times."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from risk.rules import (
    AlertMismatch,
    CancelAll,
    ClosePosition,
    Decision,
    Guardian,
    Limits,
    Log,
    Observation,
    Reason,
    RestartStrategy,
    SetState,
    unrealized_pnl,
)
from services.wire import Side, TradingState

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def limits(**overrides: Any) -> Limits:
    base: dict[str, Any] = {"symbol": "SOL_USDC_PERP", "max_position": D("0.4")}
    base.update(overrides)
    return Limits(**base)


def obs(now_s: float, **overrides: Any) -> Observation:
    """A healthy observation: flat, fresh mark, feed and heartbeat from instance "s1"."""
    base: dict[str, Any] = {
        "now_s": now_s,
        "position": D(0),
        "entry_price": D(0),
        "mark_price": D(100),
        "md_age_s": 0.2,
        "strategy_heartbeat_age_s": 0.1,
        "strategy_instance": "s1",
        "feed_age_s": 0.1,
    }
    base.update(overrides)
    return Observation(**base)


def armed(lim: Limits | None = None, *, lang: Any = "zh") -> Guardian:
    """A guardian past startup: the strategy has heartbeated steadily, the state is ACTIVE at t=1."""
    guardian = Guardian(lim or limits(), lang=lang)
    guardian.decide(obs(0.0))
    assert guardian.decide(obs(1.0)).state is ACTIVE
    return guardian


def of(decision: Decision, kind: type) -> list[Any]:
    return [a for a in decision.actions if isinstance(a, kind)]


def log_keys(decision: Decision) -> list[str]:
    return [a.key for a in of(decision, Log)]


def kinds(decision: Decision) -> list[type]:
    return [type(a) for a in decision.actions]


# ---------------------------------------------------------------- startup


def test_startup_is_halted_until_the_strategy_heartbeats_steadily() -> None:
    guardian = Guardian(limits())
    assert (guardian.state, guardian.reason) == (HALTED, Reason.STARTUP)
    first = guardian.decide(obs(0.0))
    assert first.actions == (SetState(HALTED, Reason.STRATEGY_HANG),)
    assert guardian.decide(obs(0.5)).actions == ()
    ready = guardian.decide(obs(1.0))
    assert (ready.state, ready.reason) == (ACTIVE, Reason.NONE)
    assert ready.actions == (SetState(ACTIVE, Reason.NONE),)
    assert (guardian.state, guardian.reason) == (ACTIVE, Reason.NONE)


def test_a_strategy_not_seen_yet_is_waited_for_then_treated_as_hung() -> None:
    guardian = Guardian(limits(startup_grace_s=30.0))
    waiting = guardian.decide(obs(0.0, strategy_heartbeat_age_s=None, strategy_instance=None))
    assert waiting.state is HALTED and not of(waiting, CancelAll) and not of(waiting, RestartStrategy)
    assert guardian.decide(obs(29.9, strategy_heartbeat_age_s=None)).actions == ()
    hung = guardian.decide(obs(30.0, strategy_heartbeat_age_s=None))
    assert hung.actions[:2] == (CancelAll(Reason.STRATEGY_HANG), RestartStrategy(Reason.STRATEGY_HANG))
    assert log_keys(hung) == ["strategy_hang"]


def test_market_data_not_seen_yet_is_waited_for_then_stale() -> None:
    guardian = Guardian(limits(startup_grace_s=10.0))
    first = guardian.decide(obs(0.0, mark_price=None, md_age_s=None))
    assert first.state is HALTED and not of(first, CancelAll)
    guardian.decide(obs(1.0, mark_price=None, md_age_s=None))
    assert guardian.reason is Reason.MD_STALE
    late = guardian.decide(obs(10.0, mark_price=None, md_age_s=None))
    assert kinds(late) == [CancelAll, Log]
    assert late.actions[0] == CancelAll(Reason.MD_STALE) and log_keys(late) == ["md_stale"]


# ---------------------------------------------------------------- max position


def test_table_case_long_closes_exactly_the_excess() -> None:
    guardian = armed()
    decision = guardian.decide(obs(2.0, position=D("0.5"), entry_price=D(100)))
    assert (decision.state, decision.reason) == (REDUCING, Reason.MAX_POSITION)
    assert decision.actions[:3] == (
        SetState(REDUCING, Reason.MAX_POSITION),
        CancelAll(Reason.MAX_POSITION),
        ClosePosition(Side.SELL, D("0.1"), Reason.MAX_POSITION, 1),
    )
    close = decision.actions[2]
    assert isinstance(close, ClosePosition) and str(close.quantity) == "0.1"
    assert log_keys(decision) == ["max_position"]


def test_table_case_short_buys_back_the_excess() -> None:
    guardian = armed()
    decision = guardian.decide(obs(2.0, position=D("-0.5"), entry_price=D(100)))
    assert of(decision, ClosePosition) == [ClosePosition(Side.BUY, D("0.1"), Reason.MAX_POSITION, 1)]


def test_at_the_max_nothing_happens() -> None:
    guardian = armed()
    assert guardian.decide(obs(2.0, position=D("0.4"), entry_price=D(100))).actions == ()
    assert guardian.decide(obs(3.0, position=D("-0.4"), entry_price=D(100))).actions == ()


def test_no_second_close_while_one_is_in_flight_and_back_to_active_once_within_max() -> None:
    guardian = armed()
    first = guardian.decide(obs(2.0, position=D("0.5"), entry_price=D(100)))
    (close,) = of(first, ClosePosition)
    assert guardian.decide(obs(2.5, position=D("0.5"), entry_price=D(100))).actions == ()
    guardian.close_result(close.close_id, ok=True)
    done = guardian.decide(obs(3.0, position=D("0.4"), entry_price=D(100)))
    assert done.actions == (SetState(ACTIVE, Reason.NONE),)


def test_a_confirmed_close_waits_for_the_position_to_move_before_another() -> None:
    guardian = armed()
    (close,) = of(guardian.decide(obs(2.0, position=D("0.5"), entry_price=D(100))), ClosePosition)
    guardian.close_result(close.close_id, ok=True)
    # The position poll still shows the old size: the close is not sent twice.
    assert not of(guardian.decide(obs(2.5, position=D("0.5"), entry_price=D(100))), ClosePosition)
    # The position moved but is still above max (a fill grew it meanwhile): the new excess is closed.
    again = guardian.decide(obs(3.0, position=D("0.45"), entry_price=D(100)))
    assert of(again, ClosePosition) == [ClosePosition(Side.SELL, D("0.05"), Reason.MAX_POSITION, 2)]


def test_a_position_change_before_the_close_is_confirmed_sends_no_second_close() -> None:
    guardian = armed()
    guardian.decide(obs(2.0, position=D("0.5"), entry_price=D(100)))
    # Another fill moved the position while the close's reply is outstanding: still one close.
    assert guardian.decide(obs(2.5, position=D("0.55"), entry_price=D(100))).actions == ()


def test_a_failed_close_is_retried_on_the_next_observation() -> None:
    guardian = armed()
    (close,) = of(guardian.decide(obs(2.0, position=D("0.5"), entry_price=D(100))), ClosePosition)
    guardian.close_result(close.close_id, ok=False)
    retry = guardian.decide(obs(2.1, position=D("0.5"), entry_price=D(100)))
    assert of(retry, ClosePosition) == [ClosePosition(Side.SELL, D("0.1"), Reason.MAX_POSITION, 2)]
    assert log_keys(retry) == ["close_failed"]


def test_a_lost_close_is_retried_after_the_timeout_and_a_late_answer_is_ignored() -> None:
    guardian = armed(limits(close_timeout_s=5.0))
    (close,) = of(guardian.decide(obs(2.0, position=D("0.5"), entry_price=D(100))), ClosePosition)
    assert guardian.decide(obs(6.9, position=D("0.5"), entry_price=D(100))).actions == ()
    retry = guardian.decide(obs(7.0, position=D("0.5"), entry_price=D(100)))
    assert of(retry, ClosePosition) == [ClosePosition(Side.SELL, D("0.1"), Reason.MAX_POSITION, 2)]
    assert log_keys(retry) == ["close_timeout"]
    guardian.close_result(close.close_id, ok=False)  # the first close's late failure
    assert guardian.decide(obs(7.5, position=D("0.5"), entry_price=D(100))).actions == ()


# ---------------------------------------------------------------- stop-loss / take-profit


def test_unrealized_pnl_is_exact_mark_to_market() -> None:
    assert unrealized_pnl(position=D("0.8"), entry_price=D("100.1"), mark_price=D("100.3")) == D("0.16")
    assert unrealized_pnl(position=D("-2"), entry_price=D("100"), mark_price=D("101.5")) == D("-3.0")
    assert unrealized_pnl(position=D(0), entry_price=D(0), mark_price=None) == 0
    assert unrealized_pnl(position=D(1), entry_price=D(100), mark_price=None) is None


def test_stop_loss_at_exactly_the_threshold_triggers_the_seed_flow() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-25), take_profit=D(50)))
    # 0.8 long from 100, mark 68.75: (68.75 - 100) * 0.8 = -25 exactly.
    decision = guardian.decide(obs(2.0, position=D("0.8"), entry_price=D(100), mark_price=D("68.75")))
    assert decision.unrealized_pnl == D(-25)
    assert decision.actions[:3] == (
        SetState(REDUCING, Reason.STOP_LOSS),
        CancelAll(Reason.STOP_LOSS),
        ClosePosition(Side.SELL, D("0.8"), Reason.STOP_LOSS, 1),
    )
    (line,) = of(decision, Log)
    assert (line.key, line.message) == ("stop_loss", "止損觸發，已以市價平倉")
    assert "upnl=-25" in line.detail


def test_just_inside_the_stop_loss_nothing_happens() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-25)))
    # (68.76 - 100) * 0.8 = -24.992
    quiet = guardian.decide(obs(2.0, position=D("0.8"), entry_price=D(100), mark_price=D("68.76")))
    assert quiet.actions == () and quiet.unrealized_pnl == D("-24.992")


def test_stop_loss_on_a_short_buys_back_everything() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-25)))
    decision = guardian.decide(obs(2.0, position=D("-0.8"), entry_price=D(100), mark_price=D(140)))
    assert of(decision, ClosePosition) == [ClosePosition(Side.BUY, D("0.8"), Reason.STOP_LOSS, 1)]


def test_take_profit_in_english_and_back_to_active_when_flat() -> None:
    guardian = armed(limits(max_position=D(5), take_profit=D(50), sl_cooldown_s=60.0), lang="en")
    # 2 long from 100, mark 126: +52.
    decision = guardian.decide(obs(2.0, position=D(2), entry_price=D(100), mark_price=D(126)))
    assert (decision.state, decision.reason) == (REDUCING, Reason.TAKE_PROFIT)
    assert of(decision, ClosePosition) == [ClosePosition(Side.SELL, D(2), Reason.TAKE_PROFIT, 1)]
    (line,) = of(decision, Log)
    assert (line.key, line.message) == ("take_profit", "Take-profit triggered, profit locked in")
    # The stop-loss cooldown does not apply to a take-profit.
    flat = guardian.decide(obs(3.0))
    assert flat.actions[0] == SetState(ACTIVE, Reason.NONE)
    assert log_keys(flat) == ["exit_done"]


def test_stop_loss_message_in_english() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-1)), lang="en")
    decision = guardian.decide(obs(2.0, position=D(1), entry_price=D(100), mark_price=D(98)))
    (line,) = of(decision, Log)
    assert line.message == "Stop-loss triggered, position closed at market"


def test_stop_loss_is_latched_until_flat_even_if_the_price_recovers() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-25)))
    (close,) = of(
        guardian.decide(obs(2.0, position=D("0.8"), entry_price=D(100), mark_price=D(60))), ClosePosition
    )
    guardian.close_result(close.close_id, ok=True)
    # Partly filled, and the price came back: the rest is still closed.
    rest = guardian.decide(obs(3.0, position=D("0.3"), entry_price=D(100), mark_price=D(101)))
    assert rest.state is REDUCING
    assert of(rest, ClosePosition) == [ClosePosition(Side.SELL, D("0.3"), Reason.STOP_LOSS, 2)]
    assert not of(rest, CancelAll) and not log_keys(rest)


def test_stop_loss_cooldown_keeps_reducing_then_active() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-25), sl_cooldown_s=30.0))
    guardian.decide(obs(2.0, position=D(1), entry_price=D(100), mark_price=D(70)))
    assert guardian.decide(obs(3.0)).actions == ()  # flat from t=3
    assert guardian.decide(obs(32.9)).state is REDUCING
    resumed = guardian.decide(obs(33.0))
    assert resumed.actions == (SetState(ACTIVE, Reason.NONE), *of(resumed, Log))
    assert log_keys(resumed) == ["exit_done"]


def test_stop_loss_with_no_cooldown_resumes_as_soon_as_flat() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-25)))
    guardian.decide(obs(2.0, position=D(1), entry_price=D(100), mark_price=D(70)))
    assert guardian.decide(obs(2.5)).state is ACTIVE


@pytest.mark.parametrize("mark", [D(1), D(10_000)])
def test_a_flat_position_never_triggers(mark: D) -> None:
    guardian = armed(limits(stop_loss=D(-1), take_profit=D(1)))
    decision = guardian.decide(obs(2.0, position=D(0), entry_price=D(100), mark_price=mark))
    assert decision.actions == () and decision.unrealized_pnl == 0


def test_a_stale_mark_does_not_trigger_stop_loss() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-25)))
    stale = guardian.decide(obs(2.0, position=D(1), entry_price=D(100), mark_price=D(50), md_age_s=9.0))
    assert (stale.state, stale.reason) == (HALTED, Reason.MD_STALE)
    assert not of(stale, ClosePosition)
    fresh = guardian.decide(obs(3.0, position=D(1), entry_price=D(100), mark_price=D(50)))
    assert (fresh.state, fresh.reason) == (REDUCING, Reason.STOP_LOSS)
    assert of(fresh, ClosePosition) == [ClosePosition(Side.SELL, D(1), Reason.STOP_LOSS, 1)]


def test_stop_loss_waits_for_an_in_flight_excess_close_then_closes_the_rest() -> None:
    guardian = armed(limits(stop_loss=D(-25)))
    (excess,) = of(guardian.decide(obs(2.0, position=D("0.5"), entry_price=D(100))), ClosePosition)
    triggered = guardian.decide(obs(2.2, position=D("0.5"), entry_price=D(100), mark_price=D(40)))
    assert (triggered.state, triggered.reason) == (REDUCING, Reason.STOP_LOSS)
    assert not of(triggered, ClosePosition)
    guardian.close_result(excess.close_id, ok=True)
    rest = guardian.decide(obs(2.4, position=D("0.4"), entry_price=D(100), mark_price=D(40)))
    assert of(rest, ClosePosition) == [ClosePosition(Side.SELL, D("0.4"), Reason.STOP_LOSS, 2)]


# ---------------------------------------------------------------- hang watchdog


def test_hang_halts_cancels_and_restarts() -> None:
    guardian = armed()
    assert guardian.decide(obs(2.0, strategy_heartbeat_age_s=1.5)).actions == ()  # at the limit: fresh
    hung = guardian.decide(obs(2.1, position=D("0.2"), entry_price=D(100), strategy_heartbeat_age_s=1.6))
    assert hung.actions[:3] == (
        SetState(HALTED, Reason.STRATEGY_HANG),
        CancelAll(Reason.STRATEGY_HANG),
        RestartStrategy(Reason.STRATEGY_HANG),
    )
    assert not of(hung, ClosePosition)  # on_hang="cancel" leaves the position
    (line,) = of(hung, Log)
    assert (line.key, line.level) == ("strategy_hang", "error")


def test_hang_with_flatten_closes_the_whole_position() -> None:
    guardian = armed(limits(on_hang="flatten"))
    hung = guardian.decide(obs(2.0, position=D("-0.3"), entry_price=D(100), strategy_heartbeat_age_s=3.0))
    assert kinds(hung) == [SetState, CancelAll, ClosePosition, RestartStrategy, Log]
    assert of(hung, ClosePosition) == [ClosePosition(Side.BUY, D("0.3"), Reason.STRATEGY_HANG, 1)]


def test_hang_recovers_only_after_steady_heartbeats() -> None:
    guardian = armed(limits(hang_settle_s=1.0))
    guardian.decide(obs(2.0, strategy_heartbeat_age_s=2.0))
    assert guardian.decide(obs(3.0, strategy_instance="s2")).state is HALTED  # fresh from t=3
    assert guardian.decide(obs(3.9, strategy_instance="s2")).state is HALTED
    # A gap restarts the settle time without a second hang reaction.
    gap = guardian.decide(obs(4.0, strategy_instance="s2", strategy_heartbeat_age_s=1.7))
    assert gap.actions == ()
    assert guardian.decide(obs(4.5, strategy_instance="s2")).state is HALTED
    assert guardian.decide(obs(5.4, strategy_instance="s2")).state is HALTED
    back = guardian.decide(obs(5.5, strategy_instance="s2"))
    assert back.actions[0] == SetState(ACTIVE, Reason.NONE)
    assert log_keys(back) == ["strategy_recovered"]


def test_a_new_instance_restarts_the_settle_time() -> None:
    guardian = armed(limits(hang_settle_s=1.0))
    guardian.decide(obs(2.0, strategy_heartbeat_age_s=2.0))
    guardian.decide(obs(3.0, strategy_instance="s2"))
    swapped = guardian.decide(obs(3.8, strategy_instance="s3"))
    assert swapped.state is HALTED and log_keys(swapped) == ["strategy_instance"]
    assert guardian.decide(obs(4.5, strategy_instance="s3")).state is HALTED
    assert guardian.decide(obs(4.8, strategy_instance="s3")).state is ACTIVE


def test_a_still_hung_strategy_is_restarted_again_after_the_interval() -> None:
    guardian = armed(limits(restart_interval_s=30.0))
    guardian.decide(obs(2.0, strategy_heartbeat_age_s=2.0))
    assert guardian.decide(obs(31.9, strategy_heartbeat_age_s=31.9)).actions == ()
    again = guardian.decide(obs(32.0, strategy_heartbeat_age_s=32.0))
    assert again.actions == (RestartStrategy(Reason.STRATEGY_HANG),)


# ---------------------------------------------------------------- a strategy that finished its run


def test_a_finished_strategy_halts_once_and_is_never_restarted_nor_flattened() -> None:
    guardian = armed(limits(on_hang="flatten", restart_interval_s=30.0))
    long = {"position": D("0.3"), "entry_price": D(100)}
    done = guardian.decide(obs(2.0, strategy_finished="s1", **long))
    assert done.actions[:2] == (SetState(HALTED, Reason.STRATEGY_DONE), CancelAll(Reason.STRATEGY_DONE))
    assert log_keys(done) == ["strategy_done"] and of(done, Log)[0].level == "info"
    # Its heartbeats go on while it exits, then stop for good: no hang, no restart, no close.
    assert guardian.decide(obs(2.5, strategy_finished="s1", **long)).actions == ()
    for now_s in (4.0, 31.0, 65.0, 120.0):
        quiet = guardian.decide(
            obs(now_s, strategy_finished="s1", strategy_heartbeat_age_s=now_s - 2, **long)
        )
        assert quiet.actions == () and (quiet.state, quiet.reason) == (HALTED, Reason.STRATEGY_DONE)


def test_a_new_instance_after_a_finished_one_is_watched_again_once_steady() -> None:
    guardian = armed(limits(hang_settle_s=1.0))
    guardian.decide(obs(2.0, strategy_finished="s1"))
    guardian.decide(obs(5.0, strategy_finished="s1", strategy_heartbeat_age_s=3.0))
    settling = guardian.decide(obs(6.0, strategy_finished="s1", strategy_instance="s2"))
    assert (settling.state, settling.reason) == (HALTED, Reason.STRATEGY_DONE)
    assert log_keys(settling) == ["strategy_instance"] and not of(settling, RestartStrategy)
    back = guardian.decide(obs(7.0, strategy_finished="s1", strategy_instance="s2"))
    assert back.actions[0] == SetState(ACTIVE, Reason.NONE)
    # The new instance going silent is a hang like any other.
    hung = guardian.decide(
        obs(9.0, strategy_finished="s1", strategy_instance="s2", strategy_heartbeat_age_s=2.0)
    )
    assert hung.actions[:3] == (
        SetState(HALTED, Reason.STRATEGY_HANG),
        CancelAll(Reason.STRATEGY_HANG),
        RestartStrategy(Reason.STRATEGY_HANG),
    )


def test_a_new_instance_that_hangs_before_settling_is_caught() -> None:
    guardian = armed(limits(hang_settle_s=1.0))
    guardian.decide(obs(2.0, strategy_finished="s1"))
    guardian.decide(obs(3.0, strategy_finished="s1", strategy_instance="s2"))
    hung = guardian.decide(
        obs(5.0, strategy_finished="s1", strategy_instance="s2", strategy_heartbeat_age_s=2.0)
    )
    assert (hung.state, hung.reason) == (HALTED, Reason.STRATEGY_HANG)
    assert of(hung, RestartStrategy) == [RestartStrategy(Reason.STRATEGY_HANG)]


def test_the_next_instance_finishing_halts_again() -> None:
    guardian = armed(limits(hang_settle_s=1.0))
    guardian.decide(obs(2.0, strategy_finished="s1"))
    guardian.decide(obs(3.0, strategy_finished="s1", strategy_instance="s2"))
    guardian.decide(obs(4.0, strategy_finished="s1", strategy_instance="s2"))
    second = guardian.decide(obs(5.0, strategy_finished="s2", strategy_instance="s2"))
    assert second.actions[:2] == (SetState(HALTED, Reason.STRATEGY_DONE), CancelAll(Reason.STRATEGY_DONE))


# ---------------------------------------------------------------- stale market data


def test_stale_market_data_halts_without_restart_until_fresh() -> None:
    guardian = armed(limits(md_stale_s=5.0))
    assert guardian.decide(obs(2.0, md_age_s=5.0)).actions == ()  # at the limit: fresh
    stale = guardian.decide(obs(2.1, md_age_s=5.1))
    assert stale.actions[:2] == (SetState(HALTED, Reason.MD_STALE), CancelAll(Reason.MD_STALE))
    assert log_keys(stale) == ["md_stale"] and not of(stale, RestartStrategy)
    assert guardian.decide(obs(3.0, md_age_s=6.0)).actions == ()
    fresh = guardian.decide(obs(3.1, md_age_s=0.1))
    assert fresh.actions[0] == SetState(ACTIVE, Reason.NONE)
    assert log_keys(fresh) == ["md_recovered"]


def test_a_missing_mark_counts_as_stale() -> None:
    guardian = armed()
    assert guardian.decide(obs(2.0, mark_price=None)).reason is Reason.MD_STALE


def test_orders_still_open_while_halted_are_cancelled_again() -> None:
    guardian = armed(limits(cancel_retry_s=2.0))
    guardian.decide(obs(2.0, md_age_s=9.0, open_orders=3))
    assert guardian.decide(obs(3.9, md_age_s=9.0, open_orders=3)).actions == ()
    again = guardian.decide(obs(4.0, md_age_s=9.0, open_orders=3))
    assert again.actions[0] == CancelAll(Reason.MD_STALE) and log_keys(again) == ["cancel_retry"]
    assert guardian.decide(obs(9.0, md_age_s=9.0, open_orders=0)).actions == ()


# ---------------------------------------------------------------- margin


def test_margin_fraction_at_or_below_the_limit_reduces_until_it_recovers() -> None:
    # Margin fraction is equity over position notional: lower is closer to liquidation.
    guardian = armed(limits(margin_fraction_limit=D("0.1")))
    assert guardian.decide(obs(2.0, margin_fraction=D("0.11"))).actions == ()
    low = guardian.decide(obs(3.0, margin_fraction=D("0.1")))
    assert low.actions[:2] == (SetState(REDUCING, Reason.MARGIN), CancelAll(Reason.MARGIN))
    assert log_keys(low) == ["margin"]
    assert guardian.decide(obs(4.0, margin_fraction=D("0.05"))).actions == ()
    assert guardian.decide(obs(5.0, margin_fraction=D("0.5"))).actions == (SetState(ACTIVE, Reason.NONE),)


def test_no_margin_fraction_means_no_position_at_risk() -> None:
    guardian = armed(limits(margin_fraction_limit=D("0.1")))
    guardian.decide(obs(2.0, margin_fraction=D("0.02")))
    assert guardian.decide(obs(3.0, margin_fraction=None)).state is ACTIVE


# ---------------------------------------------------------------- manual commands and priority


def test_manual_halt_survives_heartbeats_until_resume() -> None:
    guardian = armed()
    guardian.halt("maintenance")
    halted = guardian.decide(obs(2.0))
    assert halted.actions[:2] == (SetState(HALTED, Reason.MANUAL), CancelAll(Reason.MANUAL))
    (line,) = of(halted, Log)
    assert (line.key, line.detail) == ("manual_halt", "maintenance")
    for t in (3.0, 10.0, 100.0):
        assert guardian.decide(obs(t)).actions == ()
    assert guardian.state is HALTED
    guardian.resume()
    resumed = guardian.decide(obs(101.0))
    assert resumed.actions[0] == SetState(ACTIVE, Reason.NONE) and log_keys(resumed) == ["manual_resume"]


def test_manual_halt_outranks_a_strategy_hang_and_outlives_its_recovery() -> None:
    guardian = armed()
    guardian.halt()
    guardian.decide(obs(2.0, strategy_heartbeat_age_s=5.0))
    assert guardian.reason is Reason.MANUAL
    guardian.decide(obs(3.0))
    assert guardian.decide(obs(9.0)).reason is Reason.MANUAL


def test_flatten_cancels_and_closes_everything_then_resumes() -> None:
    guardian = armed()
    guardian.flatten()
    decision = guardian.decide(obs(2.0, position=D("0.3"), entry_price=D(100)))
    assert decision.actions[:3] == (
        SetState(REDUCING, Reason.FLATTEN),
        CancelAll(Reason.FLATTEN),
        ClosePosition(Side.SELL, D("0.3"), Reason.FLATTEN, 1),
    )
    assert log_keys(decision) == ["flatten"]
    assert guardian.decide(obs(2.5)).actions == (SetState(ACTIVE, Reason.NONE),)


def test_flatten_when_flat_only_cancels() -> None:
    guardian = armed()
    guardian.flatten()
    decision = guardian.decide(obs(2.0))
    assert kinds(decision) == [CancelAll, Log] and decision.state is ACTIVE


def test_halted_beats_reducing_and_the_close_still_goes_out() -> None:
    guardian = armed(limits(stop_loss=D(-10)))
    guardian.halt()
    decision = guardian.decide(obs(2.0, position=D("0.5"), entry_price=D(100), mark_price=D(50)))
    assert (decision.state, decision.reason) == (HALTED, Reason.MANUAL)
    assert decision.actions[1] == CancelAll(Reason.MANUAL)
    assert of(decision, ClosePosition) == [ClosePosition(Side.SELL, D("0.5"), Reason.STOP_LOSS, 1)]
    assert log_keys(decision) == ["manual_halt", "stop_loss", "max_position"]
    guardian.resume()
    assert guardian.decide(obs(2.5, position=D("0.5"), entry_price=D(100))).reason is Reason.STOP_LOSS


def test_max_position_close_goes_out_while_market_data_is_stale() -> None:
    guardian = armed()
    decision = guardian.decide(obs(2.0, position=D("0.6"), entry_price=D(100), md_age_s=30.0))
    assert (decision.state, decision.reason) == (HALTED, Reason.MD_STALE)
    assert of(decision, ClosePosition) == [ClosePosition(Side.SELL, D("0.2"), Reason.MAX_POSITION, 1)]


def test_actions_come_in_execution_order() -> None:
    guardian = armed(limits(max_position=D(5), stop_loss=D(-1)))
    decision = guardian.decide(obs(2.0, position=D(1), entry_price=D(100), mark_price=D(90)))
    assert kinds(decision) == [SetState, CancelAll, ClosePosition, Log]


# ---------------------------------------------------------------- PnL cross-check


def test_mismatch_with_the_venue_pnl_alerts_once_then_clears() -> None:
    guardian = armed(limits(max_position=D(5), pnl_disagreement_tolerance=D(1)))
    position = {"position": D(2), "entry_price": D(100), "mark_price": D(95)}  # ours: -10
    assert guardian.decide(obs(2.0, **position, venue_unrealized_pnl=D(-11))).actions == ()  # within
    alert = guardian.decide(obs(3.0, **position, venue_unrealized_pnl=D("-12.5")))
    (mismatch,) = of(alert, AlertMismatch)
    assert (mismatch.ours, mismatch.venue, mismatch.difference) == (D(-10), D("-12.5"), D("2.5"))
    assert mismatch.message == "未實現盈虧與交易所數據不一致"
    assert alert.state is ACTIVE  # an alert, not a trading-state change
    assert guardian.decide(obs(4.0, **position, venue_unrealized_pnl=D("-12.5"))).actions == ()
    assert guardian.decide(obs(5.0, **position, venue_unrealized_pnl=None)).actions == ()
    cleared = guardian.decide(obs(6.0, **position, venue_unrealized_pnl=D("-10.2")))
    assert log_keys(cleared) == ["pnl_mismatch_cleared"]


# ---------------------------------------------------------------- construction


def test_guardian_refuses_an_unknown_language() -> None:
    with pytest.raises(ValueError, match="lang"):
        Guardian(limits(), lang="fr")  # type: ignore[arg-type]


# ---------------------------------------------------------------- watch mode and the market-data feed


def test_without_the_hang_watchdog_no_heartbeat_is_needed() -> None:
    guardian = Guardian(limits(watch_strategy=False, startup_grace_s=1.0))
    first = guardian.decide(obs(0.0, strategy_heartbeat_age_s=None, strategy_instance=None))
    assert first.state is ACTIVE
    later = guardian.decide(obs(60.0, strategy_heartbeat_age_s=None, strategy_instance=None))
    assert (later.state, of(later, RestartStrategy), of(later, CancelAll)) == (ACTIVE, [], [])


def test_a_stale_feed_halts_and_cancels_while_a_fresh_polled_mark_still_stops_losses() -> None:
    guardian = armed(limits(watch_feed=True, stop_loss=D(-5)))
    stale = guardian.decide(obs(2.0, feed_age_s=6.0, position=D("0.3"), entry_price=D(100)))
    assert (stale.state, stale.reason) == (HALTED, Reason.MD_STALE)
    assert of(stale, CancelAll) == [CancelAll(Reason.MD_STALE)]
    assert "md_stale" in log_keys(stale)
    loss = guardian.decide(obs(2.5, feed_age_s=6.5, position=D("0.3"), entry_price=D(120)))
    assert of(loss, ClosePosition) == [ClosePosition(Side.SELL, D("0.3"), Reason.STOP_LOSS, 1)]
    assert loss.state is HALTED


def test_a_fresh_feed_again_lifts_the_halt() -> None:
    guardian = armed(limits(watch_feed=True))
    assert guardian.decide(obs(2.0, feed_age_s=5.5)).state is HALTED
    back = guardian.decide(obs(3.0, feed_age_s=0.1))
    assert back.state is ACTIVE
    assert "md_recovered" in log_keys(back)


def test_a_feed_never_seen_gets_the_startup_grace() -> None:
    guardian = Guardian(limits(watch_feed=True, startup_grace_s=10.0, hang_settle_s=0.0))
    early = guardian.decide(obs(0.0, feed_age_s=None))
    assert (early.reason, of(early, CancelAll)) == (Reason.MD_STALE, [])
    late = guardian.decide(obs(10.0, feed_age_s=None))
    assert of(late, CancelAll) == [CancelAll(Reason.MD_STALE)]


def test_the_mark_may_be_as_old_as_its_own_limit_while_the_feed_keeps_md_stale() -> None:
    guardian = armed(limits(watch_feed=True, md_stale_s=1.0, mark_stale_s=3.0))
    assert guardian.decide(obs(2.0, md_age_s=2.5, feed_age_s=0.2)).state is ACTIVE
    assert guardian.decide(obs(3.0, md_age_s=3.5, feed_age_s=0.2)).reason is Reason.MD_STALE
    assert guardian.decide(obs(4.0, md_age_s=0.1, feed_age_s=1.5)).reason is Reason.MD_STALE
    assert guardian.decide(obs(5.0, md_age_s=0.1, feed_age_s=0.1)).state is ACTIVE


def test_a_position_not_read_for_too_long_halts_and_cancels() -> None:
    guardian = armed(limits(md_stale_s=2.0))
    blind = guardian.decide(obs(2.0, position_age_s=2.5))
    assert (blind.state, blind.reason) == (HALTED, Reason.POSITION_UNKNOWN)
    assert of(blind, CancelAll) == [CancelAll(Reason.POSITION_UNKNOWN)]
    assert "position_unknown" in log_keys(blind)
    back = guardian.decide(obs(3.0, position_age_s=0.1))
    assert back.state is ACTIVE and "position_recovered" in log_keys(back)


def test_a_position_never_read_halts_quietly_until_the_grace_ends() -> None:
    guardian = Guardian(limits(startup_grace_s=5.0, hang_settle_s=0.0))
    early = guardian.decide(obs(0.0, position_age_s=None))
    assert (early.state, early.reason, of(early, CancelAll)) == (HALTED, Reason.POSITION_UNKNOWN, [])
    late = guardian.decide(obs(5.0, position_age_s=None))
    assert of(late, CancelAll) == [CancelAll(Reason.POSITION_UNKNOWN)]
