"""The flatten command's loop against an in-memory venue (watch runs the engine: see test_engine)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest
from risk_fakes import RULES, FakeVenue, foreign_stop

from risk.killswitch import flatten
from risk.orders import is_guardian_id
from services.wire import OrderUpdate, Place, Side

pytestmark = pytest.mark.timeout(20)


async def test_cancels_closes_and_confirms(venue: FakeVenue) -> None:
    venue.quantity, venue.resting = D("-0.7"), 2
    result = await flatten(venue, RULES, timeout_s=5, retry_s=0.01)
    assert (result.ok, result.position, result.open_orders) == (True, D(0), 0)
    assert [(o.side, o.quantity, o.reduce_only) for o in venue.placed] == [(Side.BUY, D("0.7"), True)]
    assert is_guardian_id(venue.placed[0].client_id)
    # The orders are read first so the output can name the foreign ones the cancel-all removes.
    assert venue.calls[:2] == ["open_orders", "cancel_all"]


async def test_an_already_flat_account_sends_no_order(venue: FakeVenue) -> None:
    result = await flatten(venue, RULES, timeout_s=5, retry_s=0.01)
    assert result.ok and venue.placed == []


async def test_keeps_trying_through_failures(venue: FakeVenue) -> None:
    venue.quantity = D(1)
    venue.reject_places = 2
    result = await flatten(venue, RULES, timeout_s=5, retry_s=0.01)
    assert result.ok and venue.calls.count("place") == 3


async def test_a_partial_fill_is_closed_in_the_next_round(venue: FakeVenue) -> None:
    venue.quantity = D(1)
    fill_all = venue.place_order

    async def first_fills_only_part(order: Place) -> OrderUpdate:
        quantity = D("0.4") if not venue.placed else order.quantity
        return await fill_all(dataclasses.replace(order, quantity=quantity))

    venue.place_order = first_fills_only_part
    result = await flatten(venue, RULES, timeout_s=5, retry_s=0.01)
    assert result.ok
    assert [o.quantity for o in venue.placed] == [D("0.4"), D("0.6")]


async def test_gives_up_after_the_timeout_with_the_reason(venue: FakeVenue) -> None:
    venue.quantity = D(1)
    venue.down = True
    result = await flatten(venue, RULES, timeout_s=0.2, retry_s=0.05)
    assert not result.ok
    assert "venue down" in result.reason


async def test_a_position_below_the_minimum_cannot_be_closed(venue: FakeVenue) -> None:
    venue.quantity = D("0.005")
    result = await flatten(venue, RULES, timeout_s=0.2, retry_s=0.05)
    assert not result.ok
    assert "below the venue minimum" in result.reason
    assert venue.placed == []


async def test_foreign_orders_are_cancelled_too_and_named(venue: FakeVenue) -> None:
    venue.quantity, venue.resting = D(1), 1
    venue.foreign = [foreign_stop("s1")]
    result = await flatten(venue, RULES, timeout_s=5, retry_s=0.01)
    assert (result.ok, result.position, result.open_orders) == (True, D(0), 0)
    assert venue.foreign == []
    assert [o.order_id for o in result.swept.foreign] == ["s1"]
    assert result.swept.describe() == "2 order(s), 1 of them foreign (1 STOP_MARKET: not placed by perp-mm)"
