"""The market simulator: a seeded, reproducible market around a random-walk fair value.

Pure: ``step(now_ms)`` advances it and returns the engine events it caused.
Per symbol it moves the fair value (Gaussian random walk with volatility per
square-root second, plus scripted jumps and trends), keeps a house maker
ladder of several levels each side around fair (refreshed as fair moves,
topped up as takers eat it), sends Poisson house taker flow (market and IOC
orders) that trades against whatever is best in the book, ours included, sets
mark = index = fair at the tick with a premium-based funding rate, and lets the
engine settle funding.  House accounts are separate from every real account,
so self-trade prevention never hides our orders from the flow.

Random draws are floats (a seeded ``random.Random``); every price they move is
a ``Decimal`` snapped to the tick before it reaches the book.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from services.wire import OrderType, Side, TimeInForce
from venues.emulator.catalog import MarketProfile
from venues.emulator.engine import Engine
from venues.emulator.events import Event
from venues.emulator.records import ZERO, OrderRejected, OrderRequest
from venues.precision import snap_price, snap_quantity

HOUSE_MAKER = "house-maker"
HOUSE_TAKER = "house-taker"
HOUSE_COLLATERAL = Decimal(10) ** 12
_BPS = Decimal(10_000)
_RATE_UNIT = Decimal("0.000000001")
_TAKER_SIZE_MULTIPLES = (0.2, 0.5, 1.0, 1.0, 2.0, 3.0)
MAX_STEP_S = 1.0  # a stalled timer (or a clock jump) does not replay the missed market in one burst


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    volatility: Decimal = Decimal("0.0002")  # standard deviation of fair's relative move per sqrt(second)
    taker_rate_per_s: float = 2.0  # mean house taker orders per second per symbol
    maker_levels: int = 10
    maker_half_spread_bps: Decimal = Decimal(4)
    maker_level_step_bps: Decimal = Decimal(2)
    maker_requote_bps: Decimal = Decimal(1)  # re-centre the ladder once fair moved this far from its centre
    taker_slippage_bps: Decimal = Decimal(30)  # how far past fair an IOC taker's limit reaches
    funding_base_rate: Decimal = Decimal(
        "0.0001"
    )  # per interval; a premium of book mid over index adds to it
    funding_rate_cap: Decimal = Decimal("0.005")


@dataclass(slots=True)
class _Symbol:
    profile: MarketProfile
    fair: Decimal
    volatility: Decimal
    taker_rate_per_s: float
    funding_base_rate: Decimal
    paused: bool = False
    trend_per_s: Decimal = ZERO
    trend_from_ms: int = 0
    trend_until_ms: int = 0
    ladder_fair: Decimal | None = None


class MarketSimulator:
    def __init__(
        self,
        engine: Engine,
        profiles: list[MarketProfile],
        *,
        seed: int,
        config: SimulatorConfig | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or SimulatorConfig()
        self._rng = random.Random(seed)
        self._last_ms: int | None = None
        self._symbols = {
            p.symbol: _Symbol(
                profile=p,
                fair=p.start_price,
                volatility=self.config.volatility,
                taker_rate_per_s=self.config.taker_rate_per_s,
                funding_base_rate=self.config.funding_base_rate,
            )
            for p in profiles
        }
        for account_id in (HOUSE_MAKER, HOUSE_TAKER):
            if not engine.has_account(account_id):
                engine.add_account(account_id, collateral=HOUSE_COLLATERAL, house=True)

    # ------------------------------------------------------------ queries and scripted control

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def fair(self, symbol: str) -> Decimal:
        return self._symbols[symbol].fair

    def is_paused(self, symbol: str) -> bool:
        return self._symbols[symbol].paused

    def taker_rate(self, symbol: str) -> float:
        return self._symbols[symbol].taker_rate_per_s

    def jump_to(self, symbol: str, price: Decimal, *, now_ms: int) -> list[Event]:
        """Move fair to ``price`` at once; the ladder and mark follow in the same call."""
        if price <= 0:
            raise ValueError("price must be positive")
        state = self._symbols[symbol]
        state.fair = price
        state.trend_per_s, state.trend_until_ms = ZERO, 0
        events = self._refresh_ladder(state, now_ms, recentre=True)
        events += self._update_mark(state, now_ms)
        return events

    def trend(self, symbol: str, *, per_s: Decimal, duration_s: float, now_ms: int) -> None:
        """Drift fair by ``per_s`` (quote currency) every second for ``duration_s`` seconds."""
        state = self._symbols[symbol]
        state.trend_per_s = per_s
        state.trend_from_ms = now_ms
        state.trend_until_ms = now_ms + round(duration_s * 1000)

    def set_volatility(self, symbol: str, volatility: Decimal) -> None:
        if volatility < 0:
            raise ValueError("volatility cannot be negative")
        self._symbols[symbol].volatility = volatility

    def set_taker_rate(self, symbol: str, rate_per_s: float) -> None:
        if rate_per_s < 0 or not math.isfinite(rate_per_s):
            raise ValueError("taker rate must be a finite number >= 0")
        self._symbols[symbol].taker_rate_per_s = rate_per_s

    def set_funding_base_rate(self, symbol: str, rate: Decimal) -> None:
        self._symbols[symbol].funding_base_rate = rate

    def set_paused(self, paused: bool, *, symbol: str | None = None) -> None:
        """Stop (or restart) the random walk, ladder top-ups and taker flow; scripted moves still apply."""
        for name, state in self._symbols.items():
            if symbol is None or name == symbol:
                state.paused = paused

    # ------------------------------------------------------------ time

    def step(self, now_ms: int) -> list[Event]:
        """Advance the market to ``now_ms``: move fair, refresh liquidity, send taker flow, settle funding."""
        previous_ms = now_ms if self._last_ms is None else min(self._last_ms, now_ms)
        self._last_ms = now_ms
        dt_s = min((now_ms - previous_ms) / 1000, MAX_STEP_S)
        events: list[Event] = []
        for state in self._symbols.values():
            self._move(state, previous_ms, now_ms)
            if self._ladder_off_centre(state):
                events += self._refresh_ladder(state, now_ms, recentre=True)
            elif not state.paused:
                events += self._refresh_ladder(state, now_ms, recentre=False)
            events += self._update_mark(state, now_ms)
            if not state.paused:
                events += self._taker_flow(state, dt_s, now_ms)
        events += self.engine.advance(now_ms)
        return events

    def _move(self, state: _Symbol, previous_ms: int, now_ms: int) -> None:
        tick = state.profile.rules.tick_size
        fair = state.fair
        dt_s = min((now_ms - previous_ms) / 1000, MAX_STEP_S)
        if not state.paused and state.volatility > 0 and dt_s > 0:
            shock = self._rng.gauss(0.0, 1.0) * float(state.volatility) * math.sqrt(dt_s)
            fair *= 1 + Decimal(repr(shock))
        if state.trend_until_ms > 0:
            active_ms = min(now_ms, state.trend_until_ms) - max(previous_ms, state.trend_from_ms)
            fair += state.trend_per_s * Decimal(max(active_ms, 0)) / 1000
            if now_ms >= state.trend_until_ms:
                state.trend_per_s, state.trend_until_ms = ZERO, 0
        state.fair = max(fair.quantize(tick / 100, rounding=ROUND_HALF_EVEN), tick)

    def _ladder_off_centre(self, state: _Symbol) -> bool:
        if state.ladder_fair is None:
            return True
        if state.paused:
            return state.fair != state.ladder_fair
        return abs(state.fair - state.ladder_fair) * _BPS >= state.fair * self.config.maker_requote_bps

    def _ladder(self, state: _Symbol, centre: Decimal) -> dict[tuple[Side, Decimal], Decimal]:
        """The house maker's target quantity at each (side, price) around ``centre``."""
        rules = state.profile.rules
        config = self.config
        ladder: dict[tuple[Side, Decimal], Decimal] = {}
        for level in range(config.maker_levels):
            offset = (config.maker_half_spread_bps + level * config.maker_level_step_bps) / _BPS
            size = snap_quantity(state.profile.maker_size * (1 + Decimal(level) / 2), rules.step_size)
            for side in (Side.BUY, Side.SELL):
                raw = centre * (1 - offset) if side is Side.BUY else centre * (1 + offset)
                price = snap_price(raw, rules.tick_size, side)
                if price > 0:
                    ladder[(side, price)] = ladder.get((side, price), ZERO) + size
        return ladder

    def _refresh_ladder(self, state: _Symbol, now_ms: int, *, recentre: bool) -> list[Event]:
        """Cancel house levels that left the ladder, then top up levels below half their target.

        The ladder moves only when re-centred on fair; between re-centrings it is
        just topped up, so a jittering fair does not churn every level every step.
        """
        symbol = state.profile.symbol
        if recentre or state.ladder_fair is None:
            state.ladder_fair = state.fair
        target = self._ladder(state, state.ladder_fair)
        events: list[Event] = []
        resting: dict[tuple[Side, Decimal], Decimal] = {}
        for order in self.engine.open_orders(HOUSE_MAKER, symbol):
            assert order.price is not None
            key = (order.side, order.price)
            if key not in target:
                events += self.engine.cancel(HOUSE_MAKER, symbol, order_id=order.order_id, now_ms=now_ms)[1]
            else:
                resting[key] = resting.get(key, ZERO) + order.remaining
        for (side, price), quantity in target.items():
            have = resting.get((side, price), ZERO)
            if have * 2 >= quantity:
                continue
            request = OrderRequest(symbol=symbol, side=side, quantity=quantity - have, price=price)
            events += self.engine.place(HOUSE_MAKER, request, now_ms=now_ms)[1]
        return events

    def _update_mark(self, state: _Symbol, now_ms: int) -> list[Event]:
        symbol = state.profile.symbol
        tick = state.profile.rules.tick_size
        mark = state.fair.quantize(tick, rounding=ROUND_HALF_EVEN)
        bid, ask = self.engine.top(symbol)
        premium = ZERO
        if bid is not None and ask is not None:
            premium = ((bid[0] + ask[0]) / 2 - mark) / mark
        cap = self.config.funding_rate_cap
        rate = min(max(state.funding_base_rate + premium, -cap), cap).quantize(_RATE_UNIT)
        return self.engine.set_mark(symbol, mark=mark, index=mark, funding_rate=rate, now_ms=now_ms)

    def _taker_flow(self, state: _Symbol, dt_s: float, now_ms: int) -> list[Event]:
        events: list[Event] = []
        for _ in range(self._poisson(state.taker_rate_per_s * dt_s)):
            events += self._send_taker(state, now_ms)
        return events

    def _send_taker(self, state: _Symbol, now_ms: int) -> list[Event]:
        rules = state.profile.rules
        side = Side.BUY if self._rng.random() < 0.5 else Side.SELL
        multiple = Decimal(repr(self._rng.choice(_TAKER_SIZE_MULTIPLES)))
        quantity = max(
            snap_quantity(state.profile.taker_size * multiple, rules.step_size), rules.min_quantity
        )
        if self._rng.random() < 0.5:
            request = OrderRequest(
                symbol=rules.symbol, side=side, order_type=OrderType.MARKET, quantity=quantity
            )
        else:
            reach = self.config.taker_slippage_bps / _BPS
            raw = state.fair * (1 + reach) if side is Side.BUY else state.fair * (1 - reach)
            price = snap_price(raw, rules.tick_size, side)
            request = OrderRequest(
                symbol=rules.symbol, side=side, quantity=quantity, price=price, tif=TimeInForce.IOC
            )
        try:
            return self.engine.place(HOUSE_TAKER, request, now_ms=now_ms)[1]
        except OrderRejected:
            return []  # a price snapped to zero on a collapsed market: no flow this time

    def _poisson(self, mean: float) -> int:
        """A Poisson draw by inversion (means here are small: rate times one tick)."""
        if mean <= 0:
            return 0
        threshold = math.exp(-mean)
        count, product = 0, self._rng.random()
        while product > threshold:
            count += 1
            product *= self._rng.random()
        return count
