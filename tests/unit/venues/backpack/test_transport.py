"""The signed transport against a loopback server: headers, clock, retries, timeouts, error mapping."""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Any

import pytest
from aiohttp import web

from venues.backpack.signing import Signer, signing_string, verify
from venues.backpack.transport import OutcomeUnknown, Transport, backoff_s
from venues.base import AuthError, RateLimited, Unavailable

SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
ORDERS = ("GET", "/api/v1/orders")
EXECUTE = ("POST", "/api/v1/order")


def static(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    async def respond(call: Any) -> web.StreamResponse:
        return web.json_response(data, status=status, headers=headers)

    return respond


def slow(seconds: float, data: Any) -> Any:
    async def respond(call: Any) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response(data)

    return respond


async def test_signed_get_carries_verified_headers(fake: Any) -> None:
    fake.on(*ORDERS, static([]))
    transport = fake.transport(window_ms=7000)
    assert (
        await transport.call("GET", "/api/v1/orders", params={"symbol": "S"}, instruction="orderQueryAll")
        == []
    )
    call = fake.hits(*ORDERS)[0]
    assert call.signed_ok is True
    assert call.query == {"symbol": "S"}
    assert call.headers["X-API-Key"] == Signer(SECRET).api_key
    assert call.headers["X-Window"] == "7000"
    assert abs(int(call.headers["X-Timestamp"]) - fake.now_ms()) < 2000


async def test_signed_post_body_is_the_signed_json(fake: Any) -> None:
    fake.on(*EXECUTE, static({"ok": True}))
    transport = fake.transport()
    body = {"symbol": "S", "postOnly": True, "clientId": 7, "price": "1.5", "skip": None}
    await transport.call("POST", "/api/v1/order", params=body, instruction="orderExecute", idempotent=False)
    call = fake.hits(*EXECUTE)[0]
    assert call.signed_ok is True
    assert call.body == {"symbol": "S", "postOnly": True, "clientId": 7, "price": "1.5"}


async def test_clock_offset_is_measured_from_server_time(fake: Any) -> None:
    fake.clock_offset_ms = 30_000
    transport = fake.transport()
    offset = await transport.sync_clock()
    assert abs(offset - 30_000) < 1000
    assert abs(transport.now_ms() - fake.now_ms()) < 1000


async def test_first_signed_call_syncs_the_clock(fake: Any) -> None:
    fake.clock_offset_ms = -45_000
    fake.on(*ORDERS, static([]))
    transport = fake.transport()
    await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll")
    assert len(fake.hits("GET", "/api/v1/time")) == 1
    assert fake.hits(*ORDERS)[0].signed_ok is True


async def test_expired_request_resyncs_the_clock_and_is_sent_once_more(fake: Any) -> None:
    fake.on(*EXECUTE, static({"ok": True}))
    transport = fake.transport(clock_sync_interval_s=3600)
    await transport.sync_clock()
    fake.clock_offset_ms = 20_000  # the venue clock jumps; our offset is now stale
    result = await transport.call(
        "POST", "/api/v1/order", params={"a": 1}, instruction="orderExecute", idempotent=False
    )
    assert result == {"ok": True}
    assert len(fake.hits(*EXECUTE)) == 2
    assert len(fake.hits("GET", "/api/v1/time")) == 2
    assert abs(transport.offset_ms - 20_000) < 1000


async def test_an_expiry_that_persists_is_an_auth_error_with_the_venue_message(fake: Any) -> None:
    async def always_expired(call: Any) -> web.StreamResponse:
        return web.json_response(
            {"code": "INVALID_CLIENT_REQUEST", "message": "Request has expired"}, status=400
        )

    fake.on(*ORDERS, always_expired)
    transport = fake.transport()
    with pytest.raises(AuthError) as caught:
        await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll")
    assert caught.value.venue_message == "Request has expired"
    assert len(fake.hits(*ORDERS)) == 2


async def test_bad_signature_is_an_auth_error_and_not_retried(fake: Any) -> None:
    fake.on(*ORDERS, static({"code": "INVALID_SIGNATURE", "message": "Invalid signature"}, status=401))
    transport = fake.transport()
    with pytest.raises(AuthError) as caught:
        await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll")
    assert caught.value.venue_message == "Invalid signature"
    assert len(fake.hits(*ORDERS)) == 1


async def test_429_waits_for_retry_after_then_raises_rate_limited(fake: Any) -> None:
    fake.on(
        *ORDERS,
        static({"code": "TOO_MANY_REQUESTS", "message": "slow"}, status=429, headers={"Retry-After": "0.2"}),
    )
    transport = fake.transport(max_attempts=3)
    with pytest.raises(RateLimited) as caught:
        await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll")
    assert caught.value.retry_after_s == pytest.approx(0.2)
    hits = fake.hits(*ORDERS)
    assert len(hits) == 3
    assert hits[1].at - hits[0].at >= 0.19 and hits[2].at - hits[1].at >= 0.19


async def test_429_then_success(fake: Any) -> None:
    limited = static(
        {"code": "TOO_MANY_REQUESTS", "message": "slow"}, status=429, headers={"Retry-After": "0.1"}
    )
    answers = [limited, static([{"id": 1}])]

    async def respond(call: Any) -> web.StreamResponse:
        return await answers.pop(0)(call)

    fake.on(*ORDERS, respond)
    transport = fake.transport()
    assert await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll") == [{"id": 1}]
    hits = fake.hits(*ORDERS)
    assert len(hits) == 2 and hits[1].at - hits[0].at >= 0.09


async def test_a_long_retry_after_is_raised_at_once(fake: Any) -> None:
    fake.on(
        *ORDERS,
        static({"code": "TOO_MANY_REQUESTS", "message": "x"}, status=429, headers={"Retry-After": "60"}),
    )
    transport = fake.transport(max_retry_after_s=5.0)
    with pytest.raises(RateLimited) as caught:
        await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll")
    assert caught.value.retry_after_s == 60
    assert len(fake.hits(*ORDERS)) == 1


async def test_5xx_on_a_read_is_retried_then_unavailable(fake: Any) -> None:
    fake.on(*ORDERS, static({"code": "SERVER_ERROR", "message": "boom"}, status=502))
    transport = fake.transport(max_attempts=3)
    with pytest.raises(Unavailable) as caught:
        await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll")
    assert not isinstance(caught.value, OutcomeUnknown)
    assert len(fake.hits(*ORDERS)) == 3


async def test_a_read_timeout_is_retried(fake: Any) -> None:
    answers = [slow(1.0, []), static([{"id": 2}])]

    async def respond(call: Any) -> web.StreamResponse:
        return await answers.pop(0)(call)

    fake.on(*ORDERS, respond)
    transport = fake.transport(timeout_s=0.2)
    assert await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll") == [{"id": 2}]
    assert len(fake.hits(*ORDERS)) == 2


async def test_order_execute_5xx_is_never_resent(fake: Any) -> None:
    fake.on(*EXECUTE, static({"code": "SERVER_ERROR", "message": "boom"}, status=500))
    transport = fake.transport()
    with pytest.raises(OutcomeUnknown) as caught:
        await transport.call(
            "POST", "/api/v1/order", params={"a": 1}, instruction="orderExecute", idempotent=False
        )
    assert caught.value.venue_message == "boom"
    assert caught.value.timestamp_ms == int(fake.hits(*EXECUTE)[0].headers["X-Timestamp"])
    assert len(fake.hits(*EXECUTE)) == 1


async def test_order_execute_timeout_is_never_resent(fake: Any) -> None:
    fake.on(*EXECUTE, slow(1.0, {}))
    transport = fake.transport(timeout_s=0.2)
    with pytest.raises(OutcomeUnknown):
        await transport.call(
            "POST", "/api/v1/order", params={"a": 1}, instruction="orderExecute", idempotent=False
        )
    await asyncio.sleep(0.05)
    assert len(fake.hits(*EXECUTE)) == 1


async def test_order_execute_429_is_rate_limited_without_retry(fake: Any) -> None:
    fake.on(
        *EXECUTE,
        static({"code": "TOO_MANY_REQUESTS", "message": "x"}, status=429, headers={"Retry-After": "1"}),
    )
    transport = fake.transport()
    with pytest.raises(RateLimited) as caught:
        await transport.call(
            "POST", "/api/v1/order", params={"a": 1}, instruction="orderExecute", idempotent=False
        )
    assert caught.value.retry_after_s == 1
    assert len(fake.hits(*EXECUTE)) == 1


async def test_a_refused_connection_is_unavailable_not_unknown() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = Transport(api_url=f"http://127.0.0.1:{port}", signer=Signer("A" * 43 + "="), timeout_s=0.5)
    transport.clock.synced_at = float("inf")  # no clock sync against a closed port
    try:
        with pytest.raises(Unavailable) as caught:
            await transport.call(
                "POST", "/api/v1/order", params={}, instruction="orderExecute", idempotent=False
            )
        assert not isinstance(caught.value, OutcomeUnknown)
    finally:
        await transport.close()


async def test_signed_calls_need_a_secret(fake: Any) -> None:
    transport = fake.transport(signer=None)
    with pytest.raises(AuthError):
        await transport.call("GET", "/api/v1/orders", instruction="orderQueryAll")
    with pytest.raises(AuthError):
        transport.subscribe_signature()
    assert fake.hits(*ORDERS) == []


async def test_server_time_and_public_calls_need_no_secret(fake: Any) -> None:
    fake.clock_offset_ms = 1234
    transport = fake.transport(signer=None)
    assert abs(await transport.server_time_ms() - fake.now_ms()) < 1000
    assert "X-Signature" not in fake.hits("GET", "/api/v1/time")[0].headers


def test_subscribe_signature_is_verifiable() -> None:
    signer = Signer(SECRET)
    transport = Transport(api_url="http://127.0.0.1:1", signer=signer, window_ms=6000)
    key, signature, timestamp, window = transport.subscribe_signature()
    assert key == signer.api_key and window == "6000"
    text = signing_string("subscribe", {}, timestamp_ms=int(timestamp), window_ms=6000)
    assert verify(key, text, signature)
    assert SECRET not in repr(transport)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (5, 1.0), (30, 1.0)]:
        delay = backoff_s(attempt, base_s=0.1, cap_s=1.0, rng=rng)
        assert ceiling / 2 <= delay <= ceiling


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        Transport(api_url="http://x", window_ms=60_001)
    with pytest.raises(ValueError):
        Transport(api_url="http://x", timeout_s=0)
