"""Limits validation and the guardian's operator texts."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from risk.model import LOG_KEYS, Limits, Reason, text


def make(**overrides: Any) -> Limits:
    base: dict[str, Any] = {"symbol": "BTC-USD-PERP", "max_position": D(1)}
    base.update(overrides)
    return Limits(**base)


def test_defaults_match_the_design() -> None:
    lim = make()
    assert (lim.hang_timeout_s, lim.md_stale_s, lim.sl_cooldown_s, lim.hang_settle_s) == (1.5, 5.0, 0.0, 1.0)
    assert lim.on_hang == "cancel" and lim.stop_loss is None and lim.margin_fraction_limit is None


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"max_position": D(0)}, "max_position"),
        ({"stop_loss": D(25)}, "negative"),
        ({"stop_loss": D(0)}, "negative"),
        ({"take_profit": D(-5)}, "take_profit"),
        ({"on_hang": "ignore"}, "on_hang"),
        ({"margin_fraction_limit": D("-0.1")}, "margin_fraction_limit"),
        ({"margin_fraction_limit": D(0)}, "margin_fraction_limit"),
        ({"pnl_disagreement_tolerance": D(-1)}, "tolerance"),
        ({"hang_timeout_s": 0.0}, "hang_timeout_s"),
        ({"close_timeout_s": -1.0}, "close_timeout_s"),
        ({"sl_cooldown_s": -1.0}, "sl_cooldown_s"),
    ],
)
def test_nonsense_limits_are_refused(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(**overrides)


def test_every_log_key_has_both_languages_and_the_seed_texts() -> None:
    for key in LOG_KEYS:
        assert text(key, "zh") and text(key, "en") and text(key, "zh") != text(key, "en")
    assert text("stop_loss", "zh") == "止損觸發，已以市價平倉"
    assert text("take_profit", "zh") == "止盈觸發，已鎖定利潤"
    assert text("stop_loss", "en") == "Stop-loss triggered, position closed at market"
    assert text("take_profit", "en") == "Take-profit triggered, profit locked in"


def test_state_reasons_are_stable_strings() -> None:
    assert {r.value for r in Reason} == {
        "",
        "startup",
        "manual",
        "strategy_hang",
        "strategy_done",
        "md_stale",
        "position_unknown",
        "stop_loss",
        "take_profit",
        "flatten",
        "max_position",
        "margin",
    }
