"""Aster's whole futures protocol over the emulator core: public REST, signed REST (v1 and v3), WebSocket.

A background timer (every ``timer_interval_s``) fires ``countdownCancelAll``
deadlines and triggered conditional orders, delivers user-data events held
back for reordering, ends user streams whose listen key lapsed, and pushes mark prices
once a second, as the venue does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web

from venues.aster.signing import MAINNET_CHAIN_ID
from venues.emulator.aster_account import AsterAccount
from venues.emulator.aster_api import AsterApi
from venues.emulator.aster_auth import AsterAuth
from venues.emulator.aster_credentials import AsterAccountSpec
from venues.emulator.aster_public import AsterPublic
from venues.emulator.aster_ws import AsterStreams
from venues.emulator.core import EmulatorCore

log = logging.getLogger(__name__)
MARK_INTERVAL_S = 1.0


class AsterFrontEnd:
    def __init__(
        self,
        core: EmulatorCore,
        accounts: list[AsterAccountSpec],
        *,
        chain_id: int = MAINNET_CHAIN_ID,
        timer_interval_s: float = 0.05,
    ) -> None:
        self.core = core
        self.auth = AsterAuth(core, accounts, chain_id=chain_id)
        self.public = AsterPublic(core)
        self.api = AsterApi(core, self.auth)
        self.account = AsterAccount(core, self.auth)
        self.streams = AsterStreams(
            core,
            client_id_of=self.api.client_ids.of,
            account_of_key=lambda key: self.api.listen_keys.account(key, now_ms=core.now_ms()),
            orig_type_of=self.api.conditionals.original_type,
        )
        self.api.conditionals.user_event = self.streams.to_account
        self.middleware = self.api.middleware
        self.timer_interval_s = timer_interval_s
        self._timer: asyncio.Task[None] | None = None

    def install(self, app: web.Application) -> None:
        self.streams.install(app)
        self.public.install(app)
        self.api.install(app)
        self.account.install(app)
        app.on_startup.append(self._start_timer)

    async def _start_timer(self, _: web.Application) -> None:
        self._timer = asyncio.create_task(self._run_timer(), name="aster-emulator-timer")

    async def _run_timer(self) -> None:
        marks_at = time.monotonic()
        while not self.core.stopping:
            try:
                if self.core.freeze_remaining_s() == 0:
                    self.api.fire_countdowns()
                    self.api.conditionals.fire()
                    self.streams.flush_held()
                    if self.core.faults.take_listen_key_expiry():
                        self.api.listen_keys.expire_all()
                    self.api.listen_keys.expire(now_ms=self.core.now_ms())
                    self.streams.check_listen_keys()
                    if time.monotonic() >= marks_at:
                        marks_at = time.monotonic() + MARK_INTERVAL_S
                        self.streams.send_marks()
            except Exception:
                # A bug in one pass must not stop countdowns for the rest of the run.
                log.exception("aster emulator timer failed")
            await self.core.hold(self.timer_interval_s)

    def drop_connections(self) -> None:
        self.streams.drop_connections()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.streams.close()
