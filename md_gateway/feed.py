"""The market-data feed's health, decided from what the stream delivered and when (pure, no I/O).

``FeedMonitor`` turns stream events and the passing of time into the
``md.status`` the gateway publishes and into when to poll REST:

- ``LIVE``: the stream is connected and delivered book data within ``stale_after_s``.
- ``STALE``: the stream is connected but its book silent for longer than ``stale_after_s``.
- ``RECONNECTING``: the stream dropped; it is being re-opened.

Whatever the state, once the stream has been silent for ``stale_after_s`` the
gateway polls REST depth and mark every ``poll_interval_s`` until the stream
delivers again.  The status is also repeated every ``status_interval_s`` so a
subscriber that joins late learns it.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.wire import FeedState, MdStatus, Message

# Only the book keeps the feed fresh: marks (about every second) and trades go on over a quiet
# book, and the strategy judges freshness by the book, so a quiet book must be polled over REST.
DATA_TYPES = ("bbo", "book")


@dataclass(frozen=True, slots=True)
class Tick:
    """What the gateway should do now: publish a new or repeated status, and whether to poll REST."""

    status: MdStatus | None
    changed: bool
    poll: bool


class FeedMonitor:
    """The feed state of one symbol; every method takes ``now_s`` (a monotonic clock)."""

    def __init__(
        self,
        symbol: str,
        *,
        now_s: float,
        stale_after_s: float = 5.0,
        poll_interval_s: float = 1.0,
        status_interval_s: float = 1.0,
    ) -> None:
        if stale_after_s <= 0 or poll_interval_s <= 0 or status_interval_s <= 0:
            raise ValueError("intervals must be positive")
        self.symbol = symbol
        self.stale_after_s = stale_after_s
        self.poll_interval_s = poll_interval_s
        self.status_interval_s = status_interval_s
        self.state = FeedState.RECONNECTING
        self.reason = "connecting"
        # Silence is counted from start, so a stream that never connects is polled too.
        self.last_stream_s = now_s
        self.last_poll_s: float | None = None
        self.last_status_s: float | None = None
        self.reconnects = 0

    @property
    def status(self) -> MdStatus:
        return MdStatus(state=self.state, symbol=self.symbol, reason=self.reason)

    def on_stream(self, msg: Message, *, now_s: float) -> MdStatus | None:
        """Take one stream event; returns the new status when the state changed."""
        if isinstance(msg, MdStatus):
            if msg.state is FeedState.LIVE:
                self.last_stream_s = now_s
                return self._set(FeedState.LIVE, "stream connected", now_s=now_s)
            if msg.state is FeedState.RECONNECTING and self.state is not FeedState.RECONNECTING:
                self.reconnects += 1
            return self._set(msg.state, msg.reason or "stream dropped", now_s=now_s)
        if msg.TYPE not in DATA_TYPES:
            return None
        self.last_stream_s = now_s
        if self.state is not FeedState.LIVE:
            return self._set(FeedState.LIVE, "stream delivering", now_s=now_s)
        return None

    def tick(self, *, now_s: float) -> Tick:
        """The status to publish (changed, or repeated when due) and whether a REST poll is due."""
        silent_s = now_s - self.last_stream_s
        changed: MdStatus | None = None
        if self.state is FeedState.LIVE and silent_s > self.stale_after_s:
            changed = self._set(FeedState.STALE, f"no market data for {silent_s:.1f} s", now_s=now_s)
        poll = silent_s > self.stale_after_s and (
            self.last_poll_s is None or now_s - self.last_poll_s >= self.poll_interval_s
        )
        if poll:
            self.last_poll_s = now_s
        if changed is not None:
            return Tick(status=changed, changed=True, poll=poll)
        if self.last_status_s is None or now_s - self.last_status_s >= self.status_interval_s:
            self.last_status_s = now_s
            return Tick(status=self.status, changed=False, poll=poll)
        return Tick(status=None, changed=False, poll=poll)

    def _set(self, state: FeedState, reason: str, *, now_s: float) -> MdStatus | None:
        if state is self.state:
            return None
        self.state = state
        self.reason = reason
        self.last_status_s = now_s
        return self.status
