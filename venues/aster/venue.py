"""``AsterVenue``: the ``Venue`` interface (and a dead-man switch) for Aster perpetuals.

Credentials choose the auth generation: ``AsterV3Credentials`` (EIP-712, the
default) or ``AsterV1Credentials`` (HMAC, existing keys).  Secrets end up held
by the signer only: registered for log redaction, never in a repr or an error.
The dead-man switch is ``countdownCancelAll``: the guardian re-arms it while it
lives, and the venue cancels the symbol's orders when it stops.
"""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator
from decimal import Decimal

import aiohttp

from services.secrets import AsterV1Credentials, AsterV3Credentials
from services.wire import Balance, Fill, FundingPayment, Mark, OrderUpdate, Place, Position
from venues.aster.rest import AsterRest
from venues.aster.signing import MAINNET_CHAIN_ID, Eip712Signer, HmacSigner, Signer
from venues.aster.stream import AsterStream
from venues.aster.transport import AsterTransport
from venues.base import DeadManSwitch, MarketRules, Venue, VenueEvent

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


class AsterVenue(Venue, DeadManSwitch):
    """One Aster futures account; without credentials only public calls and the public stream work."""

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
        resolve_timeout_s: float = 30.0,
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

    async def load_markets(self) -> dict[str, MarketRules]:
        return await self.rest.load_markets()

    async def server_time_ms(self) -> int:
        return await self.rest.server_time_ms()

    def public_stream(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        return self.stream.public(symbol)

    def private_stream(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        return self.stream.private(symbol)

    async def place_order(self, order: Place) -> OrderUpdate:
        return await self.rest.place_order(order)

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        return await self.rest.cancel_order(symbol, order_id=order_id, client_id=client_id)

    async def cancel_all(self, symbol: str) -> int:
        return await self.rest.cancel_all(symbol)

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        return await self.rest.open_orders(symbol)

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate | None:
        return await self.rest.get_order(symbol, order_id=order_id, client_id=client_id)

    async def position(self, symbol: str) -> Position:
        return await self.rest.position(symbol)

    async def collateral(self) -> Balance:
        return await self.rest.collateral()

    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]:
        return await self.rest.fills(symbol, since_ms=since_ms, limit=limit)

    async def funding_payments(self, symbol: str, *, since_ms: int | None = None) -> list[FundingPayment]:
        return await self.rest.funding_payments(symbol, since_ms=since_ms)

    async def mark_price(self, symbol: str) -> Decimal:
        return await self.rest.mark_price(symbol)

    async def mark(self, symbol: str) -> Mark:
        """Mark, index, funding rate and next funding time over REST."""
        return await self.rest.mark(symbol)

    async def arm(self, symbol: str, *, timeout_s: float) -> None:
        """(Re)start the venue's countdown: every order on ``symbol`` is cancelled ``timeout_s`` from now."""
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive (disarm() stops the countdown)")
        await self.rest.countdown_cancel_all(symbol, countdown_ms=round(timeout_s * 1000))

    async def disarm(self, symbol: str) -> None:
        await self.rest.countdown_cancel_all(symbol, countdown_ms=0)

    async def close(self) -> None:
        await self.transport.close()
