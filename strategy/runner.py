"""The strategy process: market data and fills in, quotes out through the order gateway.

A thin shell around the pure cores.  One loop takes everything waiting on the
bus (market data conflated to the newest book), updates the state, and asks
``strategy.decide`` whether to act; the cancels and places it returns go to the
order gateway as requests.  Reports are printed every ``--interval``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from decimal import Decimal
from typing import Any, TextIO

from services.bus import Received
from services.reqrep import RequestClient
from services.service import Service
from services.wire import (
    OrderUpdate,
    StrategyDone,
)
from strategy import metrics
from strategy.decide import (
    Actions,
    Gate,
    Mode,
    OrderPacer,
    PullReason,
    gate,
    plan_actions,
    requote_due,
    sequence_requests,
)
from strategy.exec_state import Changes, ClientIds, ExecState, Role
from strategy.feeds import Feeds
from strategy.gateway import GatewayClient
from strategy.pnl import PnlTracker
from strategy.positions import PositionAction, position_action
from strategy.quoter import QuotePlan, banded, plan_quotes, quote_params, requote_needed, requote_tolerance
from strategy.reporting import Reporter, feed_tracker
from venues.precision import MarketRules

log = logging.getLogger("strategy")

LOOP_TICK_S = 0.1
RESYNC_RETRY_S = 0.5
METRICS_EVERY_S = 1.0
RETRY_AFTER_S = 0.5
# Stay a little under the gateway's order rate so its limiter never has to refuse us.
RATE_HEADROOM = 0.8
# The clean-end announcement goes out this many times, a heartbeat apart: the bus closes without
# lingering, and one copy in flight at exit could be lost.
DONE_COPIES = 2
# The run's two ends as logged, the events its --duration is counted between (bench/soak.py waits for them).
RUN_STARTED_LOG = "quoting %s: spread %s%%, %s x %d per side, run for %g s"
RUN_ENDED_LOG = "duration of %g s reached: cancelling every order"


class StrategyService(Service):
    process = "strategy"
    endpoint = "strategy"

    def __init__(self, cfg: Any, *, rules: MarketRules, out: TextIO = sys.stdout) -> None:
        super().__init__(cfg, metrics_port=cfg.strategy_metrics_port)
        self.rules = rules
        self.symbol = rules.symbol
        self.params = quote_params(cfg)
        self.exec = ExecState(self.symbol)
        self.ids = ClientIds()
        self.reporter = Reporter(rules=rules, lang=cfg.lang, out=out)
        self.tracker: PnlTracker | None = None
        self.gateway: GatewayClient | None = None
        now = time.monotonic()
        rate = max(1.0, cfg.order_rate_limit * RATE_HEADROOM)
        # The gateway's bucket holds one second of its rate: never send a bigger burst than that.
        self.pacer = OrderPacer(rate_per_s=rate, burst=rate, now_s=now)
        self.feeds = Feeds(self.symbol)
        self.book = self.feeds.book
        self._gate = Gate(Mode.PULL, None)
        self._event = True
        self._acted_plan: QuotePlan | None = None
        self._last_requote_s: float | None = None
        self._not_before_s = 0.0
        self._retry_at_s: float | None = None
        self._mark: Decimal | None = None  # the newest mark price: quotes stay in the venue's price band
        self._cancel_all_due = False
        self._was_synced = False
        self._resync_after_s = 0.0
        self._metrics_due_s = 0.0
        self._quoted = False
        self._finished = False

    # ------------------------------------------------------------ the loop

    async def main(self) -> None:
        topics = [
            f"md.bbo.{self.symbol}",
            f"md.book.{self.symbol}",
            f"md.mark.{self.symbol}",
            "md.status",
            "ex.",
            "hb.order_gateway",
            "rk.state",
            "hb.risk",
        ]
        sub = self.bus.subscriber(["md", "exec", "risk"], topics)
        gateway = self.gateway = GatewayClient(
            RequestClient(self.bus, "orders"),
            symbol=self.symbol,
            exec_state=self.exec,
            ids=self.ids,
            on_lost=self._on_lost,
        )
        for mode in Mode:
            metrics.MODE.labels(mode.value).set(0)
        metrics.MODE.labels(Mode.PULL.value).set(1)
        metrics.POSITION_TARGET.set(float(self.cfg.target_position))
        metrics.POSITION_MAX.set(float(self.cfg.max_position))
        started_s = time.monotonic()
        end_s = started_s + self.cfg.duration
        self.reporter.start(now_s=started_s, interval_s=self.cfg.interval)
        cfg = self.cfg
        log.info(RUN_STARTED_LOG, self.symbol, cfg.spread, cfg.quantity, cfg.max_orders, cfg.duration)
        receiving: asyncio.Task[list[Received]] | None = None
        try:
            while (now := time.monotonic()) < end_s:
                if receiving is None:
                    receiving = asyncio.create_task(sub.recv_conflated(), name="strategy-recv")
                done, _ = await asyncio.wait({receiving}, timeout=min(LOOP_TICK_S, end_s - now))
                if receiving in done:
                    for item in receiving.result():
                        self._on_message(item)
                    receiving = None
                await self._step(gateway)
                self._maybe_report()
            log.info(RUN_ENDED_LOG, self.cfg.duration)
            self._finished = True
        finally:
            if receiving is not None:
                receiving.cancel()

    def _on_message(self, item: Received) -> None:
        now = time.monotonic()
        body, env = item.body, item.env
        if not env.src.startswith("order_gateway:"):
            state_changed, mark = self.feeds.take(body, ts_ns=env.ts, now_s=now)
            self._event = self._event or state_changed
            if mark is not None:
                self._mark = mark
                if self.tracker is not None:
                    self.tracker.on_mark(mark)
            return
        changes = self.exec.on_message(env, gap=item.gap, now_s=now)
        if changes is not None:
            self._absorb(changes)
        elif self._was_synced and not self.exec.synced:
            log.warning(
                "order stream out of sync (gap or gateway restart): pulling quotes and resyncing; "
                "fills missed meanwhile are not in the PnL report"
            )
            self._was_synced = False
            self._cancel_all_due = True

    def _absorb(self, changes: Changes) -> None:
        if self.tracker is not None:
            feed_tracker(self.tracker, changes)
        if changes.fills or changes.position_changed or changes.orders_changed:
            self._event = True

    # ------------------------------------------------------------ deciding and acting

    def _set_gate(self, new: Gate) -> None:
        if new == self._gate:
            return
        if new.mode is Mode.PULL and new.reason is not None:
            metrics.PULLS.labels(new.reason.value).inc()
        # Waiting for the inputs at start and stopping at the end are the normal course, not warnings.
        quiet = new.mode is Mode.QUOTE or new.reason is PullReason.STOPPING or not self._quoted
        level = logging.INFO if quiet else logging.WARNING
        self._quoted = self._quoted or new.mode is Mode.QUOTE
        reason = f" ({new.reason.value})" if new.reason is not None else ""
        log.log(level, "mode %s%s", new.mode.value, reason)
        metrics.MODE.labels(self._gate.mode.value).set(0)
        metrics.MODE.labels(new.mode.value).set(1)
        self._gate = new
        self._event = True

    def _on_lost(self) -> None:
        self._was_synced = False

    async def _step(self, gateway: GatewayClient) -> None:
        now = time.monotonic()
        if self._cancel_all_due:
            self._cancel_all_due = not await gateway.cancel_all()
        if not self.exec.synced and self.exec.joinable and now >= self._resync_after_s:
            await self._resync(gateway)
            now = time.monotonic()
        self._set_gate(
            gate(
                self.feeds.inputs(now_s=now, exec_synced=self.exec.synced),
                now_s=now,
                md_stale_s=self.cfg.md_stale,
            )
        )
        plan = self._plan()
        acted = self._acted_plan
        tolerance = self._tolerance(plan)
        book_moved = False
        if plan is not None and requote_needed(acted, plan, tolerance=tolerance):
            self._event = True
            # Time the quote from the book only when the book is what moved it.
            book_moved = acted is None or (plan.bid, plan.ask) != (acted.bid, acted.ask)
        retry_due = self._retry_at_s is not None and now >= self._retry_at_s
        if now < self._not_before_s or not requote_due(
            now_s=now,
            last_requote_s=self._last_requote_s,
            interval_s=self.cfg.interval,
            event=self._event or retry_due,
        ):
            return
        self._retry_at_s = None
        actions = plan_actions(
            mode=self._gate.mode,
            plan=plan,
            quotes=self.exec.orders(Role.QUOTE),
            reduces=self.exec.orders(Role.REDUCE),
            position_action=self._position_action(),
            reduce_mode=self.cfg.reduce_mode,
            reduce_blocked=self.exec.reduce_blocked(now_s=now),
            tick=self.rules.tick_size,
            tolerance=tolerance,
            budget=self.pacer.available(now_s=now),
            best=self._venue_best(),
        )
        # Quotes held back for the rate limit are placed as soon as it allows.
        self._event = actions.deferred > 0
        self._last_requote_s = now
        self._acted_plan = plan
        done = not actions or await self._act(
            gateway, actions, tick_ts_ns=self.book.ts_ns if book_moved else None
        )
        if not done:
            # A refused or failed request: try again soon even if no event comes (an event is sooner).
            self._retry_at_s = time.monotonic() + RETRY_AFTER_S
        if self._event:
            now = time.monotonic()
            self._not_before_s = now + self.pacer.wait_s(now_s=now)
        self._publish_quotes(plan if self._gate.mode is Mode.QUOTE else None)

    def _tolerance(self, plan: QuotePlan | None) -> Decimal:
        tick = self.rules.tick_size
        if plan is None:
            return tick
        return requote_tolerance(plan, threshold=self.cfg.requote_threshold, tick=tick)

    def _plan(self) -> QuotePlan | None:
        bid, ask = self.book.top(self._own_orders())
        if bid is None or ask is None or not self.exec.synced:
            return None
        return plan_quotes(
            bid=bid,
            ask=ask,
            rules=self.rules,
            params=self.params,
            position=self.exec.position,
            mark=self._mark,
        )

    def _venue_best(self) -> tuple[Decimal, Decimal] | None:
        bid, ask = self.book.top()
        return None if bid is None or ask is None else banded(self.rules, bid, ask, mark=self._mark)

    def _own_orders(self) -> list[OrderUpdate]:
        return [*self.exec.orders(Role.QUOTE), *self.exec.orders(Role.REDUCE)]

    def _position_action(self) -> PositionAction:
        if not self.exec.synced:
            return None
        return position_action(
            self.exec.position,
            target_position=self.cfg.target_position,
            threshold=self.cfg.position_threshold,
            max_position=self.cfg.max_position,
            rules=self.rules,
            market=self.cfg.reduce_mode != "maker",
        )

    async def _act(self, gateway: GatewayClient, actions: Actions, *, tick_ts_ns: int | None) -> bool:
        """Send the requests (``decide.sequence_requests`` orders them); True when all succeeded."""
        batches = sequence_requests(
            actions,
            resting=self._own_orders(),
            position=self.exec.position,
            max_position=self.cfg.max_position,
        )
        self.pacer.take(len(batches.early) + len(batches.late), now_s=time.monotonic())

        def first_place() -> None:
            if tick_ts_ns:
                metrics.TICK_TO_QUOTE.observe(max(0.0, (time.time_ns() - tick_ts_ns) / 1e9))

        ok, placed = await gateway.send(batches, on_first_place=first_place)
        for order in placed:
            if self.tracker is not None:
                self.tracker.on_order_placed()
            # Filled or expired at once (a market reduce, a post-only refused late): look again.
            self._event = self._event or not order.status.is_open
        return ok

    async def _resync(self, gateway: GatewayClient) -> None:
        snap = await gateway.snapshot()
        now = time.monotonic()
        changes = self.exec.apply_snapshot(snap, now_s=now) if snap is not None else None
        if changes is None:
            self._resync_after_s = now + RESYNC_RETRY_S
            return
        if self.tracker is None:
            self.tracker = self._new_tracker()
        self._was_synced = True
        self._absorb(changes)
        log.info(
            "joined the order stream: position %s, %d open orders",
            self.exec.position,
            len(self.exec.all_orders()),
        )

    def _new_tracker(self) -> PnlTracker:
        """The PnL from the joined position; without a usable entry price, priced at mid (or flat)."""
        position, entry = self.exec.position, self.exec.entry_price
        if position and not (entry and entry > 0):
            bid, ask = self.book.top()
            mid = (bid + ask) / 2 if bid and ask else None
            start = f"the mid {mid}" if mid else "flat"
            log.warning("no entry price for the position of %s: the PnL starts from %s", position, start)
            position, entry = (position, mid) if mid else (Decimal(0), None)
        return PnlTracker(
            self.rules, target_position=self.cfg.target_position, position=position, entry_price=entry
        )

    def _publish_quotes(self, plan: QuotePlan | None) -> None:
        bids = [] if plan is None else [(layer.price, layer.quantity) for layer in plan.bids]
        asks = [] if plan is None else [(layer.price, layer.quantity) for layer in plan.asks]
        self.reporter.publish_quotes(self.pub, symbol=self.symbol, bids=bids, asks=asks, plan=plan)

    def _maybe_report(self) -> None:
        now = time.monotonic()
        if now < self._metrics_due_s and not self.reporter.due(now_s=now):
            return
        quotes = self.exec.orders(Role.QUOTE)
        self._metrics_due_s = now + METRICS_EVERY_S
        self.reporter.update_metrics(
            tracker=self.tracker, position=self.exec.position, quotes=quotes, plan=self._acted_plan
        )
        if self.reporter.due(now_s=now):
            self.reporter.report(self.pub, plan=self._plan(), tracker=self.tracker, quotes=quotes, now_s=now)

    # ------------------------------------------------------------ the end

    async def shutdown(self) -> None:
        """Cancel every order (verified by snapshot), close the position when asked to, announce the end.

        A run that ended on purpose (its ``--duration``, a stop signal) says so on ``st.status``
        while still heartbeating, so the guardian does not take it for a hang; a crash says nothing.
        """
        try:
            await self._wind_down()
        finally:
            if self._finished or self.stopping:
                await self._announce_done(reason="duration" if self._finished else "stopped")

    async def _announce_done(self, *, reason: str) -> None:
        done = StrategyDone(instance=self.bus.instance, symbol=self.symbol, reason=reason)
        for copy in range(DONE_COPIES):
            if copy:
                await asyncio.sleep(self.heartbeat_interval_s)
            self.pub.publish("st.status", done)
        log.info("announced the end of this run (%s) to the guardian", reason)

    async def _wind_down(self) -> None:
        gateway = self.gateway
        if gateway is None:
            return
        self._set_gate(Gate(Mode.PULL, PullReason.STOPPING))
        self._publish_quotes(None)
        snap = await gateway.cancel_all_verified()
        if self.cfg.close_on_exit and snap is not None and snap.position is not None:
            await gateway.close_position(snap.position.quantity, self.rules)
        self.reporter.report(
            self.pub, plan=self._plan(), tracker=self.tracker, quotes=[], now_s=time.monotonic()
        )
        gateway.close()
