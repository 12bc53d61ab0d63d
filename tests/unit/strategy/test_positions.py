from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
import strategy_fakes

from services.wire import Side
from strategy.positions import GuardianZone, PositionAction, ReduceAction, position_action
from venues.precision import MarketRules, fmt

RULES = replace(strategy_fakes.RULES, min_notional=D("5"))


def act(
    position: str, *, target: str = "0", threshold: str = "0.2", max_position: str = "0.4"
) -> PositionAction:
    return position_action(
        D(position),
        target_position=D(target),
        threshold=D(threshold),
        max_position=D(max_position),
        rules=RULES,
    )


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        # the original's table: target 0, threshold 0.2, max 0.4
        ("0.1", None),
        ("0.25", ReduceAction(Side.SELL, D("0.05"))),
        ("0.5", GuardianZone(Side.SELL, D("0.1"))),
        # and the same short
        ("-0.1", None),
        ("-0.25", ReduceAction(Side.BUY, D("0.05"))),
        ("-0.5", GuardianZone(Side.BUY, D("0.1"))),
        # the band edges: <= target + threshold is nothing, exactly max is still the strategy's
        ("0", None),
        ("0.2", None),
        ("-0.2", None),
        ("0.4", ReduceAction(Side.SELL, D("0.2"))),
        ("-0.4", ReduceAction(Side.BUY, D("0.2"))),
        ("0.41", GuardianZone(Side.SELL, D("0.01"))),
    ],
)
def test_original_position_table(position: str, expected: PositionAction) -> None:
    action = act(position)
    assert action == expected
    if isinstance(action, ReduceAction):
        assert action.quantity <= abs(D(position))  # never flips


def test_target_is_absolute() -> None:
    # target 1 (or -1), threshold 0.5: a 2.0 position of either sign reduces 0.5
    assert act("2.0", target="1", threshold="0.5", max_position="3") == ReduceAction(Side.SELL, D("0.5"))
    assert act("-2.0", target="1", threshold="0.5", max_position="3") == ReduceAction(Side.BUY, D("0.5"))
    assert act("-2.0", target="-1", threshold="0.5", max_position="3") == ReduceAction(Side.BUY, D("0.5"))
    assert act("1.4", target="-1", threshold="0.5", max_position="3") is None


def test_reduce_floors_to_the_step() -> None:
    assert act("0.257") == ReduceAction(Side.SELL, D("0.05"))


def test_reduce_below_min_quantity_is_nothing() -> None:
    # 0.205 - 0.2 = 0.005 floors to 0 at step 0.01
    assert act("0.205") is None
    coarse = MarketRules("X", "SOL", "USDC", D("0.01"), D("0.01"), min_quantity=D("0.1"))
    assert (
        position_action(
            D("0.25"), target_position=D(0), threshold=D("0.2"), max_position=D("0.4"), rules=coarse
        )
        is None
    )


def test_reduce_is_exempt_from_min_notional() -> None:
    # 0.05 SOL is far below 5 USDC notional at any SOL price; reduce-only orders pass anyway
    assert isinstance(act("0.25"), ReduceAction)


def test_guardian_zone_blocks_the_growing_side() -> None:
    zone = act("-0.5")
    assert isinstance(zone, GuardianZone)
    assert zone.close_side is Side.BUY and zone.blocked_side is Side.SELL
    assert zone.excess == D("0.1")


def test_decimal_exact() -> None:
    # in float 0.3 - 0.1 is 0.19999999999999998, which would floor to 0.19
    action = act("0.3", threshold="0.1", max_position="0.7")
    assert isinstance(action, ReduceAction)
    assert type(action.quantity) is D and fmt(action.quantity) == "0.2"


@pytest.mark.parametrize(("threshold", "max_position"), [("-0.1", "0.4"), ("0.2", "0")])
def test_rejects_bad_parameters(threshold: str, max_position: str) -> None:
    with pytest.raises(ValueError):
        act("0.1", threshold=threshold, max_position=max_position)


def test_a_reduce_larger_than_one_order_may_be_is_capped_and_done_over_rounds() -> None:
    capped = replace(RULES, max_quantity=D("0.5"), max_market_quantity=D("0.03"))

    def reduce(position: str, *, market: bool) -> PositionAction:
        return position_action(
            D(position),
            target_position=D(0),
            threshold=D("0.2"),
            max_position=D(5),
            rules=capped,
            market=market,
        )

    # 0.1 to reduce: one market order may hold 0.03, a limit one 0.5.
    assert reduce("0.3", market=True) == ReduceAction(Side.SELL, D("0.03"))
    assert reduce("-0.3", market=False) == ReduceAction(Side.BUY, D("0.1"))
