"""Size bounds, splitting a large order and the percent-price band (``venues.precision``)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from services.wire import RejectReason, Side
from venues.precision import MarketRules, band_price, check_order, split_quantity

RULES = MarketRules(
    symbol="SOLUSDT",
    base_asset="SOL",
    quote_asset="USDT",
    tick_size=D("0.01"),
    step_size=D("0.01"),
    min_quantity=D("0.05"),
    max_quantity=D("100"),
    max_market_quantity=D("10"),
    price_up=D("1.05"),
    price_down=D("0.95"),
)


def test_the_largest_order_depends_on_its_type() -> None:
    assert RULES.max_order_quantity(market=False) == D(100)
    assert RULES.max_order_quantity(market=True) == D(10)  # both filters bind a market order
    unbound = MarketRules("X", "X", "USD", D("0.1"), D("0.1"), D("0.1"))
    assert unbound.max_order_quantity(market=True) is None


def test_check_order_refuses_above_the_maximum() -> None:
    assert check_order(RULES, quantity=D(10), price=None) is None
    assert check_order(RULES, quantity=D("10.01"), price=None) is RejectReason.BAD_QUANTITY
    assert check_order(RULES, quantity=D(100), price=D(150)) is None
    assert check_order(RULES, quantity=D("100.01"), price=D(150)) is RejectReason.BAD_QUANTITY


@pytest.mark.parametrize(
    ("quantity", "market", "parts"),
    [
        ("9", True, ["9"]),
        ("25", True, ["10", "10", "5"]),
        ("20.02", True, ["10", "9.97", "0.05"]),  # the last part never below the minimum
        ("250", False, ["100", "100", "50"]),
    ],
)
def test_split_keeps_every_part_valid(quantity: str, market: bool, parts: list[str]) -> None:
    got = split_quantity(D(quantity), RULES, market=market)
    assert got == [D(p) for p in parts] and sum(got) == D(quantity)
    price = None if market else D(150)
    assert all(check_order(RULES, quantity=p, price=price, reduce_only=True) is None for p in got)


def test_band_keeps_a_limit_price_inside_the_mark_band() -> None:
    assert band_price(RULES, Side.BUY, D(160), mark=D(150)) == D("157.5")
    assert band_price(RULES, Side.BUY, D(140), mark=D(150)) == D(140)
    assert band_price(RULES, Side.SELL, D(140), mark=D(150)) == D("142.5")
    assert band_price(RULES, Side.SELL, D("142.50"), mark=D("150.001")) == D("142.51")  # ceiled to the tick
    assert band_price(RULES, Side.SELL, D("142.51"), mark=D("150.001")) == D("142.51")
    assert band_price(RULES, Side.BUY, D("157.6"), mark=D("150.001")) == D("157.5")  # floored to the tick
    assert band_price(RULES, Side.BUY, D(999), mark=None) == D(999)
