"""Depth churn: keeps a symbol's book changing at a steady floor rate, for load benchmarks.

Pure: ``step(engine, now_s=..., now_ms=...)`` runs the slots that are due and
returns the engine events.  With a rate of N updates a second, each slot of
1/N seconds in which nothing changed the book gets one change from a house
account of its own: it rests an order at an existing level behind the best
(second to tenth, sides alternating), or removes the one it rested in the
slot before.  The best bid and offer never change, so a quoter's prices do not;
only the depth stream's volume does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.wire import Side
from venues.emulator.catalog import MarketProfile
from venues.emulator.engine import Engine
from venues.emulator.events import BookEvent, Event
from venues.emulator.market import HOUSE_COLLATERAL
from venues.emulator.records import OrderRejected, OrderRequest

HOUSE_DEPTH = "house-depth"
LEVELS_BEHIND = 9  # churn the levels from the second best to the tenth: inside the streamed top ten
# A late timer skips the slots it missed instead of sending them in a burst.
MAX_SLOTS_BEHIND = 1


@dataclass(slots=True)
class _Churn:
    interval_s: float
    next_s: float
    changed: bool = False
    turn: int = 0
    own_update_ids: set[int] = field(default_factory=set)


class DepthChurn:
    def __init__(self, profiles: Mapping[str, MarketProfile]) -> None:
        self._profiles = profiles
        self._churns: dict[str, _Churn] = {}

    def set_rate(self, symbol: str, updates_per_s: float, *, now_s: float) -> None:
        """At least ``updates_per_s`` book changes a second on ``symbol`` from now; 0 turns churn off."""
        if symbol not in self._profiles:
            raise ValueError(f"unknown symbol {symbol!r}")
        if not 0 <= updates_per_s <= 1000:
            raise ValueError("updates_per_s must be within 0..1000")
        if updates_per_s == 0:
            self._churns.pop(symbol, None)
            return
        interval_s = 1 / updates_per_s
        self._churns[symbol] = _Churn(interval_s=interval_s, next_s=now_s + interval_s)

    def rate(self, symbol: str) -> float:
        churn = self._churns.get(symbol)
        return 0.0 if churn is None else 1 / churn.interval_s

    def clear(self) -> None:
        self._churns.clear()

    def observe(self, events: Sequence[Event]) -> None:
        """Note the symbols whose book changed (any source), so their current slot needs no churn."""
        for event in events:
            if isinstance(event, BookEvent):
                churn = self._churns.get(event.symbol)
                if churn is not None and event.update_id not in churn.own_update_ids:
                    churn.changed = True

    def wait_s(self, *, now_s: float) -> float | None:
        """Seconds until the next slot is due (None while no symbol churns)."""
        if not self._churns:
            return None
        return max(0.0, min(churn.next_s for churn in self._churns.values()) - now_s)

    def step(self, engine: Engine, *, now_s: float, now_ms: int) -> list[Event]:
        """Close every slot that is due: a change on each symbol whose book stood still in it."""
        events: list[Event] = []
        for symbol, churn in self._churns.items():
            if now_s < churn.next_s:
                continue
            behind = int((now_s - churn.next_s) / churn.interval_s)
            churn.next_s = (
                churn.next_s + churn.interval_s if behind <= MAX_SLOTS_BEHIND else now_s + churn.interval_s
            )
            if churn.changed:
                churn.changed = False
                continue
            changes = self._change(engine, symbol, churn, now_ms)
            churn.own_update_ids = {e.update_id for e in changes if isinstance(e, BookEvent)}
            events += changes
        return events

    def _change(self, engine: Engine, symbol: str, churn: _Churn, now_ms: int) -> list[Event]:
        if not engine.has_account(HOUSE_DEPTH):
            engine.add_account(HOUSE_DEPTH, collateral=HOUSE_COLLATERAL, house=True)
        if engine.open_orders(HOUSE_DEPTH, symbol):
            return engine.cancel_all(HOUSE_DEPTH, symbol, now_ms=now_ms)[1]
        churn.turn += 1
        side = Side.BUY if churn.turn % 2 else Side.SELL
        bids, asks, _ = engine.depth(symbol, limit=LEVELS_BEHIND + 1)
        levels = (bids if side is Side.BUY else asks)[1:]
        if not levels:
            return []
        price = levels[(churn.turn // 2) % len(levels)][0]
        profile = self._profiles[symbol]
        request = OrderRequest(
            symbol=symbol, side=side, quantity=profile.maker_size, price=price, post_only=True
        )
        try:
            return engine.place(HOUSE_DEPTH, request, now_ms=now_ms)[1]
        except OrderRejected:
            return []  # the book moved under the level: no change this slot
