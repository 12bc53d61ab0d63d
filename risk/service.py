"""The guardian process: the engine on the bus, ``rk.state``/``rk.event`` out, ``risk_ctl`` served.

It subscribes to market data, executions and the strategy's heartbeat for
speed only; its own polling and its own venue client are what make it work.
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
from services.bus import HeartbeatMonitor, Subscriber
from services.codec import Envelope, Message
from services.config import Config
from services.reqrep import RequestServer
from services.service import Service
from services.wire import (
    ErrorReply,
    RejectReason,
    RiskCommand,
    RiskEvent,
    RiskState,
    RiskStatus,
    TradingState,
)
from venues.factory import open_venue

log = logging.getLogger("risk")

STATE_INTERVAL_S = 0.25
COMMANDS = ("status", "halt", "resume", "flatten")
SUBSCRIPTIONS = ("md.", "ex.", "hb.strategy", "st.")


class RiskService(Service):
    """``python -m risk run``: the guardian with the bus around it."""

    process = "risk"
    endpoint = "risk"

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
        # Leaving: say HALTED once more so nobody waits a second to notice.
        self._state, self._reason = TradingState.HALTED, "guardian stopped"
        self._publish_once()

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
                if not got.stale and self.engine is not None:
                    self.engine.on_bus(got.topic, got.body)

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
