"""``ParadexVenue``: the ``Venue`` interface for Paradex perpetuals (REST + JSON-RPC WebSocket).

The account is an address plus its STARK (L2) private key (``venues.paradex.keys``
derives both from the account's Ethereum key, as Paradex onboarding does).  The
key lives only inside a ``StarkSigner`` and never appears in a repr, a log or
an error.  Paradex implements ``DeadManSwitch`` with cancel-on-disconnect,
which covers only the orders placed over the connection that armed it: while
the switch is armed, orders are placed and cancelled over that connection
(``ws_orders``), over REST only while it is down; the private stream reports
``LIVE`` only while the switch is armed (``session_gate``), so the order
gateway stops quoting until it is re-armed.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncGenerator, Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from services.logs import register_secret
from services.secrets import Secret
from services.wire import OrderUpdate, Place
from venues.base import DeadManSwitch, VenueEvent
from venues.common.delegating import RestStreamVenue
from venues.paradex.deadman import CancelOnDisconnect, SessionDown
from venues.paradex.rest import ParadexRest
from venues.paradex.session_gate import gated
from venues.paradex.signing import StarkSigner
from venues.paradex.stream import ParadexStream
from venues.paradex.transport import ParadexTransport
from venues.paradex.ws_orders import WsOrderEntry

DEFAULT_API_URL = "https://api.prod.paradex.trade/v1"
DEFAULT_WS_URL = "wss://ws.api.prod.paradex.trade/v1"


class ParadexVenue(RestStreamVenue, DeadManSwitch):
    """One Paradex account; without a key only public calls and the public stream work."""

    rest: ParadexRest
    stream: ParadexStream
    transport: ParadexTransport

    name = "paradex"

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API_URL,
        ws_url: str = DEFAULT_WS_URL,
        account_address: str | None = None,
        l2_private_key: Secret | str | None = None,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        jwt_refresh_fraction: float = 0.6,
        depth_levels: int = 10,
        follow_timeout_s: float = 2.0,
        resolve_timeout_s: float = 30.0,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 5.0,
        silence_timeout_s: float = 20.0,
        reconnect_base_s: float = 0.5,
        reconnect_cap_s: float = 30.0,
        sbe_public: bool = True,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ) -> None:
        signer = _signer(account_address, l2_private_key)
        self.transport = ParadexTransport(
            api_url=api_url,
            signer=signer,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            jwt_refresh_fraction=jwt_refresh_fraction,
            session=session,
            rng=rng,
        )
        self.rest = ParadexRest(
            self.transport, follow_timeout_s=follow_timeout_s, resolve_timeout_s=resolve_timeout_s
        )
        self.stream = ParadexStream(
            ws_url=ws_url,
            rest=self.rest,
            depth_levels=depth_levels,
            open_timeout_s=max(timeout_s, 10.0),
            ping_interval_s=ping_interval_s,
            ping_timeout_s=ping_timeout_s,
            silence_timeout_s=silence_timeout_s,
            backoff_base_s=reconnect_base_s,
            backoff_cap_s=reconnect_cap_s,
            sbe_public=sbe_public,
            rng=rng,
        )
        self.dead_man = CancelOnDisconnect(self.stream, rng=rng)
        self.ws_orders = WsOrderEntry(self.dead_man, self.rest, answer_timeout_s=timeout_s)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> ParadexVenue:
        """A venue from PARADEX_API_URL, _WS_URL, _ACCOUNT_ADDRESS and _L2_PRIVATE_KEY."""
        source = os.environ if env is None else env
        return cls(
            api_url=source.get("PARADEX_API_URL") or DEFAULT_API_URL,
            ws_url=source.get("PARADEX_WS_URL") or DEFAULT_WS_URL,
            account_address=source.get("PARADEX_ACCOUNT_ADDRESS") or None,
            l2_private_key=source.get("PARADEX_L2_PRIVATE_KEY") or None,
            **options,
        )

    def __repr__(self) -> str:
        account = hex(self.transport.signer.account) if self.transport.signer else None
        urls = f"api_url={self.transport.api_url!r}, ws_url={self.stream.ws_url!r}"
        return f"ParadexVenue({urls}, account={account})"

    def private_stream(self, symbol: str) -> AsyncGenerator[VenueEvent, None]:
        """The account feed, ``LIVE`` only while the dead-man switch is armed (it is kept armed from now);
        it also tells the REST calls the orders' outcomes (no polling GETs)."""
        return self._observed(gated(self.stream.private(symbol), self.dead_man))

    async def _observed(self, events: AsyncGenerator[VenueEvent, None]) -> AsyncGenerator[VenueEvent, None]:
        try:
            async for event in events:
                self.rest.watch.observe(event.msg)
                yield event
        finally:
            self.rest.watch.live = False
            await events.aclose()

    async def leverage(self, symbol: str) -> Decimal | None:
        """The account's leverage on ``symbol``, capped by the market's maximum."""
        return await self.rest.leverage(symbol)

    async def place_order(self, order: Place) -> OrderUpdate:
        """Over the armed switch's connection (so the switch covers the order), over REST while it is down."""
        try:
            return await self.ws_orders.place_order(order)
        except SessionDown:
            return await self.rest.place_order(order)

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        try:
            return await self.ws_orders.cancel_order(symbol, order_id=order_id, client_id=client_id)
        except SessionDown:
            return await self.rest.cancel_order(symbol, order_id=order_id, client_id=client_id)

    async def arm(self, symbol: str, *, timeout_s: float) -> None:
        """Arm cancel-on-disconnect: it covers this venue's orders of every market placed while armed."""
        await self.dead_man.arm(timeout_s=timeout_s)

    async def disarm(self, symbol: str) -> None:
        await self.dead_man.disarm()

    async def close(self) -> None:
        await self.dead_man.close()
        await self.transport.close()


def _signer(address: str | None, key: Secret | str | None) -> StarkSigner | None:
    if key is None:
        if address:
            raise ValueError("a Paradex account address needs its L2 private key")
        return None
    text = key.reveal() if isinstance(key, Secret) else key
    register_secret(text)
    if not address:
        raise ValueError("a Paradex L2 private key needs its account address")
    try:
        account, private_key = int(address, 16), int(text, 16)
    except ValueError:
        raise ValueError("PARADEX_ACCOUNT_ADDRESS and PARADEX_L2_PRIVATE_KEY must be 0x hex") from None
    return StarkSigner(account=account, private_key=private_key)
