"""``ReadyGate``: the private stream is LIVE for the order gateway only while the dead-man switch is armed."""

from __future__ import annotations

from services.wire import ExStatus, FeedState
from venues.paradex.session_gate import SWITCH_DOWN, ReadyGate

LIVE = ExStatus(state=FeedState.LIVE)
DROPPED = ExStatus(state=FeedState.RECONNECTING, reason="socket closed")


def test_live_waits_for_the_switch() -> None:
    gate = ReadyGate(armed=False)
    assert gate.on_stream(LIVE) is None
    assert gate.on_switch(True) == LIVE
    assert gate.on_switch(True) is None  # said once


def test_an_armed_switch_lets_the_stream_say_live() -> None:
    gate = ReadyGate(armed=True)
    assert gate.on_stream(LIVE) == LIVE


def test_a_lost_switch_reports_reconnecting_until_it_is_armed_again() -> None:
    gate = ReadyGate(armed=True)
    gate.on_stream(LIVE)
    down = gate.on_switch(False)
    assert down is not None and down.state is FeedState.RECONNECTING and down.reason == SWITCH_DOWN
    assert gate.on_switch(False) is None
    assert gate.on_switch(True) == LIVE


def test_the_stream_own_drop_passes_through_and_live_needs_both() -> None:
    gate = ReadyGate(armed=True)
    gate.on_stream(LIVE)
    assert gate.on_stream(DROPPED) == DROPPED
    assert gate.on_switch(False) is None  # already reported down
    assert gate.on_stream(LIVE) is None
    assert gate.on_switch(True) == LIVE
