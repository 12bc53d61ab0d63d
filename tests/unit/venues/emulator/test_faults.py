"""Fault sets: validation, replacement, seeded draws, the freeze window and one-shot depth gaps."""

from __future__ import annotations

import pytest

from venues.emulator.faults import FaultSpec, FaultState, RestFault, parse_faults


def test_parse_accepts_the_documented_faults_and_defaults_the_rest() -> None:
    spec = parse_faults({"latency_ms": 50, "error_rate": 0.25, "drop_ws": True, "clock_offset_ms": -1500})
    assert spec == FaultSpec(latency_ms=50, error_rate=0.25, drop_ws=True, clock_offset_ms=-1500)
    assert parse_faults({}) == FaultSpec()


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"error_rate": 1.5},
        {"rate_limit_rate": -0.1},
        {"latency_ms": 1.5},
        {"latency_ms": True},
        {"freeze_s": "2"},
        {"drop_ws": 1},
        {"hang_after_execute": -1},
        {"explode": True},
    ],
)
def test_parse_refuses_bad_fault_sets(body: object) -> None:
    with pytest.raises(ValueError):
        parse_faults(body)


def test_draws_are_seeded_and_follow_the_rates() -> None:
    def draws(seed: int) -> list[RestFault | None]:
        state = FaultState(seed=seed)
        state.apply(FaultSpec(error_rate=0.5), now_s=0)
        return [state.draw_rest_fault() for _ in range(200)]

    first = draws(4)
    assert first == draws(4)
    assert {RestFault.UNAVAILABLE, RestFault.INTERNAL, None} == set(first)
    state = FaultState(seed=1)
    state.apply(FaultSpec(rate_limit_rate=1.0, error_rate=1.0), now_s=0)
    assert state.draw_rest_fault() is RestFault.RATE_LIMITED
    state.apply(FaultSpec(), now_s=0)
    assert all(state.draw_rest_fault() is None for _ in range(50))


def test_hangs_count_down_and_a_new_set_replaces_the_old() -> None:
    state = FaultState(seed=1)
    state.apply(FaultSpec(hang_after_execute=2), now_s=0)
    assert [state.take_hang() for _ in range(3)] == [True, True, False]
    state.apply(FaultSpec(hang_after_execute=1), now_s=0)
    state.apply(FaultSpec(), now_s=0)
    assert not state.take_hang()


def test_freeze_is_a_window_from_when_it_was_set() -> None:
    state = FaultState(seed=1)
    state.apply(FaultSpec(freeze_s=3.0), now_s=100.0)
    assert state.freeze_remaining_s(101.0) == 2.0
    assert state.freeze_remaining_s(103.5) == 0.0
    state.apply(FaultSpec(), now_s=101.0)
    assert state.freeze_remaining_s(101.0) == 0.0


def test_depth_gap_drops_one_message_per_symbol() -> None:
    state = FaultState(seed=1)
    symbols = {"A", "B"}
    state.apply(FaultSpec(depth_gap=True), now_s=0)
    assert [state.take_depth_gap(s, symbols=symbols) for s in ("A", "A", "B", "B")] == [
        True,
        False,
        True,
        False,
    ]
    assert not state.depth_gap_pending


def test_malformed_ws_is_once_per_stream_until_set_again() -> None:
    state = FaultState(seed=1)
    assert not state.take_malformed("depth.A")
    state.apply(parse_faults({"malformed_ws": True}), now_s=0)
    assert [state.take_malformed(s) for s in ("depth.A", "depth.A", "trade.A")] == [True, False, True]
    state.apply(FaultSpec(malformed_ws=True), now_s=0)
    assert state.take_malformed("depth.A")
    state.apply(FaultSpec(), now_s=0)
    assert not state.take_malformed("trade.B")


def test_replay_fills_and_malformed_ws_are_flags() -> None:
    spec = parse_faults({"replay_fills": True})
    assert spec.replay_fills and not spec.malformed_ws
    assert spec.to_json()["replay_fills"] is True
    with pytest.raises(ValueError, match="replay_fills must be true or false"):
        parse_faults({"replay_fills": 1})


def test_expire_listen_keys_is_taken_once() -> None:
    state = FaultState(seed=1)
    assert not state.take_listen_key_expiry()
    state.apply(parse_faults({"expire_listen_keys": True}), now_s=0)
    assert [state.take_listen_key_expiry() for _ in range(2)] == [True, False]


def test_user_events_out_of_order_is_a_flag() -> None:
    assert parse_faults({"user_events_out_of_order": True}).user_events_out_of_order
    assert parse_faults({}).to_json()["user_events_out_of_order"] is False
    with pytest.raises(ValueError, match="user_events_out_of_order"):
        parse_faults({"user_events_out_of_order": "yes"})
