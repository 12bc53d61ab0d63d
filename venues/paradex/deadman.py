"""Paradex's dead-man switch: a WebSocket with ``order.cancel_on_disconnect`` armed, orders sent over it.

The switch is scoped to the connection (docs.paradex.trade,
``order.cancel_on_disconnect``): it covers only the orders placed over that
WebSocket, fires when the connection is lost unexpectedly (the process killed,
the network gone, no pong), not on a clean close, and is gone after a
reconnect.  So the orders it must protect are placed and cancelled over the
same connection (``request``; ``venues.paradex.ws_orders``), and a reconnect
re-arms before anything is sent again.  ``watch`` tells a caller every change
of ``armed``, so quoting can stop while the switch is down.

The connection authenticates once: a Paradex WebSocket needs no re-auth for
its lifetime, whatever happens to the JWT meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator
from typing import Any

import websockets

from services.logs import log_once
from venues.base import Unavailable, VenueError
from venues.common.retry import backoff_s
from venues.paradex.stream import ParadexStream, Rpc, StreamError

log = logging.getLogger(__name__)


class SessionDown(Unavailable):
    """The switch is not armed: nothing was sent (the caller may use REST instead)."""


class NoAnswer(Unavailable):
    """The request was sent but no answer came (the connection dropped, or the wait ran out)."""


class RpcRefused(VenueError):
    """The venue answered the request with a JSON-RPC error."""

    def __init__(self, method: str, error: Any) -> None:
        body = error if isinstance(error, dict) else {"message": str(error)}
        self.code = body.get("code")
        self.message = str(body.get("message") or "")
        self.data = str(body.get("data") or "")
        super().__init__(f"{method} refused: {self.code} {self.message} {self.data}".strip())


class CancelOnDisconnect:
    """One armed connection per account, kept by a background task once ``arm`` is called."""

    def __init__(self, stream: ParadexStream, *, rng: random.Random | None = None) -> None:
        self.stream = stream
        self._rng = rng or random.Random()
        self._armed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rpc: Rpc | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._watchers: set[asyncio.Queue[bool]] = set()
        self.arms = 0

    @property
    def armed(self) -> bool:
        return self._armed.is_set()

    def start(self) -> None:
        """Keep the switch armed from now on (in the background)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._keep(), name="paradex-dead-man")

    async def arm(self, *, timeout_s: float) -> None:
        """Make sure the switch is armed; ``Unavailable`` when it could not be within ``timeout_s``."""
        self.start()
        try:
            await asyncio.wait_for(self._armed.wait(), timeout=timeout_s)
        except TimeoutError:
            raise Unavailable(f"paradex cancel-on-disconnect not armed within {timeout_s:g} s") from None

    @contextlib.contextmanager
    def watch(self) -> Iterator[asyncio.Queue[bool]]:
        """A queue of every change of ``armed`` (True: armed, False: down) while the block runs."""
        changes: asyncio.Queue[bool] = asyncio.Queue()
        self._watchers.add(changes)
        try:
            yield changes
        finally:
            self._watchers.discard(changes)

    async def request(self, method: str, params: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """The ``result`` of one call on the armed connection.

        ``SessionDown`` when not armed (nothing sent), ``NoAnswer`` when sent and
        unanswered within ``timeout_s`` or cut off by a drop, ``RpcRefused`` on an error answer.
        """
        rpc = self._rpc
        if rpc is None or not self.armed:
            raise SessionDown(f"paradex order session down: {method} not sent")
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        # Waiting before the frame leaves: the answer may be read while ``send`` still runs.
        request_id = rpc.new_id()
        self._pending[request_id] = answer
        try:
            await rpc.send(method, params, request_id=request_id)
        except (websockets.WebSocketException, OSError) as exc:
            self._pending.pop(request_id, None)
            # A send that raised may still have left (part of) the frame: the outcome is unknown.
            raise NoAnswer(f"paradex {method}: the connection failed while sending ({exc})") from exc
        try:
            message = await asyncio.wait_for(answer, timeout=timeout_s)
        except TimeoutError:
            raise NoAnswer(f"paradex {method}: no answer within {timeout_s:g} s") from None
        finally:
            self._pending.pop(request_id, None)
        if "error" in message:
            raise RpcRefused(method, message["error"])
        result = message.get("result")
        return result if isinstance(result, dict) else {}

    async def disarm(self) -> None:
        """Turn the switch off on the venue, then close the connection (orders stay)."""
        if self.armed:
            with contextlib.suppress(VenueError):
                await self.request(
                    "order.cancel_on_disconnect", {"enabled": False}, timeout_s=self.stream.answer_timeout_s
                )
        await self.close()

    async def close(self) -> None:
        """Stop keeping the connection and close it cleanly: a clean close does not fire the switch."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._set_armed(False)

    def _set_armed(self, armed: bool) -> None:
        if armed == self.armed:
            return
        if armed:
            self._armed.set()
        else:
            self._armed.clear()
        for changes in self._watchers:
            changes.put_nowait(armed)

    async def _keep(self) -> None:
        failures = 0
        while True:
            try:
                async with self.stream.connect() as ws:
                    rpc = Rpc(ws)
                    await self.stream.authenticate(rpc)
                    answer = await rpc.call(
                        "order.cancel_on_disconnect",
                        {"enabled": True},
                        timeout_s=self.stream.answer_timeout_s,
                    )
                    if "error" in answer:
                        raise StreamError(f"cancel_on_disconnect refused: {answer['error']}")
                    self._rpc = rpc
                    self.arms += 1
                    failures = 0
                    log.info("paradex cancel-on-disconnect armed")
                    self._set_armed(True)
                    await self._read(rpc)
            except (websockets.WebSocketException, OSError, TimeoutError, StreamError, VenueError) as exc:
                log.warning("paradex cancel-on-disconnect connection lost (%s); re-arming", exc)
            finally:
                self._rpc = None
                self._set_armed(False)
                for waiting in self._pending.values():
                    if not waiting.done():
                        waiting.set_exception(NoAnswer("paradex order session lost before the answer"))
                self._pending.clear()
            await asyncio.sleep(
                backoff_s(
                    failures,
                    base_s=self.stream.backoff_base_s,
                    cap_s=self.stream.backoff_cap_s,
                    rng=self._rng,
                )
            )
            failures += 1

    async def _read(self, rpc: Rpc) -> None:
        """Hand every answer to its request until the connection ends (websockets pings find a dead one)."""
        while True:
            message = await rpc.receive(timeout_s=None)
            if not message:
                continue
            request_id = message.get("id")
            waiting = self._pending.get(request_id) if isinstance(request_id, int) else None
            if waiting is not None and not waiting.done():
                waiting.set_result(message)
            elif "error" in message:
                log_once(log, f"paradex.session.error.{message['error']}", f"paradex session: {message}")
