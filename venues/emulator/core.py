"""The running emulator's state, shared by every front end and the control API (no sockets here).

Holds the engine and simulator (rebuilt on reset with the same seed, ids kept
so they never repeat), the clock (wall time plus any injected skew), the
faults in force and request counts, and fans every batch of engine events out
to the listeners (the venue front end's streams).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from venues.emulator.catalog import MarketProfile
from venues.emulator.credentials import AccountSpec
from venues.emulator.depth_churn import DepthChurn
from venues.emulator.depth_lag import DEFAULT_LAG
from venues.emulator.engine import Engine, FeeSchedule, IdSource
from venues.emulator.events import Event
from venues.emulator.faults import FaultSpec, FaultState
from venues.emulator.market import MarketSimulator, SimulatorConfig

Listener = Callable[[Sequence[Event]], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    profiles: tuple[MarketProfile, ...]
    accounts: tuple[AccountSpec, ...]
    seed: int = 1
    funding_interval_ms: int = 8 * 3600 * 1000
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    leverage: Decimal = Decimal(10)
    rate_limit_per_min: int = 2000  # signed requests per API key per minute; 0 disables
    tick_interval_s: float = 0.05
    ws_ping_interval_s: float = 60.0
    depth_snapshot_lag: int = DEFAULT_LAG  # Backpack: REST depth this many stream updates behind


class EmulatorCore:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.profiles = {p.symbol: p for p in config.profiles}
        self.faults = FaultState(seed=config.seed)
        self.requests: Counter[str] = Counter()
        self._ids = IdSource()
        self._listeners: list[Listener] = []
        self.depth_churn = DepthChurn(self.profiles)
        self._stopping = asyncio.Event()
        self.engine, self.simulator = self._build()

    def _build(self) -> tuple[Engine, MarketSimulator]:
        engine = Engine(
            markets={p.symbol: p.rules for p in self.config.profiles},
            now_ms=self.now_ms(),
            fees=self.config.fees,
            leverage=self.config.leverage,
            funding_interval_ms=self.config.funding_interval_ms,
            ids=self._ids,
        )
        for spec in self.config.accounts:
            engine.add_account(spec.api_key, collateral=spec.collateral)
        simulator = MarketSimulator(
            engine, list(self.config.profiles), seed=self.config.seed, config=self.config.simulator
        )
        return engine, simulator

    def now_ms(self) -> int:
        """The emulator's clock: wall time plus the injected skew (signature windows, /time, events)."""
        return time.time_ns() // 1_000_000 + self.faults.spec.clock_offset_ms

    def now_us(self) -> int:
        """``now_ms`` in microseconds, to the microsecond (the event times of Backpack's streams)."""
        return time.time_ns() // 1_000 + self.faults.spec.clock_offset_ms * 1000

    def apply_faults(self, spec: FaultSpec) -> None:
        self.faults.apply(spec, now_s=time.monotonic())

    def freeze_remaining_s(self) -> float:
        """How long the injected freeze still lasts (0: running)."""
        return self.faults.freeze_remaining_s(time.monotonic())

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, events: Sequence[Event]) -> None:
        """Hand a batch of events to every listener; a failing listener is logged, never raised.

        The events describe changes already made (an order placed, a fill): a
        stream bug must not turn a done operation into an error answer.
        """
        if events:
            self.depth_churn.observe(events)
            for listener in self._listeners:
                try:
                    listener(events)
                except Exception:
                    log.exception("event listener failed")

    def step(self) -> None:
        """Advance the simulated market to now and publish what it did (nothing while frozen)."""
        if self.freeze_remaining_s() == 0:
            self.publish(self.simulator.step(self.now_ms()))

    def step_depth_churn(self) -> float | None:
        """Run the depth churn slots that are due (none while frozen); seconds until the next one."""
        now_s = time.monotonic()
        if self.freeze_remaining_s() == 0:
            self.publish(self.depth_churn.step(self.engine, now_s=now_s, now_ms=self.now_ms()))
        return self.depth_churn.wait_s(now_s=time.monotonic())

    def reset(self) -> None:
        """A fresh book and accounts at their starting collateral, same seed, no faults or churn; same ids."""
        self.apply_faults(FaultSpec())
        self.depth_churn.clear()
        self.engine, self.simulator = self._build()
        self.simulator.step(self.now_ms())

    def count_request(self, path: str) -> None:
        self.requests[path] += 1

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        self._stopping.set()

    async def hold(self, seconds: float) -> None:
        """Sleep ``seconds``, cut short when the emulator stops (so a held response never delays shutdown)."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
