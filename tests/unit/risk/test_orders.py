"""The guardian's client ids and close orders."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
import risk_fakes

from risk.model import ClosePosition, Reason
from risk.orders import (
    GUARDIAN_ID_BIT,
    ClientIds,
    close_order,
    close_orders,
    close_quantity,
    describe,
    is_guardian_id,
)
from services.wire import OrderType, Side

# The shared SOL_USDC_PERP rules with a larger minimum, so closes below it show.
RULES = replace(risk_fakes.RULES, min_quantity=D("0.05"))


def test_client_ids_have_the_top_bit_and_wrap_without_repeating() -> None:
    ids = ClientIds(base=GUARDIAN_ID_BIT - 2)
    got = [ids.next() for _ in range(4)]
    assert got == [2**32 - 2, 2**32 - 1, GUARDIAN_ID_BIT, GUARDIAN_ID_BIT + 1]
    assert all(is_guardian_id(i) and 0 < i < 2**32 for i in got)
    assert not is_guardian_id(12345) and not is_guardian_id(None)


def test_random_bases_differ_between_runs() -> None:
    assert len({ClientIds().next() for _ in range(20)}) > 1


@pytest.mark.parametrize(
    ("quantity", "position", "expected"),
    [
        ("0.1", "0.5", "0.1"),  # the excess, exactly
        ("0.101", "0.5", "0.11"),  # up to the step: a short close would leave it above the max
        ("0.02", "0.5", "0.05"),  # up to the venue minimum
        ("3", "-2", "2"),  # never more than held
        ("0.02", "0.03", None),  # below the minimum and nothing bigger to send
        ("1", "0", None),
    ],
)
def test_close_quantity(quantity: str, position: str, expected: str | None) -> None:
    got = close_quantity(D(quantity), D(position), RULES)
    assert got == (D(expected) if expected else None)


def test_close_order_is_reduce_only_at_market() -> None:
    action = ClosePosition(Side.SELL, D("0.1"), Reason.MAX_POSITION, 1)
    order = close_order(action, symbol="SOL_USDC_PERP", position=D("0.5"), rules=RULES, client_id=7)
    assert order is not None
    assert (order.side, order.quantity, order.order_type) == (Side.SELL, D("0.1"), OrderType.MARKET)
    assert (order.reduce_only, order.price, order.client_id) == (True, None, 7)
    assert describe(order) == "sell 0.1 SOL_USDC_PERP reduce-only market (client id 7)"


def test_a_close_larger_than_one_market_order_is_split_into_valid_orders() -> None:
    capped = replace(RULES, max_market_quantity=D("0.5"))
    action = ClosePosition(Side.BUY, D("1.2"), Reason.MAX_POSITION, 1)
    orders = close_orders(action, symbol="SOL_USDC_PERP", position=D(-3), rules=capped, ids=ClientIds(base=1))
    assert [o.quantity for o in orders] == [D("0.5"), D("0.5"), D("0.2")]
    assert all(o.reduce_only and o.order_type is OrderType.MARKET and o.side is Side.BUY for o in orders)
    assert len({o.client_id for o in orders}) == 3
    # Flatten sends one order a round: the largest valid one.
    first = close_order(action, symbol="SOL_USDC_PERP", position=D(-3), rules=capped, client_id=9)
    assert first is not None and first.quantity == D("0.5")
