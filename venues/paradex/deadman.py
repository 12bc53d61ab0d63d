"""Paradex's dead-man switch: a WebSocket kept open with ``order.cancel_on_disconnect`` enabled.

The venue cancels every open order of the account when that connection
closes, so a guardian that dies, hangs (no pong) or loses its network takes
its orders with it.  The connection is re-opened, re-authenticated and re-armed
after every drop, and re-authenticated whenever the JWT is refreshed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import websockets

from venues.base import Unavailable, VenueError
from venues.common.retry import backoff_s
from venues.paradex.stream import ParadexStream, Rpc, StreamError, is_invalid_bearer

log = logging.getLogger(__name__)


class CancelOnDisconnect:
    """One armed connection per account, kept by a background task once ``arm`` is called."""

    def __init__(self, stream: ParadexStream, *, rng: random.Random | None = None) -> None:
        self.stream = stream
        self._rng = rng or random.Random()
        self._armed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rpc: Rpc | None = None
        self.arms = 0

    @property
    def armed(self) -> bool:
        return self._armed.is_set()

    async def arm(self, *, timeout_s: float) -> None:
        """Make sure the switch is armed; ``Unavailable`` when it could not be within ``timeout_s``."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._keep(), name="paradex-dead-man")
        try:
            await asyncio.wait_for(self._armed.wait(), timeout=timeout_s)
        except TimeoutError:
            raise Unavailable(f"paradex cancel-on-disconnect not armed within {timeout_s:g} s") from None

    async def disarm(self) -> None:
        """Turn the switch off on the venue, then close the connection (orders stay)."""
        rpc = self._rpc
        if rpc is not None and self.armed:
            with contextlib.suppress(VenueError, StreamError, websockets.WebSocketException, OSError):
                await rpc.send("order.cancel_on_disconnect", {"enabled": False})
        await self.close()

    async def close(self) -> None:
        """Stop keeping the connection; closing it fires the switch if it is armed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._armed.clear()

    async def _keep(self) -> None:
        failures = 0
        while True:
            try:
                async with self.stream.connect() as ws:
                    rpc = Rpc(ws)
                    version, token = await self.stream.authenticate(rpc)
                    answer = await rpc.call(
                        "order.cancel_on_disconnect",
                        {"enabled": True},
                        timeout_s=self.stream.answer_timeout_s,
                    )
                    if "error" in answer:
                        raise StreamError(f"cancel_on_disconnect refused: {answer['error']}")
                    self._rpc = rpc
                    self._armed.set()
                    self.arms += 1
                    failures = 0
                    log.info("paradex cancel-on-disconnect armed")
                    while True:
                        message = await rpc.receive(timeout_s=1.0)
                        if self.stream.jwt.version != version:
                            version, token = await self.stream.reauth(rpc)
                        if message and is_invalid_bearer(message):
                            version, token = await self.stream.reauth(rpc, refused=token)
            except (websockets.WebSocketException, OSError, TimeoutError, StreamError, VenueError) as exc:
                log.warning("paradex cancel-on-disconnect connection lost (%s); re-arming", exc)
            finally:
                self._armed.clear()
                self._rpc = None
            await asyncio.sleep(
                backoff_s(
                    failures,
                    base_s=self.stream.backoff_base_s,
                    cap_s=self.stream.backoff_cap_s,
                    rng=self._rng,
                )
            )
            failures += 1
