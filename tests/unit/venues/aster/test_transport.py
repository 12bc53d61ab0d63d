"""The Aster transport on loopback: signing on the wire, weight, 429 pause, 418 ban, 5xx, clock re-sync."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web
from fake_aster import API_KEY, Call, FakeAster, error, reply, sequence, signer, static

from venues.aster.transport import AsterTransport, OutcomeUnknown, pause_after_429_s
from venues.base import AuthError, RateLimited, Rejected, Unavailable


def transport(fake: FakeAster, **options: Any) -> AsterTransport:
    settings: dict[str, Any] = {"backoff_base_s": 0.01, "backoff_cap_s": 0.02, "timeout_s": 2.0} | options
    return AsterTransport(api_url=fake.url, signer=signer(), **settings)


async def test_signed_get_in_query_and_post_in_form_body(fake: FakeAster) -> None:
    fake.on("GET", "/fapi/v1/openOrders", static([]))
    fake.on("POST", "/fapi/v1/order", static({"ok": True}))
    aster = transport(fake)
    try:
        assert await aster.call("GET", "/fapi/v1/openOrders", params={"symbol": "SOLUSDT"}, signed=True) == []
        await aster.call(
            "POST", "/fapi/v1/order", params=[("symbol", "SOLUSDT"), ("reduceOnly", True)], signed=True
        )
    finally:
        await aster.close()
    get, post = fake.calls_to("GET", "/fapi/v1/openOrders")[0], fake.calls_to("POST", "/fapi/v1/order")[0]
    assert get.signed_ok and post.signed_ok
    assert get.headers["X-MBX-APIKEY"] == API_KEY and post.params["reduceOnly"] == "true"
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert {"timestamp", "recvWindow", "signature"} <= set(post.params)


async def test_used_weight_is_tracked(fake: FakeAster) -> None:
    fake.on("GET", "/fapi/v1/ping", static({}, headers={"X-MBX-USED-WEIGHT-1M": "2300"}))
    aster = transport(fake)
    try:
        await aster.call("GET", "/fapi/v1/ping")
        assert aster.used_weight_1m == 2300
    finally:
        await aster.close()


async def test_429_pauses_every_call_until_retry_after(fake: FakeAster) -> None:
    async def first(call: Call) -> web.StreamResponse:
        return error(429, -1003, "Too many requests", headers={"Retry-After": "1"})

    fake.on("GET", "/fapi/v1/openOrders", sequence(first, static([])))
    aster = transport(fake, max_attempts=1)
    try:
        with pytest.raises(RateLimited) as refused:
            await aster.call("GET", "/fapi/v1/openOrders", signed=True)
        assert refused.value.retry_after_s == 1.0
        with pytest.raises(RateLimited, match="rate limited"):
            await aster.call("GET", "/fapi/v1/openOrders", signed=True)
        assert len(fake.calls_to("GET", "/fapi/v1/openOrders")) == 1  # the second was not sent
        patient = transport(fake, max_attempts=3)
        patient._paused_until_s = aster._paused_until_s
        started = time.monotonic()
        assert await patient.call("GET", "/fapi/v1/openOrders", signed=True) == []  # waited out the pause
        assert time.monotonic() - started >= 0.5
        await patient.close()
    finally:
        await aster.close()


async def test_429_without_retry_after_pauses_longer_each_time_in_a_row(fake: FakeAster) -> None:
    fake.on("GET", "/fapi/v1/openOrders", static({"code": -1003, "msg": "Too many requests"}, status=429))
    aster = transport(fake, max_attempts=1)
    try:
        pauses = []
        for _ in range(4):
            with pytest.raises(RateLimited):
                await aster.call("GET", "/fapi/v1/openOrders", signed=True)
            pauses.append(aster.pause_remaining_s())
            aster._paused_until_s = 0.0  # as if the pause had passed, yet the venue still refuses
        assert [round(p) for p in pauses] == [1, 2, 4, 8]
    finally:
        await aster.close()


def test_the_pause_after_429s_doubles_up_to_a_minute() -> None:
    assert [pause_after_429_s(n) for n in (1, 2, 3, 6, 7, 20)] == [1.0, 2.0, 4.0, 32.0, 60.0, 60.0]


async def test_order_count_is_tracked_and_near_the_listed_budget_warned_once(
    fake: FakeAster, caplog: pytest.LogCaptureFixture
) -> None:
    fake.on("POST", "/fapi/v1/order", static({"orderId": 1}, headers={"X-MBX-ORDER-COUNT-1M": "17"}))
    aster = transport(fake)
    aster.set_limits(weight_per_min=None, orders_per_min=18)
    try:
        for _ in range(2):
            await aster.call("POST", "/fapi/v1/order", params={"symbol": "SOLUSDT"}, signed=True)
        assert aster.order_count_1m == 17 and aster.weight_limit_per_min == 2400
    finally:
        await aster.close()
    assert sum("order count 17/18" in r.getMessage() for r in caplog.records) == 1


async def test_418_ban_sends_nothing_until_it_ends(fake: FakeAster) -> None:
    until_ms = time.time_ns() // 1_000_000 + 120_000
    fake.on(
        "GET",
        "/fapi/v1/openOrders",
        static({"code": -1003, "msg": f"Way too many requests; IP banned until {until_ms}."}, status=418),
    )
    aster = transport(fake)
    try:
        with pytest.raises(RateLimited) as banned:
            await aster.call("GET", "/fapi/v1/openOrders", signed=True)
        assert 110 < banned.value.retry_after_s <= 121 and aster.banned
        for path in ("/fapi/v1/openOrders", "/fapi/v1/order"):
            with pytest.raises(RateLimited, match="IP banned"):
                await aster.call("GET", path, signed=True)
        assert len(fake.calls) == 2  # the clock sync and the one banned request
        aster._paused_until_s = time.monotonic()  # the ban ends
        fake.on("GET", "/fapi/v1/openOrders", static([]))
        assert await aster.call("GET", "/fapi/v1/openOrders", signed=True) == []
    finally:
        await aster.close()


async def test_5xx_is_retried_when_idempotent_and_unknown_for_an_order(fake: FakeAster) -> None:
    unavailable = static({"code": -1001, "msg": "Internal error"}, status=503)
    fake.on("GET", "/fapi/v1/openOrders", sequence(unavailable, static([])))
    fake.on("POST", "/fapi/v1/order", unavailable)
    aster = transport(fake)
    try:
        assert await aster.call("GET", "/fapi/v1/openOrders", signed=True) == []
        with pytest.raises(OutcomeUnknown):
            await aster.call("POST", "/fapi/v1/order", signed=True, idempotent=False)
        assert len(fake.calls_to("POST", "/fapi/v1/order")) == 1  # never re-sent
        fake.on(
            "POST",
            "/fapi/v1/order",
            static({"code": -1007, "msg": "Timeout waiting for response"}, status=408),
        )
        with pytest.raises(OutcomeUnknown):
            await aster.call("POST", "/fapi/v1/order", signed=True, idempotent=False)
        fake.on("GET", "/fapi/v1/openOrders", static({"code": -1001, "msg": "x"}, status=503))
        with pytest.raises(Unavailable):
            await aster.call("GET", "/fapi/v1/openOrders", signed=True)
    finally:
        await aster.close()


async def test_timestamp_refusal_resyncs_the_clock_and_resends_once(fake: FakeAster) -> None:
    async def refused(call: Call) -> web.StreamResponse:
        return error(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    fake.on("POST", "/fapi/v1/order", sequence(refused, static({"orderId": 1})))
    aster = transport(fake)
    try:
        assert await aster.call("POST", "/fapi/v1/order", signed=True, idempotent=False) == {"orderId": 1}
        assert len(fake.calls_to("GET", "/fapi/v1/time")) == 2  # first use, then the re-sync
        fake.on("POST", "/fapi/v1/order", refused)
        with pytest.raises(AuthError):
            await aster.call("POST", "/fapi/v1/order", signed=True, idempotent=False)
    finally:
        await aster.close()


async def test_refusals_and_unsigned_use(fake: FakeAster) -> None:
    fake.on("DELETE", "/fapi/v1/order", static({"code": -2011, "msg": "Unknown order sent."}, status=400))
    aster = transport(fake)
    public = AsterTransport(api_url=fake.url)
    try:
        with pytest.raises(Rejected, match="-2011"):
            await aster.call("DELETE", "/fapi/v1/order", params={"symbol": "X"}, signed=True)
        with pytest.raises(AuthError):
            await public.call("GET", "/fapi/v1/openOrders", signed=True)
        assert await public.server_time_ms() > 0
        fake.on("GET", "/fapi/v1/ping", static(None))
        fake.on("GET", "/fapi/v1/time", static({"serverTime": "soon"}))
        with pytest.raises(Unavailable):
            await public.server_time_ms()
    finally:
        await aster.close()
        await public.close()


async def test_key_only_call_sends_the_api_key_without_signing(fake: FakeAster) -> None:
    fake.on("POST", "/fapi/v1/listenKey", static({"listenKey": "abc"}))
    aster = transport(fake)
    try:
        assert await aster.call("POST", "/fapi/v1/listenKey", key_only=True) == {"listenKey": "abc"}
    finally:
        await aster.close()
    (call,) = fake.calls_to("POST", "/fapi/v1/listenKey")
    assert call.headers["X-MBX-APIKEY"] == API_KEY and call.signed_ok is None


def test_reply_helper_is_json() -> None:
    assert reply([1]).content_type == "application/json"
