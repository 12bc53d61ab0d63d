"""Pre-trade limits, the token bucket and the effective trading state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from order_gateway.limits import (
    Exposure,
    Limits,
    TokenBucket,
    check_client_id,
    check_place,
    check_state,
    effective_state,
)
from services.wire import OrderType, Place, RejectReason, Side, TradingState

D = Decimal
SYM = "SOL_USDC_PERP"
LIMITS = Limits(max_position=D(5))


def place(side: Side = Side.BUY, quantity: str = "1", price: str | None = "100", **kw: object) -> Place:
    return Place(
        client_id=1,
        symbol=SYM,
        side=side,
        quantity=D(quantity),
        price=None if price is None else D(price),
        **kw,  # type: ignore[arg-type]
    )


def flat(resting_buy: str = "0", resting_sell: str = "0", position: str = "0") -> Exposure:
    return Exposure(position=D(position), resting_buy=D(resting_buy), resting_sell=D(resting_sell))


def test_worst_case_counts_position_and_every_resting_order_on_the_side() -> None:
    exposure = flat(resting_buy="2", position="2")
    assert check_place(place(quantity="1"), limits=LIMITS, exposure=exposure, reference_price=None) is None
    refusal = check_place(place(quantity="1.01"), limits=LIMITS, exposure=exposure, reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.POSITION_LIMIT
    assert "5.01" in refusal.message


def test_worst_case_on_the_sell_side() -> None:
    exposure = flat(resting_sell="3", position="-1")
    assert check_place(place(Side.SELL, "1"), limits=LIMITS, exposure=exposure, reference_price=None) is None
    refusal = check_place(place(Side.SELL, "1.5"), limits=LIMITS, exposure=exposure, reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.POSITION_LIMIT


def test_an_order_against_a_position_beyond_the_limit_is_not_refused() -> None:
    exposure = flat(position="6")
    assert (
        check_place(place(Side.SELL, "0.5"), limits=LIMITS, exposure=exposure, reference_price=None) is None
    )
    refusal = check_place(place(Side.BUY, "0.1"), limits=LIMITS, exposure=exposure, reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.POSITION_LIMIT


def test_reduce_only_skips_the_position_limit_but_not_the_notional() -> None:
    exposure = flat(position="5", resting_buy="5")
    ro = place(quantity="3", reduce_only=True)
    assert check_place(ro, limits=LIMITS, exposure=exposure, reference_price=None) is None
    capped = Limits(max_position=D(5), max_order_notional=D(200))
    refusal = check_place(ro, limits=capped, exposure=exposure, reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.NOTIONAL_LIMIT


def test_unknown_position_refuses_orders_that_could_add_to_it() -> None:
    refusal = check_place(place(), limits=LIMITS, exposure=None, reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.UNKNOWN_STATE


def test_notional_of_limit_orders_uses_their_price_and_market_orders_the_reference() -> None:
    capped = Limits(max_position=D(5), max_order_notional=D(150))
    assert check_place(place(quantity="1.5"), limits=capped, exposure=flat(), reference_price=None) is None
    refusal = check_place(place(quantity="1.51"), limits=capped, exposure=flat(), reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.NOTIONAL_LIMIT
    market = place(quantity="1", price=None, order_type=OrderType.MARKET)
    assert check_place(market, limits=capped, exposure=flat(), reference_price=D(150)) is None
    refusal = check_place(market, limits=capped, exposure=flat(), reference_price=D(151))
    assert refusal is not None and refusal.reason is RejectReason.NOTIONAL_LIMIT
    refusal = check_place(market, limits=capped, exposure=flat(), reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.NOTIONAL_LIMIT


def test_bad_sizes_and_prices() -> None:
    refusal = check_place(place(quantity="0"), limits=LIMITS, exposure=flat(), reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.BAD_QUANTITY
    refusal = check_place(place(price=None), limits=LIMITS, exposure=flat(), reference_price=None)
    assert refusal is not None and refusal.reason is RejectReason.BAD_PRICE


def test_trading_state() -> None:
    assert check_state(place(), state=TradingState.ACTIVE, why="") is None
    halted = check_state(place(reduce_only=True), state=TradingState.HALTED, why="stop-loss")
    assert (
        halted is not None and halted.reason is RejectReason.TRADING_STATE and "stop-loss" in halted.message
    )
    reducing = check_state(place(), state=TradingState.REDUCING, why="")
    assert reducing is not None and reducing.reason is RejectReason.TRADING_STATE
    assert check_state(place(reduce_only=True), state=TradingState.REDUCING, why="") is None


def test_client_ids_are_uint32_above_zero_outside_the_guardians_range() -> None:
    assert check_client_id(1) is None
    assert check_client_id(2**31 - 1) is None
    for bad in (0, -1, 2**31, 2**32 - 1, 2**32):
        refusal = check_client_id(bad)
        assert refusal is not None and refusal.reason is RejectReason.MALFORMED


def test_effective_state_is_halted_without_a_fresh_guardian() -> None:
    assert effective_state(None, state_age_s=None, heartbeat_age_s=0.1)[0] is TradingState.HALTED
    active = TradingState.ACTIVE
    assert effective_state(active, state_age_s=0.2, heartbeat_age_s=0.1) == (active, "")
    assert effective_state(active, state_age_s=3.5, heartbeat_age_s=0.1)[0] is TradingState.HALTED
    assert effective_state(active, state_age_s=0.2, heartbeat_age_s=None)[0] is TradingState.HALTED
    stale = effective_state(active, state_age_s=0.2, heartbeat_age_s=3.1)
    assert stale[0] is TradingState.HALTED and "heartbeat" in stale[1]
    reducing = TradingState.REDUCING
    assert effective_state(reducing, state_age_s=1.0, heartbeat_age_s=1.0)[0] is reducing


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=3.0, now_s=0.0)
    assert [bucket.try_take(now_s=0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.try_take(now_s=0.4)
    assert bucket.try_take(now_s=0.5)
    assert bucket.wait_s(now_s=0.5) == pytest.approx(0.5)
    assert bucket.try_take(now_s=100.0)
    assert bucket.try_take(now_s=100.0) and bucket.try_take(now_s=100.0)
    assert not bucket.try_take(now_s=100.0)


def test_token_bucket_take_goes_into_debt_and_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=1.0, now_s=0.0)
    assert bucket.take(now_s=0.0) == 0.0
    assert bucket.take(now_s=0.0) == pytest.approx(0.1)
    assert bucket.take(now_s=0.0) == pytest.approx(0.2)
    bucket.drain(now_s=1.0, pause_s=2.0)
    assert bucket.wait_s(now_s=1.0) == pytest.approx(2.1)
    with pytest.raises(ValueError):
        TokenBucket(rate_per_s=0, burst=1, now_s=0)
