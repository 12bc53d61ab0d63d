"""Request/reply on the bus: DEALER client with correlation ids, ROUTER server with a reply cache.

Frames are ``[corr_id, msgpack(envelope)]`` from the client and the same back
from the server (the ROUTER adds and strips the peer identity).  Every attempt
has its own correlation id, so a late reply to an abandoned attempt is dropped,
never taken for the answer to a newer one.  The server caches replies by the
request's idempotency key (``wire.idempotency_key``): a retried request gets the
first answer and its handler runs once.  Clients retry within seconds, so replies
are kept 60 s by default; idempotency over longer spans (a restarted client) is
the order gateway's journal's job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import zmq
import zmq.asyncio

from services import metrics
from services.bus import Bus
from services.codec import Envelope, Message, WireError, decode, encode
from services.logs import log_once
from services.wire import CancelAllReply, ErrorReply, OrderReply, RejectReason, idempotency_key

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[Message]]


class RequestTimeout(TimeoutError):
    """No reply after every attempt."""


class RequestClient:
    """DEALER socket for one server endpoint; safe to use from many tasks at once."""

    def __init__(self, bus: Bus, endpoint: str) -> None:
        self._sock = bus.socket(zmq.DEALER)
        self._sock.sndhwm = 10_000
        self._sock.rcvhwm = 10_000
        bus.security.connect(self._sock, bus.endpoints.url(endpoint), endpoint=endpoint)
        self._src = bus.src
        self._seq = 0
        self._pending: dict[bytes, asyncio.Future[Message]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.late_replies = 0

    async def request(self, msg: Message, *, timeout_s: float = 1.0, retries: int = 2) -> Message:
        """Send ``msg`` and return the reply; each of ``1 + retries`` attempts waits ``timeout_s``."""
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="reqrep-reader")
        for attempt in range(retries + 1):
            corr = os.urandom(8)
            future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
            self._pending[corr] = future
            self._seq += 1
            now = time.time_ns()
            frame = encode(msg, seq=self._seq, ts=now, sent=now, src=self._src)
            try:
                # The send is inside the timeout too: a DEALER with no live connection blocks on send.
                # (asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.)
                async with asyncio.timeout(timeout_s):
                    return await self._attempt(corr, frame, future, msg.TYPE)
            except TimeoutError:
                log.debug("no reply to %s (attempt %d of %d)", msg.TYPE, attempt + 1, retries + 1)
            finally:
                self._pending.pop(corr, None)
        raise RequestTimeout(f"no reply to {msg.TYPE} after {retries + 1} attempts of {timeout_s} s")

    async def _attempt(
        self, corr: bytes, frame: bytes, future: asyncio.Future[Message], kind: str
    ) -> Message:
        await self._sock.send_multipart((corr, frame))
        metrics.bus_messages("out", kind).inc()
        return await future

    async def _read(self) -> None:
        while True:
            frames = await self._sock.recv_multipart()
            if len(frames) != 2:
                metrics.BUS_DROPPED.labels("malformed").inc()
                continue
            future = self._pending.get(frames[0])
            if future is None or future.done():
                self.late_replies += 1
                metrics.BUS_DROPPED.labels("late_reply").inc()
                continue
            try:
                env = decode(frames[1])
            except WireError as exc:
                metrics.BUS_DROPPED.labels("malformed").inc()
                log_once(log, "malformed_reply", f"dropped a malformed reply: {exc}")
                continue
            metrics.bus_messages("in", env.type).inc()
            future.set_result(env.body)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()


_TRANSIENT_REASONS = frozenset({RejectReason.RATE_LIMITED, RejectReason.UNAVAILABLE})


def is_transient_refusal(reply: Message) -> bool:
    """True for a refusal that may not hold on a retry (rate limited, venue unavailable): never cached."""
    if isinstance(reply, OrderReply | CancelAllReply):
        return not reply.ok and reply.reason in _TRANSIENT_REASONS
    return isinstance(reply, ErrorReply) and reply.reason in _TRANSIENT_REASONS


class RequestServer:
    """ROUTER socket dispatching each request to ``handler`` in its own task."""

    def __init__(
        self,
        bus: Bus,
        endpoint: str,
        handler: Handler,
        *,
        key_fn: Callable[[Message], str | None] = idempotency_key,
        cache_ttl_s: float = 60.0,
        cache_max: int = 10_000,
    ) -> None:
        self._sock = bus.socket(zmq.ROUTER)
        self._sock.router_mandatory = True
        self._sock.sndhwm = 10_000
        self._sock.rcvhwm = 10_000
        bus.security.bind(bus.ctx, self._sock, bus.endpoints.url(endpoint))
        self._src = bus.src
        self._seq = 0
        self._handler = handler
        self._key_fn = key_fn
        self._cache_ttl_s = cache_ttl_s
        self._cache_max = cache_max
        self._cache: OrderedDict[str, tuple[float, asyncio.Future[Message]]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self.received = 0
        self.handled = 0
        self.malformed = 0

    async def serve(self) -> None:
        """Serve until cancelled."""
        try:
            while True:
                frames = await self._sock.recv_multipart()
                self._dispatch(frames)
                # Let the handler run to its first wait (an order's request on the wire) before
                # the next queued request is read: requests reach the venue in the order sent.
                await asyncio.sleep(0)
        finally:
            for task in self._tasks:
                task.cancel()

    def _dispatch(self, frames: list[bytes]) -> None:
        if len(frames) != 3:
            self.malformed += 1
            metrics.BUS_DROPPED.labels("malformed").inc()
            log_once(log, "malformed_request_frames", f"dropped a request of {len(frames)} frames")
            return
        peer, corr, payload = frames
        try:
            env = decode(payload)
        except WireError as exc:
            self.malformed += 1
            metrics.BUS_DROPPED.labels("malformed").inc()
            log_once(log, "malformed_request", f"malformed request refused: {exc}")
            self._send(peer, corr, ErrorReply(reason=RejectReason.MALFORMED, message=str(exc)))
            return
        self.received += 1
        metrics.bus_messages("in", env.type).inc()
        key = self._key_fn(env.body)
        now = time.monotonic()
        self._expire(now)
        cached = self._cache.get(key) if key is not None else None
        if cached is not None:
            future = cached[1]
        else:
            future = asyncio.ensure_future(self._run(env))
            if key is not None:
                self._cache[key] = (now + self._cache_ttl_s, future)
                while len(self._cache) > self._cache_max:
                    self._cache.popitem(last=False)
        task = asyncio.create_task(self._reply_when_done(peer, corr, future, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, env: Envelope) -> Message:
        self.handled += 1
        return await self._handler(env)

    async def _reply_when_done(
        self, peer: bytes, corr: bytes, future: asyncio.Future[Message], key: str | None
    ) -> None:
        try:
            reply = await asyncio.shield(future)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("request handler failed")
            # A failed handler is not an answer: let a retry run it again.
            self._uncache(key, future)
            reply = ErrorReply(reason=RejectReason.OTHER, message=f"handler failed: {exc}")
        else:
            if is_transient_refusal(reply):
                # Rate limited or unavailable now is not the answer for good: a retry runs again.
                self._uncache(key, future)
        self._send(peer, corr, reply)

    def _uncache(self, key: str | None, future: asyncio.Future[Message]) -> None:
        """Forget ``future`` as the cached answer to ``key`` (a newer request's entry stays)."""
        if key is not None and key in self._cache and self._cache[key][1] is future:
            del self._cache[key]

    def _send(self, peer: bytes, corr: bytes, reply: Message) -> None:
        self._seq += 1
        now = time.time_ns()
        frame = encode(reply, seq=self._seq, ts=now, sent=now, src=self._src)
        # Through the asyncio socket, never a synchronous shadow of it: a send made behind its back
        # can swallow the edge-triggered wake-up of the pending recv, and the server then reads
        # nothing until another peer connects.  A NOBLOCK send here completes at once.
        sent = asyncio.ensure_future(self._sock.send_multipart((peer, corr, frame), flags=zmq.NOBLOCK))
        exc = sent.exception() if sent.done() else None
        if isinstance(exc, zmq.ZMQError):
            # EHOSTUNREACH (ROUTER_MANDATORY): the client is gone; EAGAIN: its queue is full.
            metrics.BUS_DROPPED.labels("unroutable").inc()
            log_once(log, "unroutable_reply", f"could not deliver a reply: {exc}")
            return
        if exc is not None:
            raise exc
        metrics.bus_messages("out", reply.TYPE).inc()

    def _expire(self, now: float) -> None:
        while self._cache:
            key, (expires, future) = next(iter(self._cache.items()))
            if expires > now or not future.done():
                break
            del self._cache[key]
