"""What the private stream has told about our orders, so REST calls need not poll for it.

Paradex queues a place (``201 NEW``) and a cancel (``204``); the outcome comes
on the ``orders`` channel.  The venue's private stream feeds ``observe``; a
cancel waits here for the order to close instead of polling ``GET /orders``,
and confirms with one GET only when the stream stays silent (or is not
running at all, as in the guardian).  Paradex allows 600 GETs a minute per
account: a GET after every place and cancel would spend it within a minute of
quoting.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable

from services.wire import ExStatus, FeedState, Message, OrderUpdate

# Orders remembered: far more than are in flight at once (a stream update may precede the REST answer).
MEMORY = 1_000


class OrderWatch:
    """The newest stream state of recent orders, by venue id and by client id; ``live`` while subscribed."""

    def __init__(self, *, memory: int = MEMORY) -> None:
        self.memory = memory
        self.live = False
        self._by_id: OrderedDict[str, OrderUpdate] = OrderedDict()
        self._id_of_client: OrderedDict[int, str] = OrderedDict()
        self._changed = asyncio.Event()

    def observe(self, msg: Message) -> None:
        """Take one private-stream message (order updates and the stream's own state; the rest is ignored)."""
        if isinstance(msg, ExStatus):
            self.live = msg.state is FeedState.LIVE
        elif isinstance(msg, OrderUpdate):
            self._by_id[msg.order_id] = msg
            self._by_id.move_to_end(msg.order_id)
            if msg.client_id is not None:
                self._id_of_client[msg.client_id] = msg.order_id
                self._id_of_client.move_to_end(msg.client_id)
            for table in (self._by_id, self._id_of_client):
                while len(table) > self.memory:
                    table.popitem(last=False)
            # Wake every waiter; each re-checks its own order.
            self._changed.set()
            self._changed = asyncio.Event()

    def latest(self, *, order_id: str | None = None, client_id: int | None = None) -> OrderUpdate | None:
        """The newest update the stream gave for the order, or None."""
        if order_id is None and client_id is not None:
            order_id = self._id_of_client.get(client_id)
        return self._by_id.get(order_id) if order_id is not None else None

    async def wait(
        self,
        *,
        order_id: str | None,
        client_id: int | None,
        done: Callable[[OrderUpdate], bool],
        timeout_s: float,
    ) -> OrderUpdate | None:
        """The order's update once ``done`` holds for it; None when the stream is not live or stays silent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.live:
            found = self.latest(order_id=order_id, client_id=client_id)
            if found is not None and done(found):
                return found
            left_s = deadline - loop.time()
            if left_s <= 0:
                return None
            try:
                async with asyncio.timeout(left_s):
                    await self._changed.wait()
            except TimeoutError:
                return None
        return None
