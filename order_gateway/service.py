"""The order gateway process: the only process that trades for the strategy.

Binds the ``exec`` PUB (``ex.order``, ``ex.fill``, ``ex.position``,
``ex.balance``, ``ex.funding``, ``ex.status``) and the ``orders`` ROUTER
(served by ``desk.OrderDesk``), follows the guardian's ``rk.state`` and
``hb.risk`` on the ``risk`` endpoint (HALTED while either is missing for more
than ``risk_timeout_s``), consumes the private stream and reconciles with the
venue (``sync.Reconciler``) at start and after every reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import ClassVar

from order_gateway import metrics as og_metrics
from order_gateway.calls import VenueCalls
from order_gateway.desk import OrderDesk
from order_gateway.journal import UNKNOWN, Journal
from order_gateway.limits import Limits, TokenBucket, effective_state
from order_gateway.state import SymbolState
from order_gateway.sync import Reconciler
from services.bus import HeartbeatMonitor, Subscriber
from services.config import Config, ConfigError
from services.reqrep import RequestServer
from services.service import Service
from services.supervise import outlive
from services.wire import (
    Balance,
    ExStatus,
    FeedState,
    Fill,
    Mark,
    OrderUpdate,
    Position,
    RiskState,
    TradingState,
)
from venues.base import Venue, VenueError
from venues.factory import open_venue
from venues.precision import MarketRules

log = logging.getLogger(__name__)


def journal_path(cfg: Config) -> Path:
    """Where the order gateway of ``cfg`` keeps its journal."""
    return cfg.data_dir / f"journal-{cfg.exchange}-{cfg.symbol}.sqlite"


class OrderGateway(Service):
    process: ClassVar[str] = "order_gateway"
    endpoint: ClassVar[str] = "exec"
    risk_timeout_s: ClassVar[float] = 3.0
    status_interval_s: ClassVar[float] = 1.0
    unknown_interval_s: ClassVar[float] = 1.0
    balance_interval_s: ClassVar[float] = 10.0
    funding_interval_s: ClassVar[float] = 60.0
    last_funding_poll_s: ClassVar[float] = 3.0
    retry_s: ClassVar[float] = 2.0

    def __init__(self, cfg: Config, *, venue: Venue | None = None) -> None:
        super().__init__(cfg, metrics_port=cfg.orders_metrics_port)
        self.symbol = cfg.symbol
        self._venue = venue
        self._journal: Journal | None = None
        self._risk: RiskState | None = None
        self._risk_at_s: float | None = None
        self._beats = HeartbeatMonitor()
        self._stream_state = FeedState.RECONNECTING
        self._reconcile_task: asyncio.Task[None] | None = None
        self._reconcile_again = False
        self._reconciler: Reconciler | None = None

    def trading(self) -> tuple[TradingState, str]:
        """The trading state enforced now (HALTED while the guardian is unknown or silent)."""
        now_s = time.monotonic()
        return effective_state(
            self._risk.state if self._risk is not None else None,
            state_age_s=None if self._risk_at_s is None else now_s - self._risk_at_s,
            heartbeat_age_s=self._beats.age_s("risk", now_s=now_s),
            timeout_s=self.risk_timeout_s,
        )

    async def main(self) -> None:
        venue = self._venue or open_venue(self.cfg, role="trading")
        self._venue = venue
        journal = self._journal = Journal(journal_path(self.cfg))
        rules = await self._rules(venue)
        state = SymbolState(self.symbol)
        for known in journal.active_orders(self.symbol):
            update = known.as_update()
            if update is not None:
                state.apply(update, now_s=0.0)
            elif known.status == UNKNOWN:
                state.unknown[known.place.client_id] = known.place
        desk = OrderDesk(
            rules=rules,
            venue=venue,
            calls=VenueCalls(venue.name, now_s=time.monotonic()),
            journal=journal,
            state=state,
            limits=Limits(max_position=self.cfg.max_position, max_order_notional=self.cfg.max_order_notional),
            order_bucket=TokenBucket(
                rate_per_s=self.cfg.order_rate_limit,
                burst=max(1.0, self.cfg.order_rate_limit),
                now_s=time.monotonic(),
            ),
            trading=self.trading,
            publisher=self.pub,
        )
        reconciler = self._reconciler = Reconciler(desk)
        server = RequestServer(self.bus, "orders", desk.handle)
        # The md mark only values market orders for the notional limit; trading never waits for it.
        risk = self.bus.subscriber(["risk", "md"], ["rk.state", "hb.risk", f"md.mark.{self.symbol}"])
        log.info("order gateway for %s on %s: journal %s", self.symbol, venue.name, journal.path)
        self._publish_status()
        tasks = [
            asyncio.create_task(server.serve(), name="orders-router"),
            asyncio.create_task(self._follow_risk(risk, desk), name="risk-follower"),
            asyncio.create_task(self._private(venue, desk, reconciler), name="private-stream"),
            asyncio.create_task(self._polls(desk, reconciler), name="polls"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            if self._reconcile_task is not None:
                self._reconcile_task.cancel()

    async def drain(self) -> None:
        # supervisord signals the whole group at once: keep serving the strategy's last cancel-all
        # until it has exited, instead of leaving it to time out against a closed socket.
        left = await outlive(os.environ, programs=("strategy",), timeout_s=self.drain_deadline_s - 1.0)
        if left:
            log.warning("the strategy is still stopping after %.0f s: stopping anyway", self.drain_deadline_s)

    async def shutdown(self) -> None:
        try:
            await self._last_funding()
        finally:
            if self._venue is not None:
                await self._venue.close()
            if self._journal is not None:
                self._journal.close()

    async def _last_funding(self) -> None:
        """Journal the funding settled since the last poll (polls are a minute apart) before stopping."""
        reconciler = self._reconciler
        if reconciler is None or not reconciler.desk.status.ready:
            return
        try:
            async with asyncio.timeout(self.last_funding_poll_s):
                new = await reconciler.poll_funding()
        except (VenueError, TimeoutError) as exc:
            log.warning("funding since the last poll not read at stop (%r): the next start reads it", exc)
            return
        if new:
            log.info("journaled %d funding payment(s) settled since the last poll", new)

    async def _rules(self, venue: Venue) -> MarketRules:
        while True:
            try:
                markets = await venue.load_markets()
            except VenueError as exc:
                log.warning(
                    "cannot load %s markets yet (%s); retrying in %.0f s", venue.name, exc, self.retry_s
                )
                await asyncio.sleep(self.retry_s)
                continue
            if self.symbol not in markets:
                raise ConfigError([f"{venue.name} lists no perpetual market {self.symbol}"])
            return markets[self.symbol]

    # ------------------------------------------------------------ the guardian, and the mark from md

    async def _follow_risk(self, sub: Subscriber, desk: OrderDesk) -> None:
        shown = self.trading()
        while True:
            try:
                async with asyncio.timeout(0.25):
                    got = await sub.recv()
            except TimeoutError:
                got = None
            if got is not None:
                now_s = time.monotonic()
                if isinstance(got.body, RiskState) and got.body.symbol in ("", self.symbol):
                    self._risk, self._risk_at_s = got.body, now_s
                elif isinstance(got.body, Mark) and got.body.symbol == self.symbol:
                    desk.on_mark(got.body.mark, now_s=now_s)
                else:
                    self._beats.observe(got.body, now_s=now_s)
            current = self.trading()
            if current[0] is not shown[0]:
                log.warning("trading state %s -> %s %s", shown[0].value, current[0].value, current[1])
                shown = current

    # ------------------------------------------------------------ the private stream

    async def _private(self, venue: Venue, desk: OrderDesk, reconciler: Reconciler) -> None:
        while True:
            try:
                async for event in venue.private_stream(self.symbol):
                    self._on_private(event.msg, event.ts_ns, desk, reconciler)
                reason = "private stream ended"
            except VenueError as exc:
                reason = f"private stream failed: {exc}"
            log.error("%s; re-opening in %.0f s", reason, self.retry_s)
            self._on_private(
                ExStatus(state=FeedState.RECONNECTING, reason=reason), time.time_ns(), desk, reconciler
            )
            await asyncio.sleep(self.retry_s)

    def _on_private(self, msg: object, ts_ns: int, desk: OrderDesk, reconciler: Reconciler) -> None:
        if isinstance(msg, OrderUpdate):
            desk.on_order(msg, ts_ns=ts_ns)
        elif isinstance(msg, Fill):
            desk.on_fill(msg, ts_ns=ts_ns)
        elif isinstance(msg, Position):
            desk.on_position(msg, ts_ns=ts_ns)
        elif isinstance(msg, Balance):
            desk.on_balance(msg, ts_ns=ts_ns)
        elif isinstance(msg, ExStatus):
            self._stream_state = msg.state
            desk.status.stream_live = msg.state is FeedState.LIVE
            self._publish_status(msg.reason)
            if msg.state is FeedState.LIVE:
                self._start_reconcile(reconciler)
            else:
                log.warning("private stream %s: %s", msg.state.value, msg.reason)
                reconciler.stream_dropped()

    def _start_reconcile(self, reconciler: Reconciler) -> None:
        if self._reconcile_task is not None and not self._reconcile_task.done():
            self._reconcile_again = True
            return
        self._reconcile_task = asyncio.create_task(self._reconcile(reconciler), name="reconcile")

    async def _reconcile(self, reconciler: Reconciler) -> None:
        while True:
            self._reconcile_again = False
            ok = await reconciler.reconcile()
            if ok:
                if not reconciler.desk.status.ready:
                    log.info("order gateway ready: reconciled with the venue")
                reconciler.desk.status.ready = True
            if ok and not self._reconcile_again:
                return
            if not ok:
                await asyncio.sleep(self.retry_s)

    def _publish_status(self, reason: str = "") -> None:
        self.pub.publish("ex.status", ExStatus(state=self._stream_state, reason=reason))
        for state in FeedState:
            og_metrics.EXEC_STATE.labels(state.value).set(1 if state is self._stream_state else 0)

    # ------------------------------------------------------------ slow polls

    async def _polls(self, desk: OrderDesk, reconciler: Reconciler) -> None:
        last_status = last_unknown = last_balance = last_funding = time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            now_s = time.monotonic()
            if now_s - last_status >= self.status_interval_s:
                last_status = now_s
                self._publish_status()
            if not desk.status.ready:
                continue
            try:
                if desk.fills_missing(now_s=now_s):
                    log.warning("fills reported on orders did not arrive on the stream; reading the history")
                    await reconciler.fetch_fills()
                if desk.state.unknown and now_s - last_unknown >= self.unknown_interval_s:
                    last_unknown = now_s
                    await reconciler.resolve_unknown()
                if now_s - last_balance >= self.balance_interval_s:
                    last_balance = now_s
                    await reconciler.poll_balance()
                if now_s - last_funding >= self.funding_interval_s:
                    last_funding = now_s
                    await reconciler.poll_funding()
            except VenueError as exc:
                log.warning("venue poll failed (retrying on the next interval): %s", exc)
