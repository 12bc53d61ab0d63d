"""Signed, timed and retried HTTP to Aster's futures REST API, on the venue's clock.

GET and DELETE parameters travel in the query string, POST and PUT ones in a
form body; either way the signature covers exactly the text sent.  Every call
has a timeout.  The used request weight is read from ``X-MBX-USED-WEIGHT-1M``
and the account's order count from ``X-MBX-ORDER-COUNT-1M`` after every
answer.  A 429 pauses every call (so nothing adds to the count that leads to a
ban) until ``Retry-After`` has passed; the venue documents no such header, and
without it the pause grows with each 429 in a row: 1, 2, 4 ... up to 60 s (the
limits' window), back to 1 s after a quiet minute.  A 418 is an IP ban, and no
request is sent at all until the ban ends.  Idempotent calls are retried on
transport errors, 5xx and short rate-limit pauses; a non-idempotent one
(placing an order) never is: a timeout, a 5xx or a garbled answer raises
``OutcomeUnknown`` and the caller resolves the order by its client id.  A
request refused for its timestamp or nonce (-1021, -4225) never executed, so it
is re-sent once after the clock offset is re-measured.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import aiohttp
from yarl import URL

from services.logs import log_once
from venues.aster.errors import banned_until_ms, error_body, error_for, is_expired_request
from venues.aster.signing import Eip712Signer, Signer, param_string
from venues.base import AuthError, RateLimited, Unavailable
from venues.common.clock import VenueClock
from venues.common.parse import MalformedResponse, loads
from venues.common.retry import backoff_s
from venues.precision import fmt

log = logging.getLogger(__name__)

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDER_COUNT_HEADER = "X-MBX-ORDER-COUNT-1M"
DEFAULT_BAN_S = 60.0
FIRST_PAUSE_S = 1.0
MAX_PAUSE_S = 60.0
QUIET_RESET_S = 60.0
Params = Mapping[str, Any] | Iterable[tuple[str, Any]]


class OutcomeUnknown(Unavailable):
    """A non-idempotent request may have reached the venue; ``nonce_us`` is its v3 nonce (None for v1)."""

    def __init__(self, message: str, *, venue_message: str = "", nonce_us: int | None = None) -> None:
        super().__init__(message, venue_message=venue_message)
        self.nonce_us = nonce_us


class AsterTransport:
    """One Aster REST endpoint; ``signer`` None allows public calls only."""

    def __init__(
        self,
        *,
        api_url: str,
        signer: Signer | None = None,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 4.0,
        max_retry_after_s: float = 10.0,
        weight_limit_per_min: int = 2400,
        orders_limit_per_min: int = 1200,
        clock_sync_interval_s: float = 300.0,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if timeout_s <= 0 or max_attempts < 1:
            raise ValueError("timeout_s must be positive and max_attempts at least 1")
        self.api_url = api_url.rstrip("/")
        self.signer = signer
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_retry_after_s = max_retry_after_s
        self.weight_limit_per_min = weight_limit_per_min
        self.orders_limit_per_min = orders_limit_per_min
        self.clock_sync_interval_s = clock_sync_interval_s
        self.used_weight_1m = 0
        self.order_count_1m = 0
        self._strikes = 0  # 429s in a row (none apart by more than QUIET_RESET_S)
        self._last_429_s = -QUIET_RESET_S
        self._session = session
        self._owns_session = session is None
        self._rng = rng or random.Random()
        self.clock = VenueClock("aster", self.server_time_ms, sync_interval_s=clock_sync_interval_s)
        self._paused_until_s = 0.0  # monotonic; 429 pause or 418 ban
        self._banned = False

    def __repr__(self) -> str:
        return f"AsterTransport(api_url={self.api_url!r}, signer={self.signer!r})"

    @property
    def offset_ms(self) -> int:
        return self.clock.offset_ms

    def now_ms(self) -> int:
        """The venue's clock in ms, from the local clock and the measured offset."""
        return self.clock.now_ms()

    def pause_remaining_s(self) -> float:
        """How long calls are still held back by a 429 pause or a 418 ban (0: free to send)."""
        return max(self._paused_until_s - time.monotonic(), 0.0)

    @property
    def banned(self) -> bool:
        return self._banned and self.pause_remaining_s() > 0

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def server_time_ms(self) -> int:
        raw = await self.call("GET", "/fapi/v1/time")
        value = raw.get("serverTime") if isinstance(raw, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Unavailable(f"malformed server time {raw!r}")
        return value

    async def sync_clock(self) -> int:
        """Measure the venue clock offset now; returns it in ms."""
        return await self.clock.sync()

    async def keep_clock(self) -> None:
        """Re-measure the clock offset once it is older than ``clock_sync_interval_s`` (failures logged)."""
        await self.clock.keep()

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise AuthError("this Aster connector has no API credentials")
        return self.signer

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        signed: bool = False,
        key_only: bool = False,
        idempotent: bool = True,
        nonce_us: int | None = None,
    ) -> Any:
        """One API call; the parsed JSON answer (None for an empty body).

        ``signed`` adds the auth parameters and signature; ``key_only`` sends just the v1
        API-key header (user-stream calls); ``nonce_us`` signs with that v3 nonce again
        (never re-sent: a refused nonce means it was used).  Raises the typed errors of
        ``venues.base``, and ``OutcomeUnknown`` when ``idempotent`` is False and the
        outcome is unknown.
        """
        items = [(k, _text(v)) for k, v in _pairs(params) if v is not None]
        attempt = 0
        resynced = False
        while True:
            if signed:
                self._require_signer()
                await self.keep_clock()
            try:
                return await self._once(
                    method,
                    path,
                    items,
                    signed=signed,
                    key_only=key_only,
                    idempotent=idempotent,
                    nonce_us=nonce_us,
                )
            except AuthError as exc:
                if resynced or nonce_us is not None or not is_expired_request(exc):
                    raise
                resynced = True
                log.warning(
                    "aster request refused for its time (%s); re-syncing the clock", exc.venue_message
                )
                await self.sync_clock()
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
                log.info("aster %s %s failed (%s); retry %d in %.2f s", method, path, exc, attempt, delay)
                await asyncio.sleep(delay)

    async def _once(
        self,
        method: str,
        path: str,
        items: list[tuple[str, str]],
        *,
        signed: bool,
        key_only: bool,
        idempotent: bool,
        nonce_us: int | None,
    ) -> Any:
        waiting_s = self.pause_remaining_s()
        if waiting_s > 0:
            # Sending during a pause is what turns a 429 into a ban: refuse locally instead.
            what = "IP banned by Aster" if self._banned else "rate limited by Aster"
            raise RateLimited(f"{what}; {waiting_s:.1f} s left", retry_after_s=waiting_s)
        headers: dict[str, str] = {}
        used_nonce_us: int | None = None
        if signed:
            signer = self._require_signer()
            if isinstance(signer, Eip712Signer):
                text = signer.sign(items, now_ms=self.now_ms(), nonce_us=nonce_us)
                used_nonce_us = signer.last_nonce_us if nonce_us is None else nonce_us
            else:
                text = signer.sign(items, now_ms=self.now_ms())
            headers.update(signer.headers)
        else:
            text = param_string(items)
            if key_only:
                headers.update(self._require_signer().headers)
        url = self.api_url + path
        kwargs: dict[str, Any] = {"headers": headers}
        if method in ("GET", "DELETE"):
            target = URL(f"{url}?{text}" if text else url, encoded=True)
        else:
            target = URL(url)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            kwargs["data"] = text.encode()
        session = self._session_now()
        try:
            async with session.request(
                method, target, timeout=aiohttp.ClientTimeout(total=self.timeout_s), **kwargs
            ) as response:
                body = await response.text()
                status = response.status
                self._note_usage(
                    response.headers.get(WEIGHT_HEADER), response.headers.get(ORDER_COUNT_HEADER)
                )
                retry_after = _retry_after_s(response.headers.get("Retry-After"))
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise Unavailable(f"{method} {path}: cannot connect: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc!r}"
            if idempotent:
                raise Unavailable(f"{method} {path} {reason}") from exc
            raise OutcomeUnknown(f"{method} {path} {reason}", nonce_us=used_nonce_us) from exc
        if status >= 400:
            code, message = error_body(body)
            if status in (418, 429):
                retry_after = self._pause(status, message, retry_after)
            error = error_for(status, code, message, retry_after_s=retry_after)
            if isinstance(error, Unavailable) and not idempotent:
                # 5xx, -1006 or -1007 (execution status unknown): the order may exist.
                raise OutcomeUnknown(str(error), venue_message=message, nonce_us=used_nonce_us)
            raise error
        if not body.strip():
            return None
        try:
            return loads(body)
        except MalformedResponse as exc:
            if idempotent:
                raise Unavailable(f"{method} {path}: {exc}") from exc
            raise OutcomeUnknown(f"{method} {path}: {exc}", nonce_us=used_nonce_us) from exc

    def _pause(self, status: int, message: str, retry_after_s: float | None) -> float:
        """Hold every call back after a 429 (pause) or 418 (ban); returns the wait in seconds."""
        if status == 418:
            until_ms = banned_until_ms(message)
            wait_s = (until_ms - self.now_ms()) / 1000 if until_ms is not None else None
            wait_s = max(wait_s if wait_s is not None else (retry_after_s or DEFAULT_BAN_S), 1.0)
            self._banned = True
            log.error("aster IP ban (418): no requests for %.0f s: %s", wait_s, message)
        else:
            now_s = time.monotonic()
            self._strikes = 1 if now_s - self._last_429_s > QUIET_RESET_S else self._strikes + 1
            self._last_429_s = now_s
            grown_s = pause_after_429_s(self._strikes)
            wait_s = retry_after_s if retry_after_s is not None else grown_s
            self._banned = False
            log.warning(
                "aster rate limit (429, %d in a row): pausing requests for %.1f s", self._strikes, wait_s
            )
        self._paused_until_s = max(self._paused_until_s, time.monotonic() + wait_s)
        return wait_s

    def _note_usage(self, weight: str | None, orders: str | None) -> None:
        """Keep the used weight and order count the venue reports; warn once near either budget."""
        if weight is not None and weight.isdigit():
            self.used_weight_1m = int(weight)
        if orders is not None and orders.isdigit():
            self.order_count_1m = int(orders)
        for what, used, limit in (
            ("request weight", self.used_weight_1m, self.weight_limit_per_min),
            ("order count", self.order_count_1m, self.orders_limit_per_min),
        ):
            if used >= 0.9 * limit:
                log_once(
                    log,
                    f"aster.{what}.high",
                    f"aster {what} {used}/{limit} per minute: near the limit (429, then an IP ban, follow)",
                )

    def set_limits(self, *, weight_per_min: int | None, orders_per_min: int | None) -> None:
        """The budgets as exchangeInfo lists them (None keeps the documented default)."""
        self.weight_limit_per_min = weight_per_min or self.weight_limit_per_min
        self.orders_limit_per_min = orders_per_min or self.orders_limit_per_min

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session


def pause_after_429_s(strikes: int) -> float:
    """The pause after the ``strikes``-th 429 in a row without ``Retry-After``: doubling, capped."""
    return min(FIRST_PAUSE_S * 2 ** max(strikes - 1, 0), MAX_PAUSE_S)


def _pairs(params: Params | None) -> list[tuple[str, Any]]:
    if params is None:
        return []
    if isinstance(params, Mapping):
        return list(params.items())
    return list(params)


def _text(value: Any) -> str:
    # Booleans as the venue spells them; money as plain decimal text, never an exponent.
    if isinstance(value, bool):
        return "true" if value else "false"
    return fmt(value) if isinstance(value, Decimal) else str(value)


def _retry_after_s(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        value = float(header)
    except ValueError:
        return None
    return value if value >= 0 else None
