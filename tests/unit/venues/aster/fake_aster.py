"""A scripted loopback Aster REST server that checks v1 HMAC signatures (helpers for the tests here)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from venues.aster.signing import HmacSigner, hmac_signature

API_KEY = "k" * 64
SECRET = "s" * 64

Responder = Callable[["Call"], Awaitable[web.StreamResponse]]


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    signed_ok: bool | None  # None: not signed


def reply(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def error(status: int, code: int, msg: str, *, headers: dict[str, str] | None = None) -> web.Response:
    return reply({"code": code, "msg": msg}, status=status, headers=headers)


def static(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Responder:
    async def respond(call: Call) -> web.StreamResponse:
        return reply(data, status=status, headers=headers)

    return respond


def sequence(*responders: Responder) -> Responder:
    """Each call gets the next responder; the last one repeats."""
    queue = list(responders)

    async def respond(call: Call) -> web.StreamResponse:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        return await current(call)

    return respond


@dataclass
class FakeAster:
    """Routes ``(method, path)`` to responders and records every call."""

    routes: dict[tuple[str, str], Responder] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    url: str = ""

    def on(self, method: str, path: str, responder: Responder) -> None:
        self.routes[(method, path)] = responder

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if (c.method, c.path) == (method, path)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        query = request.query_string
        params = dict(parse_qsl(query)) | dict(parse_qsl(body))
        signed_ok: bool | None = None
        if "signature" in params:
            payload = (query + body).replace(f"&signature={params['signature']}", "")
            signed_ok = hmac_signature(SECRET, payload) == params["signature"]
        call = Call(request.method, request.path, params, dict(request.headers), signed_ok)
        self.calls.append(call)
        responder = self.routes.get((request.method, request.path))
        if responder is None:
            return error(404, -1, f"no route {request.method} {request.path}")
        return await responder(call)


async def server_time(call: Call) -> web.StreamResponse:
    return reply({"serverTime": time.time_ns() // 1_000_000})


def signer() -> HmacSigner:
    return HmacSigner(API_KEY, SECRET)
