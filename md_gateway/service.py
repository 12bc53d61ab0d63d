"""The market-data gateway process: the venue's public stream onto the ``md`` PUB socket.

Publishes ``md.bbo.<SYM>``, ``md.book.<SYM>``, ``md.trade.<SYM>``,
``md.mark.<SYM>`` with the exchange's event time as the envelope ``ts``, and
``md.status`` on every change and every second.  A live but quiet book is
published again every ``REPUBLISH_S`` with its original event time, so a
subscriber that joins late (a restarted strategy) has prices at once.  The
connector reconnects and re-seeds the book by itself; while the stream is
silent past ``md_stale`` the gateway serves REST snapshots of depth and mark
instead (``feed.FeedMonitor`` decides when).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import ClassVar

from md_gateway import metrics as md_metrics
from md_gateway.feed import FeedMonitor
from services.config import Config
from services.service import Service
from services.wire import Bbo, Book, FeedState, MdStatus, Message
from venues.base import Venue, VenueError, VenueEvent
from venues.common.book import LocalBook
from venues.factory import open_venue

log = logging.getLogger(__name__)

BOOK_LEVELS = 10  # levels per side in md.book, as the connectors' streams publish
REPUBLISH_S = 1.0
TOPICS = {"bbo": "md.bbo.", "book": "md.book.", "trade": "md.trade.", "mark": "md.mark."}


def topic_of(msg: Message) -> str | None:
    """The bus topic of a market-data message (None for anything else)."""
    prefix = TOPICS.get(msg.TYPE)
    symbol = getattr(msg, "symbol", None)
    return None if prefix is None or symbol is None else prefix + symbol


async def rest_snapshot(venue: Venue, symbol: str) -> list[VenueEvent]:
    """Book, best bid/offer and mark over REST (the fallback while the stream is silent)."""
    depth = await venue.depth(symbol)
    local = LocalBook(symbol, levels=BOOK_LEVELS)
    local.seed(bids=depth.bids, asks=depth.asks, last_update_id=depth.last_update_id)
    book = local.top()
    book_ts = depth.ts_ns or time.time_ns()
    events = [VenueEvent(book_ts, book)]
    bbo = bbo_of(book)
    if bbo is not None:
        events.append(VenueEvent(book_ts, bbo))
    events.append(VenueEvent(time.time_ns(), await venue.mark(symbol)))
    return events


def bbo_of(book: Book) -> Bbo | None:
    """The best bid and offer of a book (None while a side is empty)."""
    if not book.bids or not book.asks:
        return None
    (bid, bid_qty), (ask, ask_qty) = book.bids[0], book.asks[0]
    return Bbo(
        symbol=book.symbol, bid=bid, bid_qty=bid_qty, ask=ask, ask_qty=ask_qty, update_id=book.update_id
    )


class MdGateway(Service):
    process: ClassVar[str] = "md_gateway"
    endpoint: ClassVar[str] = "md"
    tick_interval_s: ClassVar[float] = 0.1
    restart_delay_s: ClassVar[float] = 1.0

    def __init__(self, cfg: Config, *, venue: Venue | None = None) -> None:
        super().__init__(cfg, metrics_port=cfg.md_metrics_port)
        self.symbol = cfg.symbol
        self._venue = venue
        self.monitor = FeedMonitor(cfg.symbol, now_s=time.monotonic(), stale_after_s=cfg.md_stale)
        self._poll: asyncio.Task[None] | None = None
        self._books: dict[str, VenueEvent] = {}  # topic -> the newest Bbo or Book published
        self._books_published_s = 0.0

    async def main(self) -> None:
        venue = self._venue or open_venue(self.cfg, role="public")
        self._venue = venue
        log.info("md_gateway streaming %s from %s", self.symbol, venue.name)
        self._publish_status(self.monitor.status)
        ticker = asyncio.create_task(self._tick(venue), name="md-tick")
        try:
            await self._stream(venue)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def shutdown(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        if self._venue is not None:
            await self._venue.close()

    async def _stream(self, venue: Venue) -> None:
        while True:
            try:
                async for event in venue.public_stream(self.symbol):
                    self._on_stream(event)
            except (VenueError, OSError) as exc:
                # The connector heals drops itself; reaching here means it gave up on a call.
                reason = f"stream failed: {type(exc).__name__}: {exc}"
            else:
                reason = "stream ended"
            log.error("md_gateway %s; re-opening in %.1f s", reason, self.restart_delay_s)
            self._on_stream(VenueEvent(time.time_ns(), MdStatus(state=FeedState.RECONNECTING, reason=reason)))
            await asyncio.sleep(self.restart_delay_s)

    def _on_stream(self, event: VenueEvent) -> None:
        msg = event.msg
        changed = self.monitor.on_stream(msg, now_s=time.monotonic())
        if changed is not None:
            if changed.state is FeedState.RECONNECTING:
                md_metrics.WS_RECONNECTS.inc()
            log.log(
                logging.INFO if changed.state is FeedState.LIVE else logging.WARNING,
                "market data %s: %s",
                changed.state.value,
                changed.reason,
            )
            self._publish_status(changed)
        if not isinstance(msg, MdStatus):
            self._publish_data(event)

    def _publish_data(self, event: VenueEvent) -> None:
        topic = topic_of(event.msg)
        if topic is None:
            return
        self.pub.publish(topic, event.msg, ts_ns=event.ts_ns)
        if isinstance(event.msg, Bbo | Book):
            self._books[topic] = event
            self._books_published_s = time.monotonic()
        md_metrics.MD_UPDATES.labels(event.msg.TYPE).inc()
        md_metrics.MD_LAST_UPDATE.set(event.ts_ns / 1e9)
        md_metrics.MD_FEED_LATENCY.observe(max(0.0, (time.time_ns() - event.ts_ns) / 1e9))

    def _publish_status(self, status: MdStatus) -> None:
        self.pub.publish("md.status", status)
        for state in FeedState:
            md_metrics.MD_STATE.labels(state.value).set(1 if state is status.state else 0)

    async def _tick(self, venue: Venue) -> None:
        while True:
            tick = self.monitor.tick(now_s=time.monotonic())
            if tick.status is not None:
                if tick.changed:
                    log.warning("market data %s: %s", tick.status.state.value, tick.status.reason)
                self._publish_status(tick.status)
            self._republish_quiet_book()
            if tick.poll and (self._poll is None or self._poll.done()):
                self._poll = asyncio.create_task(self._rest_poll(venue), name="md-rest-poll")
            await asyncio.sleep(self.tick_interval_s)

    def _republish_quiet_book(self) -> None:
        """While the feed is live, the newest book again once it has been quiet for ``REPUBLISH_S``."""
        now = time.monotonic()
        if self.monitor.state is not FeedState.LIVE or now - self._books_published_s < REPUBLISH_S:
            return
        self._books_published_s = now
        # Oldest first: a subscriber keeps the newer of a Bbo and a Book by their event times.
        for topic, event in sorted(self._books.items(), key=lambda item: item[1].ts_ns):
            self.pub.publish(topic, event.msg, ts_ns=event.ts_ns)

    async def _rest_poll(self, venue: Venue) -> None:
        try:
            events = await rest_snapshot(venue, self.symbol)
        except VenueError as exc:
            md_metrics.MD_REST_POLLS.labels("error").inc()
            log.warning("REST market data snapshot of %s failed: %s", self.symbol, exc)
            return
        md_metrics.MD_REST_POLLS.labels("ok").inc()
        # The stream may have come back while the snapshot was in flight; its data is newer.
        if self.monitor.state is FeedState.LIVE:
            return
        for event in events:
            self._publish_data(event)
