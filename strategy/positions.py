"""The original's position table: what to do about the net position, given target, threshold and max.

All three compare ``|pos|`` with the absolute target (the original treats the
target as a size, whichever the direction):

- ``|pos| <= target + threshold``: nothing.
- ``target + threshold < |pos| <= max``: the strategy reduces exactly
  ``|pos| - (target + threshold)`` with a reduce-only order on the side that
  shrinks the position (``ReduceAction``).
- ``|pos| > max``: the guardian closes ``|pos| - max`` at once
  (``GuardianZone``); the strategy does not send its own reduce there, so two
  processes never race to close the same size, and its quoter adds nothing on
  that side (the ladder never passes ``max_position``).

A reduce never flips the position: its size is at most ``|pos|`` by
construction.  Sizes floor to the step; a reduce below the venue's minimum
quantity is no action (reduce-only orders are exempt from the minimum
notional on every venue, see ``precision.check_order``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.wire import Side
from venues.precision import MarketRules, check_order, snap_quantity


@dataclass(frozen=True, slots=True)
class ReduceAction:
    """Send a reduce-only order of ``quantity`` on ``side``."""

    side: Side
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class GuardianZone:
    """The position is beyond max: the guardian closes ``excess`` on ``close_side``; add nothing to it."""

    close_side: Side
    excess: Decimal

    @property
    def blocked_side(self) -> Side:
        """The side that would grow the position further."""
        return self.close_side.opposite


PositionAction = ReduceAction | GuardianZone | None


def position_action(
    position: Decimal,
    *,
    target_position: Decimal,
    threshold: Decimal,
    max_position: Decimal,
    rules: MarketRules,
) -> PositionAction:
    """What the position table says for this signed net position (None: nothing to do)."""
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if max_position <= 0:
        raise ValueError(f"max_position must be > 0, got {max_position}")
    size = abs(position)
    if size == 0:
        return None
    close_side = Side.SELL if position > 0 else Side.BUY
    if size > max_position:
        return GuardianZone(close_side, size - max_position)
    band = abs(target_position) + threshold
    if size <= band:
        return None
    quantity = snap_quantity(size - band, rules.step_size)
    if check_order(rules, quantity=quantity, price=None, reduce_only=True) is not None:
        return None
    return ReduceAction(close_side, quantity)
