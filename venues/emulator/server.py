"""The emulator as a server: one loopback HTTP port for the venue's REST, its WebSocket and control.

``EmulatorServer`` is the in-process API tests use::

    async with EmulatorServer(venue="backpack", seed=1, symbols=["SOL_USDC_PERP"], accounts=[...]) as emu:
        emu.rest_url, emu.ws_url, emu.engine

The simulated market advances on a timer (every ``tick_interval_s``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol

from aiohttp import web

from venues.emulator.arrival import stamp_arrival
from venues.emulator.aster_credentials import AsterAccountSpec, parse_aster_account
from venues.emulator.aster_front import AsterFrontEnd
from venues.emulator.backpack_front import BackpackFrontEnd
from venues.emulator.catalog import select_markets
from venues.emulator.control import ControlApi
from venues.emulator.core import EmulatorConfig, EmulatorCore
from venues.emulator.credentials import AccountSpec, parse_account
from venues.emulator.depth_lag import DEFAULT_LAG
from venues.emulator.engine import Engine, FeeSchedule
from venues.emulator.market import MarketSimulator, SimulatorConfig
from venues.emulator.paradex_accounts import parse_paradex_account
from venues.emulator.paradex_front import DEFAULT_JWT_LIFETIME_S, ParadexFrontEnd

log = logging.getLogger(__name__)

VENUES = ("backpack", "paradex", "aster")


class FrontEnd(Protocol):
    """A venue's protocol over the shared core: routes, a request middleware and its streams."""

    middleware: Any

    def install(self, app: web.Application) -> None: ...

    def drop_connections(self) -> None: ...

    async def close(self) -> None: ...


def check_venue(venue: str) -> None:
    if venue in VENUES:
        return
    raise ValueError(f"unknown venue {venue!r}; available: {', '.join(VENUES)}")


class EmulatorServer:
    def __init__(
        self,
        *,
        venue: str = "backpack",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        symbols: Iterable[str] = ("SOL_USDC_PERP",),
        accounts: Iterable[AccountSpec | AsterAccountSpec | Mapping[str, Any]] = (),
        funding_interval_s: float = 8 * 3600,
        volatility: Decimal | str | None = None,
        taker_rate_per_s: float | None = None,
        maker_fee_bps: Decimal | str | int = 2,
        taker_fee_bps: Decimal | str | int = 5,
        leverage: Decimal | str | int = 10,
        rate_limit_per_min: int = 2000,
        tick_interval_s: float = 0.05,
        ws_ping_interval_s: float = 60.0,
        jwt_lifetime_s: float = DEFAULT_JWT_LIFETIME_S,
        depth_snapshot_lag: int = DEFAULT_LAG,
    ) -> None:
        check_venue(venue)
        if funding_interval_s <= 0 or tick_interval_s <= 0 or ws_ping_interval_s <= 0:
            raise ValueError("intervals must be positive")
        if depth_snapshot_lag < 0:
            raise ValueError("depth_snapshot_lag must not be negative")
        defaults = SimulatorConfig()
        simulator = SimulatorConfig(
            volatility=Decimal(str(volatility)) if volatility is not None else defaults.volatility,
            taker_rate_per_s=taker_rate_per_s if taker_rate_per_s is not None else defaults.taker_rate_per_s,
        )
        self.venue = venue
        self.host = host
        self._requested_port = port
        # Aster accounts carry two credential kinds; the core sees only the engine's account.
        aster_accounts = [parse_aster_account(raw) for raw in accounts] if venue == "aster" else []
        self.core = EmulatorCore(
            EmulatorConfig(
                profiles=tuple(select_markets(symbols)),
                accounts=tuple(spec.engine_account() for spec in aster_accounts)
                if venue == "aster"
                else tuple(
                    parse_paradex_account(raw)
                    if venue == "paradex" and not isinstance(raw, AccountSpec)
                    else parse_account(raw)
                    for raw in accounts
                ),
                seed=seed,
                funding_interval_ms=round(funding_interval_s * 1000),
                simulator=simulator,
                fees=FeeSchedule(
                    maker_bps=Decimal(str(maker_fee_bps)), taker_bps=Decimal(str(taker_fee_bps))
                ),
                leverage=Decimal(str(leverage)),
                rate_limit_per_min=rate_limit_per_min,
                tick_interval_s=tick_interval_s,
                ws_ping_interval_s=ws_ping_interval_s,
                depth_snapshot_lag=depth_snapshot_lag,
            )
        )
        self.front: FrontEnd
        if venue == "aster":
            self.front = AsterFrontEnd(self.core, aster_accounts)
        elif venue == "paradex":
            self.front = ParadexFrontEnd(self.core, jwt_lifetime_s=jwt_lifetime_s)
        else:
            self.front = BackpackFrontEnd(self.core)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._churner: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def engine(self) -> Engine:
        return self.core.engine

    @property
    def simulator(self) -> MarketSimulator:
        return self.core.simulator

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    async def start(self) -> None:
        """Build the market, bind the port and start the simulator timer; returns once accepting."""
        app = web.Application(middlewares=[stamp_arrival, self.front.middleware])
        self.front.install(app)
        ControlApi(self.core, self.front).install(app)
        self.core.step()
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._ticker = asyncio.create_task(self._tick(), name="emulator-ticker")
        self._churner = asyncio.create_task(self._churn(), name="emulator-depth-churn")

    async def stop(self) -> None:
        self.core.stop()
        for task in (self._ticker, self._churner):
            if task is not None:
                await task
        self._ticker = self._churner = None
        await self.front.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _tick(self) -> None:
        while not self.core.stopping:
            try:
                self.core.step()
            except Exception:
                # A bug in one step must not freeze the market for the rest of the run.
                log.exception("simulator step failed")
            await self.core.hold(self.core.config.tick_interval_s)

    async def _churn(self) -> None:
        while not self.core.stopping:
            try:
                wait_s = self.core.step_depth_churn()
            except Exception:
                log.exception("depth churn step failed")
                wait_s = None
            # Idle, look again for a rate set through the control API at the market's own pace.
            await self.core.hold(self.core.config.tick_interval_s if wait_s is None else max(wait_s, 0.001))

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
