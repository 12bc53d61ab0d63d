"""A scripted loopback Backpack REST server that verifies signatures, for connector tests."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from venues.backpack.rest import BackpackRest
from venues.backpack.signing import Signer, signing_string, verify
from venues.backpack.transport import Transport

SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
INSTRUCTIONS = {
    ("POST", "/api/v1/order"): "orderExecute",
    ("DELETE", "/api/v1/order"): "orderCancel",
    ("DELETE", "/api/v1/orders"): "orderCancelAll",
    ("GET", "/api/v1/order"): "orderQuery",
    ("GET", "/api/v1/orders"): "orderQueryAll",
    ("GET", "/api/v1/position"): "positionQuery",
    ("GET", "/api/v1/capital/collateral"): "collateralQuery",
    ("GET", "/wapi/v1/history/fills"): "fillHistoryQueryAll",
    ("GET", "/wapi/v1/history/funding"): "fundingHistoryQueryAll",
}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    headers: dict[str, str]
    signed_ok: bool | None
    at: float

    @property
    def params(self) -> dict[str, Any]:
        return self.query if self.method == "GET" else self.body


Responder = Callable[[Call], Awaitable[web.StreamResponse]]


def reply(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    return reply({"code": code, "message": message}, status=status, headers=headers)


def static(data: Any, *, status: int = 200) -> Responder:
    async def respond(call: Call) -> web.StreamResponse:
        return reply(data, status=status)

    return respond


def sequence(*responders: Responder) -> Responder:
    """Each call gets the next responder; the last one repeats."""
    queue = list(responders)

    async def respond(call: Call) -> web.StreamResponse:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        return await current(call)

    return respond


@dataclass
class FakeRest:
    """Loopback Backpack REST: routes are scripted per test; every call is recorded."""

    clock_offset_ms: int = 0
    enforce_window: bool = True
    calls: list[Call] = field(default_factory=list)
    routes: dict[tuple[str, str], Responder] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None
    _clients: list[Transport] = field(default_factory=list)

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    def on(self, method: str, path: str, responder: Responder) -> None:
        self.routes[(method, path)] = responder

    def hits(self, method: str, path: str) -> list[Call]:
        return [call for call in self.calls if call.method == method and call.path == path]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for client in self._clients:
            await client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def transport(self, **options: Any) -> Transport:
        settings: dict[str, Any] = {
            "api_url": self.url,
            "signer": Signer(SECRET),
            "timeout_s": 1.0,
            "backoff_base_s": 0.01,
            "backoff_cap_s": 0.05,
            "rng": random.Random(1),
        }
        settings.update(options)
        client = Transport(**settings)
        self._clients.append(client)
        return client

    def rest(self, *, transport: Transport | None = None, **options: Any) -> BackpackRest:
        settings: dict[str, Any] = {"resolve_poll_s": 0.02, "resolve_grace_ms": 50, "resolve_timeout_s": 2.0}
        settings.update(options)
        return BackpackRest(transport or self.transport(), **settings)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        text = await request.text()
        body = json.loads(text) if text else {}
        call = Call(
            method=request.method,
            path=path,
            query=dict(request.query),
            body=body,
            headers=dict(request.headers),
            signed_ok=None,
            at=asyncio.get_running_loop().time(),
        )
        self.calls.append(call)
        if path == "/api/v1/time" and (request.method, path) not in self.routes:
            return web.Response(text=str(self.now_ms()), content_type="text/plain")
        instruction = INSTRUCTIONS.get((request.method, path))
        if instruction is not None and "X-Signature" in request.headers:
            timestamp_ms = int(request.headers["X-Timestamp"])
            window_ms = int(request.headers["X-Window"])
            signed = signing_string(instruction, call.params, timestamp_ms=timestamp_ms, window_ms=window_ms)
            call.signed_ok = verify(request.headers["X-API-Key"], signed, request.headers["X-Signature"])
            if not call.signed_ok:
                return error(400, "INVALID_CLIENT_REQUEST", "Invalid signature")
            if self.enforce_window and abs(self.now_ms() - timestamp_ms) > window_ms:
                return error(400, "INVALID_CLIENT_REQUEST", "Request has expired")
        responder = self.routes.get((request.method, path))
        if responder is None:
            return error(404, "RESOURCE_NOT_FOUND", f"no route {request.method} {path}")
        return await responder(call)


@pytest.fixture
async def fake() -> AsyncIterator[FakeRest]:
    server = FakeRest()
    await server.start()
    yield server
    await server.stop()
