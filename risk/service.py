"""The guardian process: the engine on the bus, ``rk.state``/``rk.event`` out, ``risk_ctl`` served.

It subscribes to market data, executions and the strategy's heartbeat for
speed only; its own polling and its own venue client are what make it work.
Stopping, it is the last one down: it says HALTED, waits for the programs
supervisord stops together with it, then cancels whatever they left resting.
``rk.state`` goes out on every change and every ``STATE_INTERVAL_S``, so a
subscriber that misses it for a second knows the guardian is gone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Mapping

from risk import metrics
from risk.engine import GuardianEngine
from risk.model import Reason
from risk.rules import Guardian
from risk.startup import GuardOptions, check_margin, lang_of, limits_of, market_rules
from risk.supervisor import SupervisorRestarter
from risk.sweep import cancel_ours
from services.bus import HeartbeatMonitor, Subscriber
from services.codec import Envelope, Message
from services.config import Config, ConfigError
from services.reqrep import RequestServer
from services.service import Service
from services.supervise import outlive
from services.wire import (
    ErrorReply,
    RejectReason,
    RiskCommand,
    RiskEvent,
    RiskState,
    RiskStatus,
    TradingState,
)
from venues.base import VenueError
from venues.factory import open_venue

log = logging.getLogger("risk")

STATE_INTERVAL_S = 0.25
COMMANDS = ("status", "halt", "resume", "flatten")
# Every heartbeat on these endpoints, for mm_heartbeat_age_seconds; only the strategy's drives a rule.
# Prices come from the ticker and the mark, feed health from those and md.status (live every
# second): decoding every depth update and trade as well would only spend the cores the quoting needs.
SUBSCRIPTIONS = ("md.bbo.", "md.mark.", "md.status", "ex.", "hb.", "st.")
# Stopping: how long to outlive the programs stopped with the guardian (the strategy's own stop
# takes up to its 10 s deadline), and how long the final cancel-all may take.
OUTLIVE_S = 30.0
# The programs the guardian outlives (not the paper emulator: it outlives the guardian).
OUTLIVES = ("strategy", "order_gateway", "md_gateway")
SWEEP_TIMEOUT_S = 10.0


class RiskService(Service):
    """``python -m risk run``: the guardian with the bus around it."""

    process = "risk"
    endpoint = "risk"
    stop_deadline_s = OUTLIVE_S + SWEEP_TIMEOUT_S + 5.0

    def __init__(
        self,
        cfg: Config,
        *,
        options: GuardOptions,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(cfg, metrics_port=cfg.risk_metrics_port)
        self.options = options
        self.env = os.environ if env is None else env
        self.engine: GuardianEngine | None = None
        self.monitor = HeartbeatMonitor()
        self._state = TradingState.HALTED
        self._reason = Reason.STARTUP.value

    async def main(self) -> None:
        cfg = self.cfg
        # Until the engine runs, say so: the gateway and the strategy stay halted meanwhile.
        publisher = asyncio.create_task(self._publish_state(), name="risk-state")
        venue = open_venue(cfg, role="risk", env=self.env)
        try:
            lang = lang_of(cfg)
            limits = limits_of(cfg, self.options, watch_strategy=True, watch_feed=True)
            metrics.STOP_LOSS.set(math.nan if limits.stop_loss is None else float(limits.stop_loss))
            metrics.TAKE_PROFIT.set(math.nan if limits.take_profit is None else float(limits.take_profit))
            metrics.REDUCE_ABOVE.set(float(cfg.target_position + cfg.position_threshold))
            rules = await market_rules(venue, cfg.symbol)
            if self.options.check_margin:
                await check_margin(venue, cfg, self.options, lang=lang)
            self.engine = GuardianEngine(
                venue,
                Guardian(limits, lang=lang),
                rules,
                options=self.options,
                restarter=SupervisorRestarter.from_env(self.env),
                strategy_beat=self._strategy_beat,
                on_state=self._on_state,
                on_event=self._on_event,
            )
            subscriber = self.bus.subscriber(("md", "exec", "strategy"), SUBSCRIPTIONS)
            server = RequestServer(self.bus, "risk_ctl", self._handle, key_fn=lambda _: None)
            log.info("guardian armed on %s %s (max position %s)", cfg.exchange, cfg.symbol, cfg.max_position)
            await asyncio.gather(self.engine.run(), self._listen(subscriber), server.serve())
        finally:
            publisher.cancel()
            await venue.close()

    async def shutdown(self) -> None:
        # Leaving: say HALTED at once so nothing new is placed, and keep saying it while the others stop.
        self._state, self._reason = TradingState.HALTED, "guardian stopped"
        self._publish_once()
        if self.engine is None:
            return  # never armed: it guarded nothing and leaves nothing to sweep
        await self._outlive_peers()
        await self._sweep()

    async def _outlive_peers(self) -> None:
        """Under supervisord, wait (bounded) until the programs being stopped with the guardian are gone."""
        left = await outlive(self.env, programs=OUTLIVES, timeout_s=OUTLIVE_S, tick=self._publish_once)
        if left:
            log.error("%s still stopping after %.0f s: sweeping now", ", ".join(left), OUTLIVE_S)

    async def _sweep(self) -> None:
        """Cancel every order of perp-mm's still resting on the symbol: nothing stays on the book unguarded.

        Foreign orders (a stop or take-profit the trader set on the venue) stay where they were put.
        """
        symbol = self.cfg.symbol
        try:
            venue = open_venue(self.cfg, role="risk", env=self.env)
        except (ConfigError, ValueError) as exc:
            log.error("cannot reach the venue to cancel what is left on %s: %s", symbol, exc)
            return
        try:
            async with asyncio.timeout(SWEEP_TIMEOUT_S):
                swept = await cancel_ours(venue, symbol)
        except (VenueError, OSError, TimeoutError) as exc:
            log.error("could not cancel the orders left on %s: %s", symbol, exc)
            return
        finally:
            await venue.close()
        if swept.cancelled or swept.kept:
            log.warning("stopping: cancelled %s left on %s", swept.describe(), symbol)
        else:
            log.info("stopping: no order left on %s", symbol)

    # ------------------------------------------------------------ bus in

    async def _listen(self, subscriber: Subscriber) -> None:
        while True:
            for got in await subscriber.recv_conflated():
                now_s = time.monotonic()
                if got.topic.startswith("hb."):
                    self.monitor.observe(got.body, now_s=now_s)
                    continue
                if got.gap and got.topic.startswith("ex.") and self.engine is not None:
                    # Missed executions: do not wait for the next poll to learn the position.
                    self.engine.poll_soon()
                if self.engine is not None:
                    # Dated by when it was true at its origin (the exchange's event time for market
                    # data), so a message that sat in a queue never outranks a newer poll.
                    age_s = max(0.0, (time.time_ns() - got.env.ts) / 1e9)
                    self.engine.on_bus(got.topic, got.body, age_s=age_s)

    def _strategy_beat(self, now_s: float) -> tuple[float | None, str | None]:
        age_s = self.monitor.age_s("strategy", now_s=now_s)
        return age_s, self.monitor.instance("strategy")

    # ------------------------------------------------------------ bus out

    def _on_state(self, state: TradingState, reason: Reason) -> None:
        self._state, self._reason = state, reason.value
        self._publish_once()

    def _on_event(self, event: RiskEvent) -> None:
        self.pub.publish("rk.event", event)

    def _publish_once(self) -> None:
        symbol = self.cfg.symbol
        self.pub.publish("rk.state", RiskState(state=self._state, reason=self._reason, symbol=symbol))

    async def _publish_state(self) -> None:
        while True:
            self._publish_once()
            now_s = time.monotonic()
            for process, age_s in self.monitor.ages(now_s=now_s).items():
                metrics.HEARTBEAT_AGE.labels(process).set(age_s)
            await asyncio.sleep(STATE_INTERVAL_S)

    # ------------------------------------------------------------ risk_ctl

    async def _handle(self, env: Envelope) -> Message:
        msg = env.body
        if not isinstance(msg, RiskCommand):
            why = f"risk_ctl takes risk_command, not {msg.TYPE}"
            return ErrorReply(reason=RejectReason.MALFORMED, message=why)
        if msg.action not in COMMANDS:
            return ErrorReply(
                reason=RejectReason.MALFORMED,
                message=f"unknown command {msg.action!r}; known: {', '.join(COMMANDS)}",
            )
        engine = self.engine
        if engine is None:
            return ErrorReply(reason=RejectReason.UNAVAILABLE, message="the guardian is still starting")
        if msg.action != "status":
            note = msg.reason or "no reason given"
            log.warning("operator command %s from %s: %s", msg.action, env.src, note)
            if msg.action == "flatten":
                # Act on the venue's position now, not on one up to a poll interval old.
                await engine.poll_once()
            engine.command(msg.action, msg.reason)
            engine.step()
        snap = engine.snapshot()
        return RiskStatus(
            state=snap.state,
            reason=snap.reason.value,
            symbol=self.cfg.symbol,
            position=snap.position,
            unrealized_pnl=snap.unrealized_pnl,
            heartbeat_ages_s=self.monitor.ages(now_s=time.monotonic()),
        )
