"""Backpack's whole protocol over the emulator core: public REST, signed REST and the WebSocket."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from venues.emulator.backpack_account import BackpackAccount
from venues.emulator.backpack_api import BackpackApi
from venues.emulator.backpack_public import BackpackPublic
from venues.emulator.backpack_trigger_desk import TriggerDesk
from venues.emulator.backpack_ws import BackpackStreams
from venues.emulator.core import EmulatorCore


class BackpackFrontEnd:
    def __init__(self, core: EmulatorCore) -> None:
        self.public = BackpackPublic(core)
        self.triggers = TriggerDesk(core, notify=self._order_update)
        self.api = BackpackApi(core, self.triggers)
        self.account = BackpackAccount(core, self.api.auth, self.triggers)
        self.streams = BackpackStreams(core, position_snapshot=self.account.position_json)
        self.middleware = self.api.middleware

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self.streams.handle)
        self.public.install(app)
        self.api.install(app)
        self.account.install(app)

    def _order_update(self, api_key: str, data: dict[str, Any]) -> None:
        self.streams.send_order_update(api_key, data)

    def drop_connections(self) -> None:
        self.streams.drop_connections()

    async def close(self) -> None:
        self.api.close()
        await self.streams.close()
