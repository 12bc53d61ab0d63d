"""One client connection of the emulator's Paradex WebSocket: its outbox, channels and order scope."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from venues.emulator.paradex_sbe import public_frame
from venues.emulator.paradex_ws_orders import OrderScope

OUTBOX_LIMIT = 10_000


@dataclass(eq=False)
class Connection:
    """A connection's state; ``send`` and ``notify`` queue a frame (False when the outbox is full)."""

    ws: web.WebSocketResponse
    outbox: asyncio.Queue[str | bytes] = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    channels: set[str] = field(default_factory=set)
    scope: OrderScope = field(default_factory=OrderScope)
    sbe: bool = False  # public channel data as SBE binary frames
    last_pong_s: float = field(default_factory=time.monotonic)

    def send(self, message: dict[str, Any] | bytes) -> bool:
        try:
            self.outbox.put_nowait(
                message if isinstance(message, bytes) else json.dumps(message, separators=(",", ":"))
            )
        except asyncio.QueueFull:
            return False
        return True

    def notify(self, channel: str, data: dict[str, Any]) -> bool:
        """One channel message, as SBE when this connection negotiated it and SBE carries the channel."""
        frame = public_frame(channel, data) if self.sbe else None
        if frame is not None:
            return self.send(frame)
        return self.send(
            {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
        )
