"""The Paradex transport against a scripted loopback server that verifies auth signatures.

Covers the JWT on private calls, one re-auth on 401, one clock re-sync on
INVALID_TIMESTAMP with a rebuilt (re-signed) body, retries of idempotent calls
and no re-send of an order whose outcome is unknown.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from venues.base import AuthError, RateLimited, Unavailable
from venues.paradex.signing import (
    StarkSigner,
    auth_hash,
    auth_message,
    chain_id_felt,
    parse_signature,
    verify_hash,
)
from venues.paradex.transport import OutcomeUnknown, ParadexTransport

CHAIN = "PRIVATE_SN_TEST"
SIGNER = StarkSigner(account=0xABC, private_key=0x1234567)
Script = Callable[[], web.Response]


def _reply(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _token(number: int) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"iat": 0, "exp": 300}).encode()).rstrip(b"=").decode()
    return f"h.{claims}.{number}"


@dataclass
class Server:
    """Scripted answers for ``/v1/api``; records auths and calls."""

    server_time_ms: int = 0
    script: list[Script] = field(default_factory=list)
    auths: list[dict[str, str]] = field(default_factory=list)
    calls: list[tuple[str, str | None, Any]] = field(default_factory=list)
    url: str = ""

    async def auth(self, request: web.Request) -> web.Response:
        headers = request.headers
        message = auth_message(
            timestamp_s=int(headers["PARADEX-TIMESTAMP"]),
            expiration_s=int(headers["PARADEX-SIGNATURE-EXPIRATION"]),
        )
        msg_hash = auth_hash(chain_id_felt(CHAIN), int(headers["PARADEX-STARKNET-ACCOUNT"], 16), message)
        signature = parse_signature(headers["PARADEX-STARKNET-SIGNATURE"])
        if signature is None or not verify_hash(msg_hash, signature, SIGNER.public_key):
            return _reply({"error": "STARKNET_SIGNATURE_VERIFICATION_FAILED", "message": ""}, status=400)
        self.auths.append(dict(headers))
        return _reply({"jwt_token": _token(len(self.auths))})

    async def api(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text()) if request.can_read_body else None
        self.calls.append((request.method, request.headers.get("Authorization"), body))
        if self.script:
            return self.script.pop(0)()
        return _reply({"results": []})


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(server_time_ms=1_700_000_000_000)
    app = web.Application()

    async def config(_: web.Request) -> web.Response:
        return _reply({"starknet_chain_id": CHAIN})

    async def server_time(_: web.Request) -> web.Response:
        return _reply({"server_time": str(state.server_time_ms)})

    app.router.add_get("/v1/system/config", config)
    app.router.add_get("/v1/system/time", server_time)
    app.router.add_post("/v1/auth", state.auth)
    app.router.add_route("*", "/v1/api", state.api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    try:
        yield state
    finally:
        await runner.cleanup()


def _transport(server: Server, **options: Any) -> ParadexTransport:
    return ParadexTransport(
        api_url=server.url,
        signer=SIGNER,
        backoff_base_s=0.001,
        backoff_cap_s=0.002,
        rng=random.Random(1),
        **options,
    )


async def test_private_calls_carry_a_jwt_signed_for_on_the_venue_clock(server: Server) -> None:
    transport = _transport(server)
    try:
        assert await transport.call("GET", "/api", private=True) == {"results": []}
        assert server.calls[-1][1] == f"Bearer {_token(1)}"
        assert server.auths[0]["PARADEX-STARKNET-ACCOUNT"] == hex(SIGNER.account)
        # The signed timestamp is the venue's (1.7e9 s), not the local clock.
        assert abs(int(server.auths[0]["PARADEX-TIMESTAMP"]) - 1_700_000_000) < 5
        await transport.call("GET", "/api", private=True)
        assert len(server.auths) == 1  # reused while fresh
        assert await transport.call("GET", "/system/time") == {"server_time": "1700000000000"}
    finally:
        await transport.close()


async def test_a_401_reauths_once(server: Server) -> None:
    transport = _transport(server)

    def unauthorized() -> web.Response:
        return _reply({"error": "UNAUTHORIZED_ERROR", "message": "invalid bearer jwt"}, status=401)

    try:
        await transport.call("GET", "/api", private=True)
        server.script = [unauthorized]
        assert await transport.call("GET", "/api", private=True) == {"results": []}
        assert [call[1] for call in server.calls[-2:]] == [f"Bearer {_token(1)}", f"Bearer {_token(2)}"]
        server.script = [unauthorized, unauthorized]
        with pytest.raises(AuthError):
            await transport.call("GET", "/api", private=True)
        assert len(server.auths) == 3  # one re-auth per call, never a loop
    finally:
        await transport.close()


async def test_an_invalid_timestamp_resyncs_and_rebuilds_the_body(server: Server) -> None:
    transport = _transport(server)
    bodies = iter([{"n": 1}, {"n": 2}])
    try:
        await transport.call("GET", "/api", private=True)
        server.server_time_ms += 120_000
        server.script = [lambda: _reply({"error": "INVALID_TIMESTAMP", "message": "too old"}, status=400)]
        await transport.call("POST", "/api", body=lambda: next(bodies), private=True, idempotent=False)
        assert [call[2] for call in server.calls[-2:]] == [{"n": 1}, {"n": 2}]
        assert abs(transport.now_ms() - server.server_time_ms) < 5000
    finally:
        await transport.close()


async def test_idempotent_calls_retry_and_orders_are_never_resent(server: Server) -> None:
    transport = _transport(server, max_attempts=3)

    def down() -> web.Response:
        return _reply({"error": "SERVICE_UNAVAILABLE", "message": ""}, status=503)

    try:
        await transport.call("GET", "/api", private=True)
        server.script = [down, down]
        assert await transport.call("GET", "/api", private=True) == {"results": []}
        server.script = [down] * 3
        with pytest.raises(Unavailable):
            await transport.call("GET", "/api", private=True)
        sent = len(server.calls)
        server.script = [down]
        with pytest.raises(OutcomeUnknown):
            await transport.call("POST", "/api", body={"order": 1}, private=True, idempotent=False)
        assert len(server.calls) == sent + 1
        server.script = [
            lambda: _reply(
                {"error": "RATE_LIMIT_EXCEEDED", "message": ""}, status=429, headers={"Retry-After": "60"}
            )
        ]
        with pytest.raises(RateLimited) as limited:
            await transport.call("GET", "/api", private=True)
        assert limited.value.retry_after_s == 60  # longer than worth waiting: raised at once
    finally:
        await transport.close()


async def test_a_garbled_order_answer_is_an_unknown_outcome(server: Server) -> None:
    transport = _transport(server)
    try:
        server.script = [lambda: web.Response(text="{not json", status=201)]
        with pytest.raises(OutcomeUnknown):
            await transport.call("POST", "/api", body={}, private=True, idempotent=False)
        assert await transport.chain_id() == chain_id_felt(CHAIN)
    finally:
        await transport.close()


async def test_without_a_key_private_calls_fail_before_sending(server: Server) -> None:
    transport = ParadexTransport(api_url=server.url)
    try:
        with pytest.raises(AuthError):
            await transport.call("GET", "/api", private=True)
        assert server.calls == []
        assert "1234567" not in repr(_transport(server))
    finally:
        await transport.close()
