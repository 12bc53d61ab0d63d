"""Signed, timed and retried HTTP to Backpack's REST API, on the venue's clock.

Every call has a timeout (``timeout_s``).  Idempotent calls (reads, cancels)
are retried on transport errors, 5xx and 429 with capped exponential backoff
and jitter (429 waits for ``Retry-After``).  A call that is not idempotent
(``orderExecute``) is never re-sent on an unknown outcome: it raises
``OutcomeUnknown`` so the caller can look the order up by its client id.
An expired request was never executed, so it is re-sent once after the
clock offset is re-synced from ``GET /api/v1/time``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from venues.backpack.errors import error_body, error_for, is_expired_request
from venues.backpack.signing import Signer, param_text, signing_string
from venues.base import AuthError, RateLimited, Unavailable
from venues.common.clock import VenueClock
from venues.common.parse import MalformedResponse, loads
from venues.common.retry import backoff_s

log = logging.getLogger(__name__)

MAX_WINDOW_MS = 60_000


class OutcomeUnknown(Unavailable):
    """A non-idempotent request may have reached the venue; ``timestamp_ms`` is what it was signed with."""

    def __init__(self, message: str, *, timestamp_ms: int, venue_message: str = "") -> None:
        super().__init__(message, venue_message=venue_message)
        self.timestamp_ms = timestamp_ms


class Transport:
    """One Backpack REST endpoint; signs with ``signer`` (None: public calls only)."""

    def __init__(
        self,
        *,
        api_url: str,
        signer: Signer | None = None,
        window_ms: int = 5000,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 4.0,
        max_retry_after_s: float = 10.0,
        clock_sync_interval_s: float = 300.0,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < window_ms <= MAX_WINDOW_MS:
            raise ValueError(f"window_ms must be in 1..{MAX_WINDOW_MS}")
        if timeout_s <= 0 or max_attempts < 1:
            raise ValueError("timeout_s must be positive and max_attempts at least 1")
        self.api_url = api_url.rstrip("/")
        self.signer = signer
        self.window_ms = window_ms
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_retry_after_s = max_retry_after_s
        self.clock_sync_interval_s = clock_sync_interval_s
        self._session = session
        self._owns_session = session is None
        self._rng = rng or random.Random()
        self.clock = VenueClock("backpack", self.server_time_ms, sync_interval_s=clock_sync_interval_s)

    def __repr__(self) -> str:
        key = self.signer.api_key if self.signer else None
        return f"Transport(api_url={self.api_url!r}, api_key={key!r}, window_ms={self.window_ms})"

    @property
    def offset_ms(self) -> int:
        """Venue clock minus local clock, as last measured."""
        return self.clock.offset_ms

    def now_ms(self) -> int:
        """The venue's clock in ms, from the local clock and the measured offset."""
        return self.clock.now_ms()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def server_time_ms(self) -> int:
        """``GET /api/v1/time`` (the venue answers a bare number of milliseconds)."""
        raw = await self.call("GET", "/api/v1/time")
        if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).isdigit():
            raise Unavailable(f"malformed server time {raw!r}")
        return int(raw)

    async def sync_clock(self) -> int:
        """Measure the venue clock offset now; returns it in ms."""
        return await self.clock.sync()

    async def keep_clock(self) -> None:
        """Re-measure the clock offset once it is older than ``clock_sync_interval_s`` (failures logged)."""
        await self.clock.keep()

    def subscribe_signature(self) -> list[str]:
        """The ``signature`` array of a private WebSocket subscribe: key, signature, ts, window."""
        signer = self._require_signer()
        timestamp_ms = self.now_ms()
        text = signing_string("subscribe", {}, timestamp_ms=timestamp_ms, window_ms=self.window_ms)
        return [signer.api_key, signer.sign(text), str(timestamp_ms), str(self.window_ms)]

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise AuthError("this Backpack connector has no API secret")
        return self.signer

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        instruction: str | None = None,
        idempotent: bool = True,
    ) -> Any:
        """One API call; the parsed JSON answer (None for an empty body).

        ``instruction`` set means signed.  GET parameters go in the query string,
        others in a JSON body.  Raises the typed errors of ``venues.base``, and
        ``OutcomeUnknown`` when ``idempotent`` is False and the outcome is unknown.
        """
        clean = {key: value for key, value in (params or {}).items() if value is not None}
        attempt = 0
        resynced = False
        while True:
            if instruction is not None:
                self._require_signer()
                await self.keep_clock()
            try:
                return await self._once(method, path, clean, instruction, idempotent=idempotent)
            except AuthError as exc:
                if resynced or not is_expired_request(exc):
                    raise
                resynced = True
                log.warning("backpack request expired (%s); re-syncing the clock", exc.venue_message)
                await self.sync_clock()
                continue
            except (Unavailable, RateLimited) as exc:
                if not idempotent or isinstance(exc, OutcomeUnknown):
                    raise
                attempt += 1
                if attempt >= self.max_attempts:
                    raise
                delay = backoff_s(
                    attempt - 1, base_s=self.backoff_base_s, cap_s=self.backoff_cap_s, rng=self._rng
                )
                if isinstance(exc, RateLimited):
                    if exc.retry_after_s > self.max_retry_after_s:
                        raise
                    delay = max(delay, exc.retry_after_s)
                log.info("backpack %s %s failed (%s); retry %d in %.2f s", method, path, exc, attempt, delay)
                await asyncio.sleep(delay)

    async def _once(
        self, method: str, path: str, params: dict[str, Any], instruction: str | None, *, idempotent: bool
    ) -> Any:
        headers: dict[str, str] = {}
        timestamp_ms = self.now_ms()
        if instruction is not None:
            signer = self._require_signer()
            text = signing_string(instruction, params, timestamp_ms=timestamp_ms, window_ms=self.window_ms)
            headers = {
                "X-API-Key": signer.api_key,
                "X-Signature": signer.sign(text),
                "X-Timestamp": str(timestamp_ms),
                "X-Window": str(self.window_ms),
            }
        kwargs: dict[str, Any] = {"headers": headers}
        if method == "GET":
            kwargs["params"] = {key: param_text(value) for key, value in params.items()}
        elif params:
            kwargs["json"] = {key: _json_value(value) for key, value in params.items()}
        session = self._session_now()
        url = self.api_url + path
        try:
            async with session.request(
                method, url, timeout=aiohttp.ClientTimeout(total=self.timeout_s), **kwargs
            ) as response:
                text = await response.text()
                status = response.status
                retry_after = _retry_after_s(response.headers.get("Retry-After"))
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Never connected: the request cannot have reached the venue.
            raise Unavailable(f"{method} {path}: cannot connect: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc!r}"
            if idempotent:
                raise Unavailable(f"{method} {path} {reason}") from exc
            raise OutcomeUnknown(f"{method} {path} {reason}", timestamp_ms=timestamp_ms) from exc
        if status >= 400:
            code, message = error_body(text)
            error = error_for(status, code, message, retry_after_s=retry_after)
            if status >= 500 and not idempotent:
                raise OutcomeUnknown(str(error), timestamp_ms=timestamp_ms, venue_message=message)
            raise error
        if not text.strip():
            return None
        try:
            return loads(text)
        except MalformedResponse as exc:
            if idempotent:
                raise Unavailable(f"{method} {path}: {exc}") from exc
            raise OutcomeUnknown(f"{method} {path}: {exc}", timestamp_ms=timestamp_ms) from exc

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session


def _json_value(value: Any) -> Any:
    # Money travels as decimal text, exactly as it was signed.
    return param_text(value) if isinstance(value, Decimal) else value


def _retry_after_s(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        value = float(header)
    except ValueError:
        return None
    return value if value >= 0 else None
