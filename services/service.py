"""The process base every service stands on: loop, signals, heartbeat, metrics, bounded stop.

A subclass names its process and the PUB endpoint it binds, implements
``main()`` and optionally ``drain()`` and ``shutdown()``.  SIGTERM or SIGINT
first runs ``drain`` while ``main`` still works (within ``drain_deadline_s``:
time for peers to finish with this process), then ends ``main`` and runs
``shutdown`` within ``stop_deadline_s``; the heartbeat is published from the
event loop itself, so a hung loop stops beating.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import signal
import time
from typing import Any, ClassVar

from services import affinity, metrics
from services.bus import Bus, HeartbeatPublisher, Publisher
from services.config_checks import label
from services.endpoints import Endpoints
from services.logs import setup_logging
from venues.common import eager

log = logging.getLogger(__name__)


def endpoints_of(cfg: Any) -> Endpoints:
    """The bus endpoints named in a ``Config``."""
    return Endpoints(
        md=cfg.md_endpoint,
        exec=cfg.exec_endpoint,
        orders=cfg.orders_endpoint,
        strategy=cfg.strategy_endpoint,
        risk=cfg.risk_endpoint,
        risk_ctl=cfg.risk_ctl_endpoint,
    )


class Service(abc.ABC):
    process: ClassVar[str]
    endpoint: ClassVar[str]
    heartbeat_interval_s: ClassVar[float] = 0.2
    stop_deadline_s: ClassVar[float] = 10.0
    drain_deadline_s: ClassVar[float] = 15.0

    def __init__(self, cfg: Any, *, metrics_port: int) -> None:
        self.cfg = cfg
        self.metrics_port = metrics_port
        self.bus: Bus
        self.pub: Publisher
        self._stop = asyncio.Event()

    @abc.abstractmethod
    async def main(self) -> None:
        """The service's work; returns when the service is done (or is cancelled on stop)."""

    async def drain(self) -> None:  # noqa: B027 - optional hook, most services have no one to wait for
        """Asked to stop, with ``main`` still running: let peers finish with us (``drain_deadline_s``)."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook, most services have nothing to clean
        """Clean-up that must happen before exit (cancel orders...); bounded by ``stop_deadline_s``."""

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> int:
        """Run until done or signalled; returns the process exit code."""
        setup_logging(self.process, fmt=self.cfg.log_format, level=self.cfg.log_level)
        setting = affinity.CPU_SETTINGS.get(self.process, "")
        cpus = getattr(self.cfg, setting, None)
        if cpus is not None:
            # Before the loop, the bus and the metrics server start their threads: they inherit it.
            try:
                pinned = affinity.pin(cpus, setting=label(setting))
            except ValueError as exc:
                log.error("%s cannot start: %s", self.process, exc)
                return 2
            log.info("%s runs on CPU %s", self.process, affinity.format_cpus(pinned))
        try:
            return asyncio.run(self._run())
        except KeyboardInterrupt:
            return 0

    async def _run(self) -> int:
        loop = asyncio.get_running_loop()
        eager.install(loop)  # venue requests on the wire at once (Python 3.11)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        self.bus = Bus(endpoints_of(self.cfg), process=self.process, keys_dir=self.cfg.keys_dir)
        code = 0
        try:
            self.pub = self.bus.publisher(self.endpoint)
            metrics.serve_metrics(host=self.cfg.metrics_host, port=self.metrics_port)
            metrics.UP_INFO.labels(self.process, self.bus.instance).set(1)
            beat = asyncio.create_task(self._heartbeat(), name="heartbeat")
            work = asyncio.create_task(self.main(), name="main")
            stop = asyncio.create_task(self._stop.wait(), name="stop")
            await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                await self._drain()
            if work.done() and work.exception() is not None:
                log.error("%s failed", self.process, exc_info=work.exception())
                code = 1
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            try:
                async with asyncio.timeout(self.stop_deadline_s):
                    await self.shutdown()
            except TimeoutError:
                log.error("shutdown did not finish within %.1f s", self.stop_deadline_s)
                code = code or 1
            stop.cancel()
            beat.cancel()
        finally:
            self.bus.close()
        log.info("%s stopped", self.process)
        return code

    async def _drain(self) -> None:
        try:
            async with asyncio.timeout(self.drain_deadline_s):
                await self.drain()
        except TimeoutError:
            log.warning("drain did not finish within %.1f s: stopping anyway", self.drain_deadline_s)

    async def _heartbeat(self) -> None:
        beats = HeartbeatPublisher(self.pub, process=self.process, instance=self.bus.instance)
        interval = self.heartbeat_interval_s
        due = time.monotonic()
        while True:
            beats.beat()
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            lag = time.monotonic() - due
            metrics.LOOP_LAG.set(max(0.0, lag))
            if lag > interval:
                due = time.monotonic()
