"""Backpack request authentication over the emulator: signature, window, rate limit, parameters.

Every signed request is checked as the venue checks it: the ED25519
signature (``venues.backpack.signing.verify``) over ``instruction=...`` plus
the sorted body or query and ``&timestamp=..&window=..``; the window (default
5000 ms, at most 60000) against the emulator's clock; a per-key rate limit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from venues.backpack.signing import batch_signing_string, signing_string, verify
from venues.emulator.backpack_errors import (
    ApiError,
    bad_signature,
    expired,
    invalid_request,
    too_many_requests,
)
from venues.emulator.core import EmulatorCore
from venues.emulator.ratelimit import SlidingWindowLimit, retry_after_header_s
from venues.emulator.records import UINT32_MAX

DEFAULT_WINDOW_MS = 5000
MAX_WINDOW_MS = 60_000


def client_id_param(raw: Any) -> int | None:
    """A ``clientId`` (uint32, also accepted as a digit string), or None."""
    if raw is None:
        return None
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= UINT32_MAX:
        raise invalid_request("Invalid clientId")
    return raw


def symbol_param(core: EmulatorCore, params: Mapping[str, Any]) -> str:
    """The required ``symbol`` parameter, a listed market."""
    symbol = params.get("symbol")
    if not isinstance(symbol, str) or symbol not in core.profiles:
        raise ApiError(400, "INVALID_CLIENT_REQUEST", "Invalid market symbol")
    return symbol


def optional_symbol(core: EmulatorCore, params: Mapping[str, Any]) -> str | None:
    """The ``symbol`` filter: a listed market, or None when absent."""
    return None if params.get("symbol") is None else symbol_param(core, params)


class Authenticator:
    def __init__(self, core: EmulatorCore) -> None:
        self.core = core
        self.limits = SlidingWindowLimit(limit=core.config.rate_limit_per_min)

    async def signed(self, request: web.Request, instruction: str, *, batch: bool = False) -> tuple[str, Any]:
        """Verify a signed request; returns the API key and the signed parameters (body or query)."""
        headers = request.headers
        api_key, signature, timestamp = (headers.get(h) for h in ("X-API-Key", "X-Signature", "X-Timestamp"))
        if not api_key or not signature or not timestamp:
            raise ApiError(401, "INVALID_CLIENT_REQUEST", "Missing signature headers")
        try:
            timestamp_ms = int(timestamp)
            window_ms = int(headers.get("X-Window", DEFAULT_WINDOW_MS))
        except ValueError:
            raise invalid_request("Invalid X-Timestamp or X-Window") from None
        if not 0 < window_ms <= MAX_WINDOW_MS:
            raise invalid_request(f"X-Window must be between 1 and {MAX_WINDOW_MS}")
        params = await self._params(request, batch=batch)
        now_ms = self.core.now_ms()
        if abs(now_ms - timestamp_ms) > window_ms:
            raise expired()
        if not self.core.engine.has_account(api_key) or self.core.engine.account(api_key).house:
            raise bad_signature()
        if batch:
            text = batch_signing_string(instruction, params, timestamp_ms=timestamp_ms, window_ms=window_ms)
        else:
            text = signing_string(instruction, params, timestamp_ms=timestamp_ms, window_ms=window_ms)
        if not verify(api_key, text, signature):
            raise bad_signature()
        wait_s = self.limits.check(api_key, now_ms)
        if wait_s is not None:
            raise too_many_requests(retry_after_header_s(wait_s))
        return api_key, params

    async def _params(self, request: web.Request, *, batch: bool) -> Any:
        if request.method == "GET":
            return dict(request.query)
        text = await request.text()
        try:
            # Floats keep their exact text: the client signed what it sent.
            body = json.loads(text, parse_float=str) if text.strip() else {}
        except json.JSONDecodeError:
            raise invalid_request("Invalid request body") from None
        if batch:
            if not isinstance(body, list) or not body or not all(isinstance(item, dict) for item in body):
                raise invalid_request("Expected a non-empty array of orders")
        elif not isinstance(body, dict):
            raise invalid_request("Expected a JSON object")
        return body
