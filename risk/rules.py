"""The risk guardian's rules: max position, stop-loss/take-profit, hang and stale-data watchdogs, margin.

A pure core: the guardian process feeds ``Guardian.decide`` an ``Observation``
(everything it knows, with the time) and executes the returned actions in
order.  No I/O, no clock: tests drive it with plain values.

State priority: HALTED (manual, strategy hang or finished, stale market data) beats
REDUCING (stop-loss, take-profit, flatten, max position, margin) beats
ACTIVE.  Entering any of these conditions cancels every resting order, since
those orders were placed under rules that no longer hold; the strategy
requotes within the new state.

A strategy that announces a clean end (``Observation.strategy_finished``) is
not hung: no restart and no flatten, only HALTED "strategy_done" until a new
instance heartbeats steadily; one that stops beating without a word is hung.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from risk.arming import check_arming
from risk.model import (
    Action,
    AlertMismatch,
    CancelAll,
    ClosePosition,
    Decision,
    Lang,
    Limits,
    Log,
    LogLevel,
    Observation,
    Reason,
    RestartStrategy,
    SetState,
    age_text,
    text,
)
from risk.watchdog import StrategyWatch
from services.wire import Side, TradingState
from venues.precision import fmt

__all__ = [
    "Action",
    "AlertMismatch",
    "CancelAll",
    "ClosePosition",
    "Decision",
    "Guardian",
    "Limits",
    "Log",
    "Observation",
    "Reason",
    "RestartStrategy",
    "SetState",
    "check_arming",
    "unrealized_pnl",
]


def unrealized_pnl(*, position: Decimal, entry_price: Decimal, mark_price: Decimal | None) -> Decimal | None:
    """Mark-to-market PnL in quote currency, (mark - entry) * position: 0 when flat, None without a mark."""
    if position == 0:
        return Decimal(0)
    if mark_price is None:
        return None
    return (mark_price - entry_price) * position


@dataclass(slots=True)
class _Exit:
    """A latched stop-loss or take-profit: close everything, then wait out the cooldown once flat."""

    reason: Reason
    flat_since_s: float | None = None


@dataclass(slots=True)
class _InFlight:
    close_id: int
    sent_s: float
    position: Decimal
    done: bool = False


@dataclass(slots=True)
class _Plan:
    """The actions one decision gathers, assembled in a fixed order at the end."""

    cancel: Reason | None = None
    close: ClosePosition | None = None
    restart: Reason | None = None
    logs: list[Action] = field(default_factory=list)

    def cancel_all(self, reason: Reason) -> None:
        if self.cancel is None:
            self.cancel = reason


class Guardian:
    """The trading-state machine for one symbol; feed it observations in time order."""

    def __init__(self, limits: Limits, *, lang: Lang = "zh") -> None:
        if lang not in ("zh", "en"):
            raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
        self.limits = limits
        self.lang: Lang = lang
        self._state = TradingState.HALTED
        self._reason = Reason.STARTUP
        self._started_s: float | None = None
        self._pending: list[Action] = []
        self._halt_note: str | None = None
        self._halt_new = False
        self._flattening = False
        self._flatten_new = False
        self._md_reacted = False
        self._position_reacted = False
        self._strategy = StrategyWatch(limits)
        self._exit: _Exit | None = None
        self._over_max = False
        self._margin_low = False
        self._mismatch = False
        self._in_flight: _InFlight | None = None
        self._next_close_id = 0
        self._last_cancel_s: float | None = None

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def reason(self) -> Reason:
        return self._reason

    # ------------------------------------------------------------ commands (acted on by the next decide)

    def halt(self, note: str = "") -> None:
        """HALTED with reason "manual" until ``resume()``; fresh heartbeats do not clear it."""
        if self._halt_note is None:
            self._halt_new = True
        self._halt_note = note

    def resume(self) -> None:
        """Lift a manual halt (other conditions still apply)."""
        if self._halt_note is not None:
            self._halt_note = None
            self._halt_new = False
            self._log("manual_resume", level="info")

    def flatten(self) -> None:
        """Cancel all and close the whole position at market; REDUCING until flat."""
        self._flattening = True
        self._flatten_new = True

    def close_result(self, close_id: int, *, ok: bool) -> None:
        """The outcome of a ``ClosePosition``: a failure is retried on the next decide."""
        flight = self._in_flight
        if flight is None or flight.close_id != close_id:
            return
        if ok:
            flight.done = True
        else:
            self._in_flight = None
            self._log("close_failed", detail=f"close_id={close_id}")

    # ------------------------------------------------------------ the rules

    def decide(self, obs: Observation) -> Decision:
        """Apply every rule to ``obs`` and return the resulting state and actions, in execution order."""
        if self._started_s is None:
            self._started_s = obs.now_s
        plan = _Plan(logs=self._pending)
        self._pending = []
        self._manual(plan)
        strategy_halt = self._watch_strategy(obs, plan) if self.limits.watch_strategy else None
        mark_fresh = self._mark_fresh(obs)
        md_fresh = self._watch_md(obs, plan, mark_fresh=mark_fresh)
        position_known = self._watch_position(obs, plan)
        upnl = unrealized_pnl(position=obs.position, entry_price=obs.entry_price, mark_price=obs.mark_price)
        # A stale mark neither triggers nor clears anything: the md_stale halt is the reaction.  A stale
        # feed with a fresh mark (the guardian polls its own) still lets stop-loss and take-profit act.
        rule_pnl = upnl if mark_fresh else None
        self._watch_exit(obs, rule_pnl, plan)
        self._watch_mismatch(obs, rule_pnl, plan)
        self._watch_margin(obs, plan)
        self._watch_max(obs, plan)
        if obs.position == 0:
            self._flattening = False
        self._plan_close(obs, plan)

        state, reason = self._resolve(
            md_fresh=md_fresh, strategy_halt=strategy_halt, position_known=position_known
        )
        if state is TradingState.HALTED and obs.open_orders and plan.cancel is None:
            due = self._last_cancel_s is None or obs.now_s - self._last_cancel_s >= self.limits.cancel_retry_s
            if due:
                plan.cancel_all(reason)
                plan.logs.append(self._line("cancel_retry", detail=f"open_orders={obs.open_orders}"))
        if plan.cancel is not None:
            self._last_cancel_s = obs.now_s

        actions: list[Action] = []
        if (state, reason) != (self._state, self._reason):
            self._state, self._reason = state, reason
            actions.append(SetState(state, reason))
        if plan.cancel is not None:
            actions.append(CancelAll(plan.cancel))
        if plan.close is not None:
            actions.append(plan.close)
        if plan.restart is not None:
            actions.append(RestartStrategy(plan.restart))
        actions.extend(plan.logs)
        return Decision(state=state, reason=reason, actions=tuple(actions), unrealized_pnl=upnl)

    def _resolve(
        self, *, md_fresh: bool, strategy_halt: Reason | None, position_known: bool
    ) -> tuple[TradingState, Reason]:
        """The first condition that holds, HALTED ones before REDUCING ones; else ACTIVE."""
        halted = (
            (Reason.MANUAL, self._halt_note is not None),
            (strategy_halt or Reason.STRATEGY_HANG, strategy_halt is not None),
            (Reason.MD_STALE, not md_fresh),
            (Reason.POSITION_UNKNOWN, not position_known),
        )
        for reason, holds in halted:
            if holds:
                return TradingState.HALTED, reason
        if self._exit is not None:
            return TradingState.REDUCING, self._exit.reason
        reducing = (
            (Reason.FLATTEN, self._flattening),
            (Reason.MAX_POSITION, self._over_max),
            (Reason.MARGIN, self._margin_low),
        )
        for reason, holds in reducing:
            if holds:
                return TradingState.REDUCING, reason
        return TradingState.ACTIVE, Reason.NONE

    def _manual(self, plan: _Plan) -> None:
        if self._halt_new:
            self._halt_new = False
            plan.cancel_all(Reason.MANUAL)
            plan.logs.append(self._line("manual_halt", detail=self._halt_note or ""))
        if self._flatten_new:
            self._flatten_new = False
            plan.cancel_all(Reason.FLATTEN)
            plan.logs.append(self._line("flatten"))

    def _mark_fresh(self, obs: Observation) -> bool:
        limit_s = self.limits.mark_stale_s or self.limits.md_stale_s
        return obs.mark_price is not None and obs.md_age_s is not None and obs.md_age_s <= limit_s

    def _watch_md(self, obs: Observation, plan: _Plan, *, mark_fresh: bool) -> bool:
        """True while the mark (and, with ``watch_feed``, the feed) is fresh; reacts once when it is not."""
        feed_fresh = not self.limits.watch_feed or (
            obs.feed_age_s is not None and obs.feed_age_s <= self.limits.md_stale_s
        )
        fresh = mark_fresh and feed_fresh
        if fresh:
            if self._md_reacted:
                self._md_reacted = False
                plan.logs.append(self._line("md_recovered", level="info"))
            return True
        # Market data not seen yet is expected for a moment after start: react only after the grace.
        # A stale part that was seen before is acted on at once; one never seen gets the startup grace.
        known_stale = (not mark_fresh and obs.md_age_s is not None) or (
            not feed_fresh and obs.feed_age_s is not None
        )
        if not self._md_reacted and (known_stale or self._past_grace(obs.now_s)):
            self._md_reacted = True
            plan.cancel_all(Reason.MD_STALE)
            detail = f"md_age_s={age_text(obs.md_age_s)} limit_s={self.limits.md_stale_s}"
            if self.limits.watch_feed:
                detail += f" feed_age_s={age_text(obs.feed_age_s)}"
            plan.logs.append(self._line("md_stale", detail=detail))
        return False

    def _watch_position(self, obs: Observation, plan: _Plan) -> bool:
        """True while the position was read recently; a guardian blind to it halts, after the grace."""
        limit_s = self.limits.mark_stale_s or self.limits.md_stale_s
        age = obs.position_age_s
        if age is not None and age <= limit_s:
            if self._position_reacted:
                self._position_reacted = False
                plan.logs.append(self._line("position_recovered", level="info"))
            return True
        if not self._position_reacted and (age is not None or self._past_grace(obs.now_s)):
            self._position_reacted = True
            plan.cancel_all(Reason.POSITION_UNKNOWN)
            detail = f"position_age_s={age_text(age)} limit_s={limit_s}"
            plan.logs.append(self._line("position_unknown", level="error", detail=detail))
        return False

    def _watch_strategy(self, obs: Observation, plan: _Plan) -> Reason | None:
        """None once one strategy instance has heartbeated fresh for ``hang_settle_s``; else why not."""
        verdict = self._strategy.observe(obs, past_grace=self._past_grace(obs.now_s))
        if verdict.cancel is not None:
            plan.cancel_all(verdict.cancel)
        if verdict.restart:
            plan.restart = Reason.STRATEGY_HANG
        plan.logs.extend(self._line(key, level=level, detail=detail) for key, level, detail in verdict.logs)
        return verdict.halt

    def _watch_exit(self, obs: Observation, upnl: Decimal | None, plan: _Plan) -> None:
        limits = self.limits
        if self._exit is None:
            if obs.position == 0 or upnl is None:
                return
            if limits.stop_loss is not None and upnl <= limits.stop_loss:
                reason, threshold = Reason.STOP_LOSS, limits.stop_loss
            elif limits.take_profit is not None and upnl >= limits.take_profit:
                reason, threshold = Reason.TAKE_PROFIT, limits.take_profit
            else:
                return
            self._exit = _Exit(reason)
            plan.cancel_all(reason)
            detail = f"upnl={fmt(upnl)} threshold={fmt(threshold)} position={fmt(obs.position)}"
            plan.logs.append(self._line(reason, detail=detail))
            return
        if obs.position != 0:
            self._exit.flat_since_s = None
            return
        if self._exit.flat_since_s is None:
            self._exit.flat_since_s = obs.now_s
        cooldown_s = limits.sl_cooldown_s if self._exit.reason is Reason.STOP_LOSS else 0.0
        if obs.now_s - self._exit.flat_since_s >= cooldown_s:
            plan.logs.append(self._line("exit_done", level="info", detail=f"after={self._exit.reason}"))
            self._exit = None

    def _watch_mismatch(self, obs: Observation, upnl: Decimal | None, plan: _Plan) -> None:
        venue = obs.venue_unrealized_pnl
        if upnl is None or venue is None:
            return
        difference = upnl - venue
        mismatch = abs(difference) > self.limits.pnl_disagreement_tolerance
        if mismatch and not self._mismatch:
            message = text("pnl_mismatch", self.lang)
            plan.logs.append(AlertMismatch(ours=upnl, venue=venue, difference=difference, message=message))
        elif self._mismatch and not mismatch:
            plan.logs.append(self._line("pnl_mismatch_cleared", level="info"))
        self._mismatch = mismatch

    def _watch_margin(self, obs: Observation, plan: _Plan) -> None:
        limit, fraction = self.limits.margin_fraction_limit, obs.margin_fraction
        if limit is None:
            return
        # Venues report no margin fraction without a position: nothing is at risk then.
        low = fraction is not None and fraction <= limit
        if fraction is not None and low and not self._margin_low:
            plan.cancel_all(Reason.MARGIN)
            detail = f"margin_fraction={fmt(fraction)} limit={fmt(limit)}"
            plan.logs.append(self._line("margin", detail=detail))
        self._margin_low = low

    def _watch_max(self, obs: Observation, plan: _Plan) -> None:
        over = abs(obs.position) > self.limits.max_position
        if over and not self._over_max:
            plan.cancel_all(Reason.MAX_POSITION)
            detail = f"position={fmt(obs.position)} max={fmt(self.limits.max_position)}"
            plan.logs.append(self._line("max_position", detail=detail))
        self._over_max = over

    def _plan_close(self, obs: Observation, plan: _Plan) -> None:
        """At most one close in flight: the whole position for an exit, flatten or hang, else the excess."""
        size = abs(obs.position)
        flight = self._in_flight
        if flight is not None:
            # A close is settled once the position moved after it was confirmed; a close that never
            # settles (lost reply, unfilled order) is retried after the timeout.
            if size == 0 or (flight.done and obs.position != flight.position):
                self._in_flight = None
            elif obs.now_s - flight.sent_s >= self.limits.close_timeout_s:
                self._in_flight = None
                plan.logs.append(self._line("close_timeout", detail=f"close_id={flight.close_id}"))
            else:
                return
        if size == 0:
            return
        if self._exit is not None:
            reason, quantity = self._exit.reason, size
        elif self._flattening:
            reason, quantity = Reason.FLATTEN, size
        elif self._strategy.hung and self.limits.on_hang == "flatten":
            reason, quantity = Reason.STRATEGY_HANG, size
        elif size > self.limits.max_position:
            reason, quantity = Reason.MAX_POSITION, size - self.limits.max_position
        else:
            return
        self._next_close_id += 1
        side = Side.SELL if obs.position > 0 else Side.BUY
        plan.close = ClosePosition(side, quantity, reason, self._next_close_id)
        self._in_flight = _InFlight(self._next_close_id, obs.now_s, obs.position)

    # ------------------------------------------------------------ helpers

    def _past_grace(self, now_s: float) -> bool:
        return self._started_s is not None and now_s - self._started_s >= self.limits.startup_grace_s

    def _line(self, key: str, *, level: LogLevel = "warning", detail: str = "") -> Log:
        return Log(key, text(key, self.lang), level, detail)

    def _log(self, key: str, *, level: LogLevel = "warning", detail: str = "") -> None:
        self._pending.append(self._line(key, level=level, detail=detail))
