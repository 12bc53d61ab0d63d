"""The emulator's Aster limits: route weights per IP, orders per account, 429 without Retry-After, bans."""

from __future__ import annotations

import pytest

from venues.emulator.aster_errors import AsterApiError
from venues.emulator.aster_limits import MAX_REFUSALS_BEFORE_BAN, AsterLimits, budgets, route_weight


def test_route_weights_as_documented() -> None:
    assert route_weight("POST", "/fapi/v3/order", {}) == 1
    assert route_weight("GET", "/fapi/v3/positionRisk", {"symbol": "SOLUSDT"}) == 5
    assert route_weight("GET", "/fapi/v4/account", {}) == 5
    assert route_weight("GET", "/fapi/v3/accountWithJoinMargin", {}) == 5
    assert route_weight("GET", "/fapi/v1/openOrders", {"symbol": "SOLUSDT"}) == 1
    assert route_weight("GET", "/fapi/v1/openOrders", {}) == 40
    assert [route_weight("GET", "/fapi/v1/depth", {"limit": str(n)}) for n in (5, 100, 500, 1000)] == [
        2,
        5,
        10,
        20,
    ]


def test_weight_is_spent_per_ip_and_refused_past_the_minute_budget() -> None:
    limits = AsterLimits(weight_per_min=10, orders_per_min=0)
    assert limits.admit("a", 5, 0) == 5
    assert limits.admit("a", 5, 1) == 10
    assert limits.admit("b", 5, 2) == 5  # another IP has its own budget
    with pytest.raises(AsterApiError) as refused:
        limits.admit("a", 1, 3)
    assert (refused.value.status, refused.value.code, refused.value.retry_after_s) == (429, -1003, None)
    assert limits.admit("a", 1, 60_000) == 6  # the first spend left the window


def test_orders_are_counted_per_account() -> None:
    limits = AsterLimits(weight_per_min=0, orders_per_min=2)
    assert [limits.count_order("ip", "acct", t) for t in (0, 1)] == [1, 2]
    assert limits.count_order("ip", "other", 2) == 1
    with pytest.raises(AsterApiError) as refused:
        limits.count_order("ip", "acct", 3)
    assert refused.value.status == 429


def test_sending_on_while_limited_bans_the_ip_longer_each_time() -> None:
    limits = AsterLimits(weight_per_min=1, orders_per_min=0)
    bans_ms = []
    now_ms = 0
    for _ in range(2):
        limits.admit("a", 1, now_ms)
        for _ in range(MAX_REFUSALS_BEFORE_BAN):
            with pytest.raises(AsterApiError, match="Too many"):
                limits.admit("a", 1, now_ms)
        with pytest.raises(AsterApiError) as banned:
            limits.admit("a", 1, now_ms)
        assert banned.value.status == 418
        until_ms = int(banned.value.msg.split("banned until ")[1].split(".")[0])
        bans_ms.append(until_ms - now_ms)
        with pytest.raises(AsterApiError, match="banned until"):
            limits.admit("a", 1, until_ms - 1)
        now_ms = until_ms + 60_000
    assert bans_ms == [120_000, 240_000]


def test_the_default_setting_gives_the_documented_budgets() -> None:
    assert budgets(2000) == (2400, 1200)
    assert budgets(0) == (0, 0)
