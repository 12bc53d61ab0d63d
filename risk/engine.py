"""The guardian loop around the rules: its own REST polling, decisions, and acting on the venue directly.

``GuardianEngine`` knows nothing of the bus: the process feeds it bus messages
(``on_bus``) when there is a bus, and the standalone kill switch runs it with
none.  Its tasks: the poll (position and mark every ``poll_interval_s``,
faster only near a limit; open orders only while HALTED; the margin now and
then), the decision loop (every ``decide_interval_s`` and at once when an
input changed), one worker sending cancel-alls and one sending closes.  The
venue is never reached through the order gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from decimal import Decimal

from risk import metrics
from risk.inputs import Inputs, bus_live, open_orders_due, poll_interval_s
from risk.model import (
    AlertMismatch,
    CancelAll,
    ClosePosition,
    Decision,
    Log,
    Reason,
    RestartStrategy,
    SetState,
    Snapshot,
)
from risk.orders import ClientIds, close_orders, describe
from risk.rules import Guardian
from risk.startup import GuardOptions
from risk.supervisor import SupervisorRestarter
from risk.sweep import cancel_everything, cancel_ours
from services.foreign import conditional
from services.logs import log_once
from services.wire import Message, OrderUpdate, RiskEvent, TradingState
from venues.base import DeadManSwitch, Rejected, UnknownOrderState, Venue, VenueError
from venues.precision import MarketRules, fmt

log = logging.getLogger("risk")

StrategyBeat = Callable[[float], tuple[float | None, str | None]]
GatewayBeat = Callable[[float], float | None]  # seconds since the order gateway's last beat
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_BALANCE_EVERY_POLLS = 10
_CLOSE_RETRY_DELAY_S = 0.5
# The cancels that remove the trader's own stops and take-profits too; every other one leaves them.
KILL_SWITCH = (Reason.MANUAL, Reason.FLATTEN)


async def _wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Until ``event`` is set or ``timeout_s`` passed.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that
    arrives as the event is set, and a loop that cannot be cancelled hangs shutdown.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()


def _no_state(state: TradingState, reason: Reason) -> None:
    """The default state hook: nothing to publish."""


def _no_event(event: RiskEvent) -> None:
    """The default event hook: nothing to publish."""


class GuardianEngine:
    """Runs one symbol's ``Guardian`` against a venue; ``run()`` until cancelled."""

    def __init__(
        self,
        venue: Venue,
        guardian: Guardian,
        rules: MarketRules,
        *,
        options: GuardOptions,
        restarter: SupervisorRestarter | None = None,
        strategy_beat: StrategyBeat | None = None,
        gateway_beat: GatewayBeat | None = None,
        on_state: Callable[[TradingState, Reason], None] = _no_state,
        on_event: Callable[[RiskEvent], None] = _no_event,
        decide_interval_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.venue = venue
        self.guardian = guardian
        self.rules = rules
        self.symbol = guardian.limits.symbol
        self.options = options
        self.restarter = restarter
        self.strategy_beat = strategy_beat
        self.gateway_beat = gateway_beat
        self.on_state = on_state
        self.on_event = on_event
        self.decide_interval_s = decide_interval_s
        self.clock = clock
        self.inputs = Inputs(self.symbol)
        self.ids = ClientIds()
        self.decision: Decision | None = None
        self.polls = 0
        self._wake = asyncio.Event()
        self._poll_now = asyncio.Event()
        # Cancels and closes have a worker each: a close whose outcome the venue takes long to
        # resolve must never hold back a cancel-all (nor the other way round).
        self._cancels: asyncio.Queue[CancelAll] = asyncio.Queue()
        self._closes: asyncio.Queue[ClosePosition] = asyncio.Queue()
        self._side_tasks: set[asyncio.Task[None]] = set()
        metrics.TRADING_STATE.set(metrics.STATE_CODES[guardian.state])

    # ------------------------------------------------------------ the outside world

    async def run(self) -> None:
        """Poll, decide and act until cancelled."""
        tasks = [
            asyncio.create_task(self._poll_loop(), name="risk-poll"),
            asyncio.create_task(self._decide_loop(), name="risk-decide"),
            asyncio.create_task(self._cancel_worker(), name="risk-cancels"),
            asyncio.create_task(self._close_worker(), name="risk-closes"),
        ]
        if isinstance(self.venue, DeadManSwitch):
            tasks.append(asyncio.create_task(self._dead_man_loop(self.venue), name="risk-dead-man"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in (*tasks, *self._side_tasks):
                task.cancel()
            for task in (*tasks, *self._side_tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def on_bus(self, topic: str, msg: Message, *, age_s: float = 0.0) -> None:
        """A bus message, true ``age_s`` ago: a change the rules care about is decided on at once."""
        if self.inputs.on_bus(topic, msg, as_of_s=self.clock() - age_s):
            self._wake.set()

    def poll_soon(self) -> None:
        """Poll the venue now (a bus gap, an action sent) instead of at the next interval."""
        self._poll_now.set()

    def command(self, action: str, note: str = "") -> None:
        """An operator's ``halt``, ``resume`` or ``flatten``; acted on by the next decision."""
        if action == "halt":
            self.guardian.halt(note)
        elif action == "resume":
            self.guardian.resume()
        elif action == "flatten":
            self.guardian.flatten()
        else:
            raise ValueError(f"unknown command {action!r}")
        self.emit(action, "manual", message=note)

    def snapshot(self) -> Snapshot:
        upnl = self.decision.unrealized_pnl if self.decision is not None else None
        return Snapshot(self.guardian.state, self.guardian.reason, self.inputs.position, upnl)

    def emit(self, action: str, reason: str, *, quantity: Decimal | None = None, message: str = "") -> None:
        """Publish one ``rk.event`` about this symbol."""
        self.on_event(
            RiskEvent(action=action, reason=reason, symbol=self.symbol, quantity=quantity, message=message)
        )

    # ------------------------------------------------------------ deciding

    def step(self) -> Decision:
        """One decision on everything known now; its actions are executed or queued in order."""
        now_s = self.clock()
        age_s, instance = self.strategy_beat(now_s) if self.strategy_beat is not None else (None, None)
        obs = self.inputs.observation(now_s=now_s, strategy_heartbeat_age_s=age_s, strategy_instance=instance)
        decision = self.guardian.decide(obs)
        self.decision = decision
        if decision.unrealized_pnl is not None:
            metrics.UNREALIZED_PNL.set(float(decision.unrealized_pnl))
        for action in decision.actions:
            self._dispatch(action)
        return decision

    def _dispatch(self, action: object) -> None:
        if isinstance(action, SetState):
            metrics.TRADING_STATE.set(metrics.STATE_CODES[action.state])
            metrics.ACTIONS.labels("set_state", action.reason.value or "none").inc()
            log.info("trading state %s (%s)", action.state.value, action.reason.value or "ok")
            self.on_state(action.state, action.reason)
        elif isinstance(action, CancelAll):
            self._cancels.put_nowait(action)
        elif isinstance(action, ClosePosition):
            self._closes.put_nowait(action)
        elif isinstance(action, RestartStrategy):
            self._restart(action.reason)
        elif isinstance(action, Log):
            line = f"{action.message} ({action.detail})" if action.detail else action.message
            log.log(_LEVELS[action.level], line)
            self.emit("log", action.key, message=line)
        elif isinstance(action, AlertMismatch):
            detail = f"ours={fmt(action.ours)} venue={fmt(action.venue)} difference={fmt(action.difference)}"
            log.warning("%s (%s)", action.message, detail)
            self.emit("alert", "pnl_mismatch", message=detail)

    async def _decide_loop(self) -> None:
        while True:
            await _wait_event(self._wake, self.decide_interval_s)
            self._wake.clear()
            self.step()

    # ------------------------------------------------------------ acting on the venue

    async def _cancel_worker(self) -> None:
        while True:
            action = await self._cancels.get()
            # Cancel-alls asked for while one was under way are all served by the next one.
            while not self._cancels.empty():
                self._cancels.get_nowait()
            await self._cancel_all(action.reason)
            self._poll_now.set()

    async def _close_worker(self) -> None:
        while True:
            await self._close(await self._closes.get())
            self._poll_now.set()

    async def _cancel_all(self, reason: Reason) -> None:
        """Cancel perp-mm's orders; the kill switch (an operator's halt, flatten) cancels foreign ones too."""
        sent_s = self.clock()
        try:
            if reason in KILL_SWITCH:
                swept = await cancel_everything(self.venue, self.symbol, list_first=False)
            else:
                swept = await cancel_ours(self.venue, self.symbol)
        except VenueError as exc:
            log.error("cancel-all on %s failed (%s): %s", self.symbol, reason.value, exc)
            self.emit("cancel_all_failed", reason.value, message=str(exc))
            return
        self.inputs.on_cancelled_all(sent_s=sent_s)
        self._acted("cancel_all", reason)
        log.warning("cancelled all orders on %s: %s [%s]", self.symbol, swept.describe(), reason.value)
        self.emit("cancel_all", reason.value, quantity=Decimal(swept.cancelled), message=swept.describe())

    async def _close(self, action: ClosePosition) -> None:
        position = self.inputs.position
        orders = close_orders(action, symbol=self.symbol, position=position, rules=self.rules, ids=self.ids)
        if not orders:
            log_once(
                log,
                f"unclosable:{self.symbol}",
                f"cannot close {fmt(position)} {self.symbol}: below the venue minimum "
                f"{fmt(self.rules.min_quantity)}; close it by hand",
            )
            self.guardian.close_result(action.close_id, ok=True)
            return
        # Larger than one order may be: the parts go one after the other, each reduce-only.
        for order in orders:
            try:
                update = await self.venue.place_order(order)
            except UnknownOrderState as exc:
                # It may have gone through: the rules resend only if the position has not moved in time.
                log.error("close %s: outcome unknown (%s)", describe(order), exc)
                self.guardian.close_result(action.close_id, ok=True)
                return
            except (Rejected, VenueError) as exc:
                log.error("close %s failed: %s", describe(order), exc)
                self.emit("close_failed", action.reason.value, message=str(exc))
                # Reported a little later, so a venue that keeps refusing is not asked 20 times a second.
                asyncio.get_running_loop().call_later(
                    _CLOSE_RETRY_DELAY_S,
                    functools.partial(self.guardian.close_result, action.close_id, ok=False),
                )
                return
            log.warning(
                "close sent: %s, %s %s filled [%s]",
                describe(order),
                update.status.value,
                fmt(update.filled_quantity),
                action.reason.value,
            )
            signed = order.quantity * order.side.sign
            self.emit("close", action.reason.value, quantity=signed, message=describe(order))
        self.guardian.close_result(action.close_id, ok=True)
        self._acted("close", action.reason)

    def _restart(self, reason: Reason) -> None:
        if self.restarter is None:
            log_once(log, "no_supervisor", "the strategy cannot be restarted: not running under supervisord")
            return
        restarter = self.restarter

        async def restart() -> None:
            if await restarter.restart():
                self._acted("restart_strategy", reason)
                self.emit("restart_strategy", reason.value)

        task = asyncio.create_task(restart(), name="risk-restart")
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _acted(self, action: str, reason: Reason) -> None:
        metrics.ACTIONS.labels(action, reason.value or "none").inc()
        metrics.LAST_ACTION_TS.set(time.time())

    # ------------------------------------------------------------ polling

    async def _poll_loop(self) -> None:
        while True:
            await self.poll_once()
            now_s = self.clock()
            obs = self.inputs.observation(now_s=now_s)
            gateway_age_s = self.gateway_beat(now_s) if self.gateway_beat is not None else None
            live = bus_live(obs, gateway_age_s=gateway_age_s, fresh_s=self.guardian.limits.md_stale_s)
            interval_s = poll_interval_s(
                obs,
                self.guardian.limits,
                base_s=self.options.poll_interval_s,
                near_s=self.options.near_poll_interval_s,
                reduce_above=self.options.reduce_above,
                bus_s=self.options.bus_poll_interval_s if live else None,
            )
            await _wait_event(self._poll_now, interval_s)
            self._poll_now.clear()

    async def poll_once(self) -> None:
        """Read position and mark, open orders while HALTED and the margin now and then, from the venue."""
        sent_s = self.clock()
        started = time.perf_counter()
        position, mark, orders = await asyncio.gather(
            self.venue.position(self.symbol),
            self.venue.mark_price(self.symbol),
            self._open_orders(due=open_orders_due(self.guardian.state)),
            return_exceptions=True,
        )
        metrics.POLL_LATENCY.observe(time.perf_counter() - started)
        self.polls += 1
        changed = False
        if isinstance(position, BaseException):
            self._poll_failed("position", position)
        else:
            changed = self.inputs.on_poll_position(position, sent_s=sent_s)
        if isinstance(mark, BaseException):
            self._poll_failed("mark", mark)
        else:
            changed = self.inputs.on_poll_mark(mark, sent_s=sent_s) or changed
        if isinstance(orders, BaseException):
            self._poll_failed("open_orders", orders)
        elif orders is not None:
            # The trader's own stops are not re-cancelled while HALTED (the kill switch took those already).
            self.inputs.on_poll_open_orders(len(orders) - len(conditional(orders)), sent_s=sent_s)
        if self._balance_due():
            try:
                self.inputs.on_poll_balance(await self.venue.collateral())
            except VenueError as exc:
                self._poll_failed("collateral", exc)
        if changed:
            self._wake.set()

    async def _open_orders(self, *, due: bool) -> list[OrderUpdate] | None:
        return await self.venue.open_orders(self.symbol) if due else None

    def _balance_due(self) -> bool:
        if self.guardian.limits.margin_fraction_limit is None:
            return False
        return self.inputs.position != 0 or self.polls % _BALANCE_EVERY_POLLS == 1

    def _poll_failed(self, what: str, exc: BaseException) -> None:
        if not isinstance(exc, VenueError | OSError | TimeoutError):
            raise exc
        metrics.POLL_ERRORS.labels(what).inc()
        log_once(log, f"poll:{what}:{type(exc).__name__}", f"polling the {what} failed: {exc}; retrying")

    # ------------------------------------------------------------ the venue's dead-man switch

    async def _dead_man_loop(self, switch: DeadManSwitch) -> None:
        """Keep the venue's switch armed for the guardian's own orders.

        A countdown (Aster) covers the symbol whoever placed the orders.  Paradex's
        cancel-on-disconnect covers only what was placed over the armed connection:
        the guardian's venue places over it, so the switch covers the guardian's
        own orders; the strategy's quotes are covered by the order gateway's session.
        """
        timeout_s = self.options.dead_man_timeout_s
        while True:
            try:
                await switch.arm(self.symbol, timeout_s=timeout_s)
            except VenueError as exc:
                log.error("could not re-arm the venue's dead-man switch: %s", exc)
            # Re-armed every quarter of its timer (120 s armed, re-armed every 30 s by default).
            await asyncio.sleep(timeout_s / 4)
