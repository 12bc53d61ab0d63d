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
notional on every venue, see ``precision.check_order``).  A reduce larger
than the venue allows in one order (Aster's ``MARKET_LOT_SIZE``/``LOT_SIZE``
``maxQty``) is capped there: the rest goes in the next rounds, each order
valid, instead of one order the venue refuses on every round.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.wire import Side
from venues.precision import MarketRules, floor_to, snap_quantity


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
    market: bool = True,
) -> PositionAction:
    """What the position table says for this signed net position (None: nothing to do).

    ``market`` says the reduce goes as a market order (else a limit one): it picks the size bound.
    """
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
    largest = rules.max_order_quantity(market=market)
    if largest is not None:
        quantity = min(quantity, floor_to(largest, rules.step_size))
    if quantity <= 0 or quantity < rules.min_quantity:
        return None
    return ReduceAction(close_side, quantity)
