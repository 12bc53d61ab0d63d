"""Timed, retried HTTP to Paradex's REST API with the account's JWT, on the venue's clock.

The chain id (``/system/config``) and the clock offset (``/system/time``) are
fetched once and kept; the JWT comes from ``auth.JwtKeeper``.  Idempotent
calls are retried on transport errors, 5xx and 429 with capped, jittered
backoff.  A 401 means the request was refused unexecuted, so it is re-sent
once with a fresh token, even an order; an ``INVALID_TIMESTAMP`` is re-sent
once after re-syncing the clock.  Bodies given as a function are rebuilt for
each attempt, so a re-sent order is signed again.  A non-idempotent call
whose outcome is unknown raises ``OutcomeUnknown`` and is never re-sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from venues.base import AuthError, RateLimited, Unavailable
from venues.common.clock import VenueClock
from venues.common.parse import MalformedResponse, integer, loads
from venues.common.retry import backoff_s
from venues.paradex.auth import JwtKeeper
from venues.paradex.errors import error_body, error_for, is_clock_error
from venues.paradex.signing import StarkSigner, auth_hash, auth_message, chain_id_felt, signature_json

log = logging.getLogger(__name__)

AUTH_SIGNATURE_LIFE_S = 1800


class OutcomeUnknown(Unavailable):
    """A non-idempotent request may have reached the venue."""


Body = Mapping[str, Any] | list[Any] | Callable[[], Any] | None


class ParadexTransport:
    """One Paradex REST endpoint (``api_url`` ends in ``/v1``); ``signer`` None: public calls only."""

    def __init__(
        self,
        *,
        api_url: str,
        signer: StarkSigner | None = None,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 4.0,
        max_retry_after_s: float = 10.0,
        jwt_refresh_fraction: float = 0.6,
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
        self.jwt = JwtKeeper(self._authenticate, refresh_fraction=jwt_refresh_fraction)
        self._session = session
        self._owns_session = session is None
        self._rng = rng or random.Random()
        # Paradex's signatures carry their own expiry: the offset is measured once, and again on
        # an expired answer, never on a timer.
        self.clock = VenueClock("paradex", self.server_time_ms, sync_interval_s=float("inf"))
        self._chain_id: int | None = None
        self._config: dict[str, Any] | None = None

    def __repr__(self) -> str:
        account = hex(self.signer.account) if self.signer else None
        return f"ParadexTransport(api_url={self.api_url!r}, account={account})"

    # ------------------------------------------------------------ clock and chain

    def now_ms(self) -> int:
        """The venue's clock in ms, from the local clock and the measured offset."""
        return self.clock.now_ms()

    async def server_time_ms(self) -> int:
        raw = await self.call("GET", "/system/time")
        try:
            return integer(raw["server_time"] if isinstance(raw, dict) else None)
        except (KeyError, MalformedResponse) as exc:
            raise Unavailable(f"malformed server time {raw!r}") from exc

    async def sync_clock(self) -> int:
        """Measure the venue clock offset now; returns it in ms."""
        return await self.clock.sync()

    async def system_config(self) -> dict[str, Any]:
        if self._config is None:
            raw = await self.call("GET", "/system/config")
            if not isinstance(raw, dict) or not isinstance(raw.get("starknet_chain_id"), str):
                raise Unavailable("malformed /system/config: no starknet_chain_id")
            self._config = raw
        return self._config

    async def chain_id(self) -> int:
        """The Starknet chain id felt every signature is bound to."""
        if self._chain_id is None:
            self._chain_id = chain_id_felt((await self.system_config())["starknet_chain_id"])
        return self._chain_id

    async def ready_to_sign(self) -> StarkSigner:
        """The signer, with the chain id and clock offset known."""
        signer = self.require_signer()
        await self.chain_id()
        if not self.clock.synced:
            await self.sync_clock()
        return signer

    def require_signer(self) -> StarkSigner:
        if self.signer is None:
            raise AuthError("this Paradex connector has no L2 private key")
        return self.signer

    async def _authenticate(self) -> str:
        """``POST /auth``: a JWT for the account (its signature is valid ``AUTH_SIGNATURE_LIFE_S``)."""
        signer = await self.ready_to_sign()
        try:
            raw = await self._auth_once(signer)
        except AuthError as exc:
            if not is_clock_error(exc):
                raise
            await self.sync_clock()
            raw = await self._auth_once(signer)
        token = raw.get("jwt_token") if isinstance(raw, dict) else None
        if not isinstance(token, str) or not token:
            raise Unavailable("malformed /auth answer: no jwt_token")
        return token

    async def _auth_once(self, signer: StarkSigner) -> Any:
        now_s = self.now_ms() // 1000
        expires_s = now_s + AUTH_SIGNATURE_LIFE_S
        message = auth_message(timestamp_s=now_s, expiration_s=expires_s)
        headers = {
            "PARADEX-STARKNET-ACCOUNT": hex(signer.account),
            "PARADEX-STARKNET-SIGNATURE": signature_json(
                signer.sign(auth_hash(await self.chain_id(), signer.account, message))
            ),
            "PARADEX-TIMESTAMP": str(now_s),
            "PARADEX-SIGNATURE-EXPIRATION": str(expires_s),
        }
        return await self._once("POST", "/auth", None, headers, idempotent=True)

    # ------------------------------------------------------------ calls

    async def close(self) -> None:
        await self.jwt.close()
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Body = None,
        private: bool = False,
        idempotent: bool = True,
    ) -> Any:
        """One API call; the parsed JSON answer (None for an empty body).

        Raises the typed errors of ``venues.base``, and ``OutcomeUnknown`` when
        ``idempotent`` is False and the outcome is unknown.
        """
        query = {key: str(value) for key, value in (params or {}).items() if value is not None}
        attempt = 0
        reauthed = resynced = False
        while True:
            headers: dict[str, str] = {}
            token = None
            if private:
                self.require_signer()
                token = await self.jwt.token()
                headers["Authorization"] = f"Bearer {token}"
            payload = body() if callable(body) else body
            try:
                return await self._once(method, path, query, headers, payload=payload, idempotent=idempotent)
            except AuthError as exc:
                if private and not reauthed and str(exc).startswith("HTTP 401"):
                    reauthed = True
                    log.warning("paradex answered 401 (%s); refreshing the JWT", exc.venue_message)
                    await self.jwt.refresh(stale=token)
                    continue
                if not resynced and is_clock_error(exc):
                    resynced = True
                    await self.sync_clock()
                    continue
                raise
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
                log.info("paradex %s %s failed (%s); retry %d in %.2f s", method, path, exc, attempt, delay)
                await asyncio.sleep(delay)

    async def _once(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        headers: dict[str, str],
        *,
        payload: Any = None,
        idempotent: bool,
    ) -> Any:
        kwargs: dict[str, Any] = {"headers": headers}
        if query:
            kwargs["params"] = query
        if payload is not None:
            kwargs["json"] = payload
        session = self._session_now()
        try:
            async with session.request(
                method, self.api_url + path, timeout=aiohttp.ClientTimeout(total=self.timeout_s), **kwargs
            ) as response:
                text = await response.text()
                status = response.status
                retry_after = _retry_after_s(response.headers.get("Retry-After"))
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise Unavailable(f"{method} {path}: cannot connect: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc!r}"
            if idempotent:
                raise Unavailable(f"{method} {path} {reason}") from exc
            raise OutcomeUnknown(f"{method} {path} {reason}") from exc
        if status >= 400:
            error, message = error_body(text)
            failure = error_for(status, error, message, retry_after_s=retry_after)
            if status >= 500 and not idempotent:
                raise OutcomeUnknown(str(failure), venue_message=message)
            raise failure
        if not text.strip():
            return None
        try:
            return loads(text)
        except MalformedResponse as exc:
            if idempotent:
                raise Unavailable(f"{method} {path}: {exc}") from exc
            raise OutcomeUnknown(f"{method} {path}: {exc}") from exc

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session


def _retry_after_s(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        value = float(header)
    except ValueError:
        return None
    return value if value >= 0 else None
