"""``BackpackVenue``: the ``Venue`` interface for Backpack perpetuals (REST + WebSocket).

The secret (a base64 seed, a ``services.secrets.Secret`` or a ready
``signing.Signer``) ends up held by a ``Signer`` only: it is registered for log
redaction and never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from services.logs import register_secret
from services.secrets import Secret
from venues.backpack.rest import BackpackRest
from venues.backpack.signing import Signer
from venues.backpack.stream import BackpackStream
from venues.backpack.transport import Transport
from venues.common.delegating import RestStreamVenue

DEFAULT_API_URL = "https://api.backpack.exchange"
DEFAULT_WS_URL = "wss://ws.backpack.exchange"


class BackpackVenue(RestStreamVenue):
    """One Backpack account; without a secret only public calls and the public stream work."""

    rest: BackpackRest
    stream: BackpackStream
    transport: Transport

    name = "backpack"

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API_URL,
        ws_url: str = DEFAULT_WS_URL,
        api_key: str | None = None,
        secret: Signer | Secret | str | None = None,
        window_ms: int = 5000,
        timeout_s: float = 5.0,
        auto_lend_redeem: bool = True,
        depth_levels: int = 10,
        max_attempts: int = 3,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 4.0,
        resolve_poll_s: float = 0.25,
        resolve_timeout_s: float = 30.0,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
        silence_timeout_s: float = 20.0,
        reconnect_base_s: float = 0.5,
        reconnect_cap_s: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ) -> None:
        signer = _signer(secret)
        if signer is not None and api_key and api_key != signer.api_key:
            raise ValueError("BACKPACK_API_KEY is not the public key of BACKPACK_SECRET_KEY")
        if signer is None and api_key:
            raise ValueError("a Backpack API key needs its secret key")
        self.transport = Transport(
            api_url=api_url,
            signer=signer,
            window_ms=window_ms,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            session=session,
            rng=rng,
        )
        self.rest = BackpackRest(
            self.transport,
            auto_lend_redeem=auto_lend_redeem,
            resolve_poll_s=resolve_poll_s,
            resolve_timeout_s=resolve_timeout_s,
        )
        self.stream = BackpackStream(
            ws_url=ws_url,
            rest=self.rest,
            depth_levels=depth_levels,
            open_timeout_s=max(timeout_s, 10.0),
            ping_interval_s=ping_interval_s,
            ping_timeout_s=ping_timeout_s,
            silence_timeout_s=silence_timeout_s,
            backoff_base_s=reconnect_base_s,
            backoff_cap_s=reconnect_cap_s,
            rng=rng,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> BackpackVenue:
        """A venue from BACKPACK_API_URL, BACKPACK_WS_URL, BACKPACK_API_KEY and BACKPACK_SECRET_KEY."""
        source = os.environ if env is None else env
        return cls(
            api_url=source.get("BACKPACK_API_URL") or DEFAULT_API_URL,
            ws_url=source.get("BACKPACK_WS_URL") or DEFAULT_WS_URL,
            api_key=source.get("BACKPACK_API_KEY") or None,
            secret=source.get("BACKPACK_SECRET_KEY") or None,
            **options,
        )

    def __repr__(self) -> str:
        urls = f"api_url={self.transport.api_url!r}, ws_url={self.stream.ws_url!r}"
        return f"BackpackVenue({urls}, api_key={self.api_key!r})"

    async def leverage(self, symbol: str) -> Decimal | None:
        """Backpack's leverage limit is account-wide."""
        return await self.rest.leverage()

    @property
    def api_key(self) -> str | None:
        return self.transport.signer.api_key if self.transport.signer else None


def _signer(secret: Signer | Secret | str | None) -> Signer | None:
    if secret is None or isinstance(secret, Signer):
        return secret
    if isinstance(secret, Secret):
        return Signer(secret.reveal())
    register_secret(secret)
    return Signer(secret)
