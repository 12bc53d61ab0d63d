"""``AsterVenue``: the ``Venue`` interface (and a dead-man switch) for Aster perpetuals.

Credentials choose the auth generation: ``AsterV3Credentials`` (EIP-712, the
default) or ``AsterV1Credentials`` (HMAC, existing keys).  Secrets end up held
by the signer only: registered for log redaction, never in a repr or an error.
The dead-man switch is ``countdownCancelAll``: the guardian re-arms it while it
lives, and the venue cancels the symbol's orders when it stops.
"""

from __future__ import annotations

import random
from decimal import Decimal

import aiohttp

from services.secrets import AsterV1Credentials, AsterV3Credentials
from venues.aster.rest import AsterRest
from venues.aster.signing import MAINNET_CHAIN_ID, Eip712Signer, HmacSigner, Signer
from venues.aster.stream import AsterStream
from venues.aster.transport import AsterTransport
from venues.base import DeadManSwitch
from venues.common.delegating import RestStreamVenue

DEFAULT_API_URL = "https://fapi.asterdex.com"
DEFAULT_WS_URL = "wss://fstream.asterdex.com"
AsterCredentials = AsterV3Credentials | AsterV1Credentials


def make_signer(
    credentials: AsterCredentials | Signer | None,
    *,
    chain_id: int = MAINNET_CHAIN_ID,
    recv_window_ms: int = 5000,
) -> Signer | None:
    """The request signer for ``credentials`` (v3 EIP-712 or v1 HMAC); None for public use."""
    if credentials is None or isinstance(credentials, HmacSigner | Eip712Signer):
        return credentials
    if isinstance(credentials, AsterV3Credentials):
        return Eip712Signer(
            user=credentials.user,
            signer=credentials.signer,
            private_key=credentials.signer_private_key.reveal(),
            chain_id=chain_id,
        )
    return HmacSigner(credentials.api_key, credentials.secret_key.reveal(), recv_window_ms=recv_window_ms)


class AsterVenue(RestStreamVenue, DeadManSwitch):
    """One Aster futures account; without credentials only public calls and the public stream work."""

    rest: AsterRest
    stream: AsterStream
    transport: AsterTransport

    name = "aster"

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API_URL,
        ws_url: str = DEFAULT_WS_URL,
        credentials: AsterCredentials | Signer | None = None,
        chain_id: int = MAINNET_CHAIN_ID,
        recv_window_ms: int = 5000,
        timeout_s: float = 5.0,
        depth_levels: int = 10,
        max_attempts: int = 3,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 4.0,
        resolve_poll_s: float = 0.25,
        resolve_timeout_s: float = 75.0,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
        silence_timeout_s: float = 20.0,
        listen_key_keepalive_s: float = 30 * 60.0,
        reconnect_base_s: float = 0.5,
        reconnect_cap_s: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.transport = AsterTransport(
            api_url=api_url,
            signer=make_signer(credentials, chain_id=chain_id, recv_window_ms=recv_window_ms),
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            session=session,
            rng=rng,
        )
        self.rest = AsterRest(
            self.transport, resolve_poll_s=resolve_poll_s, resolve_timeout_s=resolve_timeout_s
        )
        self.stream = AsterStream(
            ws_url=ws_url,
            rest=self.rest,
            depth_levels=depth_levels,
            open_timeout_s=max(timeout_s, 10.0),
            ping_interval_s=ping_interval_s,
            ping_timeout_s=ping_timeout_s,
            silence_timeout_s=silence_timeout_s,
            keepalive_s=listen_key_keepalive_s,
            backoff_base_s=reconnect_base_s,
            backoff_cap_s=reconnect_cap_s,
            rng=rng,
        )

    def __repr__(self) -> str:
        urls = f"api_url={self.transport.api_url!r}, ws_url={self.stream.ws_url!r}"
        return f"AsterVenue({urls}, signer={self.transport.signer!r})"

    async def leverage(self, symbol: str) -> Decimal | None:
        return await self.rest.leverage(symbol)

    async def arm(self, symbol: str, *, timeout_s: float) -> None:
        """(Re)start the venue's countdown: every order on ``symbol`` is cancelled ``timeout_s`` from now."""
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive (disarm() stops the countdown)")
        await self.rest.countdown_cancel_all(symbol, countdown_ms=round(timeout_s * 1000))

    async def disarm(self, symbol: str) -> None:
        await self.rest.countdown_cancel_all(symbol, countdown_ms=0)
