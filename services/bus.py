"""ZeroMQ pub/sub for the bus: publisher, checked subscriber, heartbeat monitor.

Frames are ``[topic, msgpack(envelope)]`` (``services.codec``).  High-water
marks are explicit.  A PUB socket drops silently for a slow subscriber, so
losses show up where they happen: as seq gaps counted by that subscriber.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.asyncio

from services import metrics
from services.codec import Envelope, Message, WireError, decode, encode
from services.endpoints import Endpoints, Security
from services.logs import log_once
from services.wire import Heartbeat

log = logging.getLogger(__name__)

DEFAULT_HWM = 100_000
MARKET_DATA_PREFIXES = ("md.bbo.", "md.book.", "md.mark.")


def new_instance_id() -> str:
    return secrets.token_hex(4)


class Bus:
    """One process's ZeroMQ context, identity and endpoint security; makes the sockets."""

    def __init__(
        self, endpoints: Endpoints, *, process: str, instance: str | None = None, keys_dir: Path | None = None
    ) -> None:
        self.endpoints = endpoints
        self.process = process
        self.instance = instance or new_instance_id()
        self.src = f"{process}:{self.instance}"
        self.ctx = zmq.asyncio.Context()
        self.security = Security(process=process, keys_dir=keys_dir)
        self._closers: list[zmq.Socket] = []

    def socket(self, kind: int) -> zmq.asyncio.Socket:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        self._closers.append(sock)
        return sock

    def publisher(self, endpoint: str, *, sndhwm: int = DEFAULT_HWM) -> Publisher:
        sock = self.socket(zmq.PUB)
        sock.sndhwm = sndhwm
        self.security.bind(self.ctx, sock, self.endpoints.url(endpoint))
        return Publisher(sock, src=self.src)

    def subscriber(
        self,
        endpoints: Iterable[str],
        topics: Iterable[str],
        *,
        rcvhwm: int = DEFAULT_HWM,
        max_age_s: float | None = None,
        conflate_prefixes: tuple[str, ...] = MARKET_DATA_PREFIXES,
    ) -> Subscriber:
        sock = self.socket(zmq.SUB)
        sock.rcvhwm = rcvhwm
        for topic in topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        for name in endpoints:
            self.security.connect(sock, self.endpoints.url(name), endpoint=name)
        return Subscriber(sock, max_age_s=max_age_s, conflate_prefixes=conflate_prefixes)

    def close(self) -> None:
        for sock in self._closers:
            sock.close(linger=0)
        self._closers.clear()
        self.security.close()
        self.ctx.term()


class Publisher:
    """PUB socket stamping each frame with this publisher's ``seq`` and the send time."""

    def __init__(self, sock: zmq.asyncio.Socket, *, src: str) -> None:
        # Publishing never waits, so the synchronous view of the socket is used (no future per send).
        self._sock: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
        self.src = src
        self.seq = 0
        self.dropped = 0

    def publish(self, topic: str, msg: Message, *, ts_ns: int | None = None) -> bool:
        """Queue one message; False (and counted) when it could not be queued."""
        now = time.time_ns()
        self.seq += 1
        frame = encode(msg, seq=self.seq, ts=ts_ns if ts_ns is not None else now, sent=now, src=self.src)
        try:
            self._sock.send_multipart((topic.encode(), frame), flags=zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            metrics.BUS_DROPPED.labels("hwm").inc()
            return False
        metrics.bus_messages("out", msg.TYPE).inc()
        return True


@dataclass(slots=True)
class Received:
    """One checked message: ``gap`` messages from its publisher were missed just before it."""

    topic: str
    env: Envelope
    stale: bool = False
    gap: int = 0

    @property
    def body(self) -> Message:
        return self.env.body


class Subscriber:
    """SUB socket that validates frames, tracks per-publisher ``seq`` and flags old messages."""

    def __init__(
        self, sock: zmq.asyncio.Socket, *, max_age_s: float | None, conflate_prefixes: tuple[str, ...]
    ) -> None:
        self._sock = sock
        self._sync: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
        self.max_age_s = max_age_s
        self.conflate_prefixes = conflate_prefixes
        self._last_seq: dict[str, int] = {}
        self.gaps = 0
        self.malformed = 0
        self.duplicates = 0

    async def recv(self) -> Received:
        """The next valid message (malformed or duplicate frames are counted and skipped)."""
        while True:
            frames = await self._sock.recv_multipart()
            got = self._check(frames)
            if got is not None:
                return got

    async def recv_batch(self, *, max_batch: int = 10_000) -> list[Received]:
        """Wait for one message, then take everything already queued (up to ``max_batch``)."""
        batch = [await self.recv()]
        while len(batch) < max_batch:
            try:
                frames = self._sync.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            got = self._check(frames)
            if got is not None:
                batch.append(got)
        return batch

    async def recv_conflated(self, *, max_batch: int = 10_000) -> list[Received]:
        """Everything waiting, with market data reduced to the newest message per topic.

        Topics under ``conflate_prefixes`` keep only their newest message; every
        other message (fills, orders, state) is kept, in arrival order.  Seq gaps
        are still checked on every message, conflated or not.
        """
        batch = await self.recv_batch(max_batch=max_batch)
        newest = {
            item.topic: i for i, item in enumerate(batch) if item.topic.startswith(self.conflate_prefixes)
        }
        return [
            item
            for i, item in enumerate(batch)
            if not item.topic.startswith(self.conflate_prefixes) or newest[item.topic] == i
        ]

    def reset_sequence(self) -> None:
        """Forget publishers' seq (after a resync the next message of each is taken as a start)."""
        self._last_seq.clear()

    def _check(self, frames: list[bytes]) -> Received | None:
        if len(frames) != 2:
            self._reject(f"{len(frames)} frames", "frame_count")
            return None
        try:
            topic = frames[0].decode()
            env = decode(frames[1])
        except (WireError, UnicodeDecodeError) as exc:
            self._reject(str(exc), "decode")
            return None
        gap = 0
        last = self._last_seq.get(env.src)
        if last is not None:
            if env.seq <= last:
                self.duplicates += 1
                metrics.BUS_DROPPED.labels("duplicate").inc()
                return None
            gap = env.seq - last - 1
            if gap:
                self.gaps += gap
                metrics.BUS_SEQ_GAPS.labels(env.src.partition(":")[0]).inc(gap)
        self._last_seq[env.src] = env.seq
        stale = self.max_age_s is not None and env.age_s() > self.max_age_s
        if stale:
            metrics.BUS_STALE.labels(env.type).inc()
        metrics.bus_messages("in", env.type).inc()
        return Received(topic, env, stale, gap)

    def _reject(self, why: str, kind: str) -> None:
        self.malformed += 1
        metrics.BUS_DROPPED.labels("malformed").inc()
        log_once(log, f"malformed:{kind}", f"dropped a malformed bus frame ({why}); further ones are counted")


class HeartbeatPublisher:
    """Builds ``hb.<process>`` messages with a loop counter (a hung loop stops counting)."""

    def __init__(self, publisher: Publisher, *, process: str, instance: str) -> None:
        self._publisher = publisher
        self._process = process
        self._instance = instance
        self._loops = itertools.count(1)

    def beat(self) -> None:
        self._publisher.publish(
            f"hb.{self._process}",
            Heartbeat(process=self._process, instance=self._instance, loop_count=next(self._loops)),
        )
        metrics.HEARTBEAT_TS.set(time.time())


@dataclass(slots=True)
class PeerBeat:
    instance: str
    loop_count: int
    seen_s: float
    first_seen_s: float


class HeartbeatMonitor:
    """Last heartbeat per peer process, timed by this process's monotonic clock on arrival."""

    def __init__(self) -> None:
        self.peers: dict[str, PeerBeat] = {}

    def observe(self, msg: Message, *, now_s: float) -> None:
        if not isinstance(msg, Heartbeat):
            return
        peer = self.peers.get(msg.process)
        if peer is None or peer.instance != msg.instance:
            self.peers[msg.process] = PeerBeat(msg.instance, msg.loop_count, now_s, now_s)
        elif msg.loop_count > peer.loop_count:
            peer.loop_count = msg.loop_count
            peer.seen_s = now_s

    def age_s(self, process: str, *, now_s: float) -> float | None:
        """Seconds since ``process`` last beat (None: never seen)."""
        peer = self.peers.get(process)
        return None if peer is None else now_s - peer.seen_s

    def steady_s(self, process: str, *, now_s: float) -> float:
        """How long the current instance of ``process`` has been beating."""
        peer = self.peers.get(process)
        return 0.0 if peer is None else now_s - peer.first_seen_s

    def instance(self, process: str) -> str | None:
        peer = self.peers.get(process)
        return None if peer is None else peer.instance

    def ages(self, *, now_s: float) -> dict[str, float]:
        return {name: now_s - peer.seen_s for name, peer in self.peers.items()}
