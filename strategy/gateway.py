"""The strategy's side of the order gateway: requests with timeouts, replies applied to ``ExecState``.

Every reply that carries an order updates the strategy's view at once (the
exec stream confirms it later); a request without an answer means the view
can no longer be trusted, and ``on_lost`` tells the runner to resync.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from decimal import Decimal

from services.logs import log_once
from services.reqrep import RequestClient, RequestTimeout
from services.wire import (
    Cancel,
    CancelAll,
    Message,
    OrderReply,
    OrderUpdate,
    Place,
    RejectReason,
    Side,
    Snapshot,
    SnapshotRequest,
)
from strategy import metrics
from strategy.decide import Batches, OrderIntent
from strategy.exec_state import ClientIds, ExecState, Role, ours
from venues.precision import MarketRules, split_quantity

log = logging.getLogger("strategy")

REQUEST_TIMEOUT_S = 1.5
REQUEST_RETRIES = 1
CANCEL_ALL_SETTLE_S = 0.3


class GatewayClient:
    """Place, cancel, cancel-all and snapshot requests for one symbol."""

    def __init__(
        self,
        client: RequestClient,
        *,
        symbol: str,
        exec_state: ExecState,
        ids: ClientIds,
        on_lost: Callable[[], None],
    ) -> None:
        self._client = client
        self.symbol = symbol
        self.exec = exec_state
        self.ids = ids
        self._on_lost = on_lost

    async def request(self, msg: Message) -> Message | None:
        """The gateway's reply, or None (and a resync) when it did not answer."""
        try:
            return await self._client.request(msg, timeout_s=REQUEST_TIMEOUT_S, retries=REQUEST_RETRIES)
        except RequestTimeout:
            log.warning("order gateway did not answer %s: resyncing", msg.TYPE)
            self.exec.lose_sync()
            self._on_lost()
            return None

    async def cancel(self, order: OrderUpdate) -> bool:
        """True when the order is gone (cancelled now, or already unknown to the venue)."""
        reply = await self.request(Cancel(symbol=self.symbol, order_id=order.order_id))
        if not isinstance(reply, OrderReply):
            return False
        if reply.ok:
            if reply.order is not None:
                self.exec.on_reply(reply.order, now_s=time.monotonic())
            return True
        if reply.reason is RejectReason.UNKNOWN_ORDER:
            self.exec.forget(order)
            return True
        self._refused("cancel", reply)
        return False

    async def place(self, intent: OrderIntent, role: Role) -> OrderUpdate | None:
        """Place ``intent`` under a new client id; the accepted order, or None when refused."""
        client_id = self.ids.next()
        self.exec.assign(client_id, role)
        place = Place(
            client_id=client_id,
            symbol=self.symbol,
            side=intent.side,
            quantity=intent.quantity,
            price=intent.price,
            order_type=intent.order_type,
            post_only=intent.post_only,
            reduce_only=intent.reduce_only,
        )
        reply = await self.request(place)
        if not isinstance(reply, OrderReply):
            return None
        if not reply.ok or reply.order is None:
            self._refused("place", reply)
            return None
        self.exec.on_reply(reply.order, now_s=time.monotonic())
        return reply.order

    async def send(
        self, batches: Batches, *, on_first_place: Callable[[], None]
    ) -> tuple[bool, list[OrderUpdate]]:
        """One requote's requests in ``batches``' order; (every request succeeded, the orders placed).

        The urgent cancels, the early places and the other cancels go out
        together; the late places only once every cancel went through.
        ``on_first_place`` is called as the first place goes out.
        """
        urgent, early = len(batches.urgent), len(batches.early)
        if early:
            on_first_place()
        results: list[bool | OrderUpdate | None] = list(
            await asyncio.gather(
                *(self.cancel(order) for order in batches.urgent),
                *(self.place(intent, _role(intent)) for intent in batches.early),
                *(self.cancel(order) for order in batches.cancels),
            )
        )
        placed = [order for order in results[urgent : urgent + early] if isinstance(order, OrderUpdate)]
        if not all(results[:urgent]) or not all(results[urgent + early :]):
            return False, placed
        ok = len(placed) == early
        if batches.late:
            if not early:
                on_first_place()
            late = await asyncio.gather(*(self.place(intent, _role(intent)) for intent in batches.late))
            placed += [order for order in late if order is not None]
            ok = ok and all(order is not None for order in late)
        return ok, placed

    async def cancel_all(self) -> bool:
        """Cancel every order of ours (the gateway leaves foreign ones); True once it confirmed."""
        reply = await self.request(CancelAll(symbol=self.symbol))
        return getattr(reply, "ok", False) is True

    async def snapshot(self) -> Snapshot | None:
        reply = await self.request(SnapshotRequest(symbol=self.symbol))
        return reply if isinstance(reply, Snapshot) else None

    async def cancel_all_verified(self, *, attempts: int = 3) -> Snapshot | None:
        """Cancel-all until a snapshot shows none of our orders; the last snapshot (None: no answer)."""
        snap: Snapshot | None = None
        for attempt in range(1, attempts + 1):
            # A place still in flight when the loop stopped can land after the first cancel-all.
            if not await self.cancel_all():
                log.error("cancel-all was not confirmed by the order gateway (attempt %d)", attempt)
            snap = await self.snapshot()
            if snap is not None and not any(ours(order) for order in snap.orders):
                log.info("every order cancelled")
                return snap
            await asyncio.sleep(CANCEL_ALL_SETTLE_S)
        log.error("orders may still be open on %s after %d cancel-all attempts", self.symbol, attempts)
        return snap

    async def close_position(self, quantity: Decimal, rules: MarketRules) -> bool:
        """Close a signed position with reduce-only market orders, each within the market's largest
        order (``precision.split_quantity``); True when the gateway accepted them all."""
        if quantity == 0:
            return True
        log.info("closing the position of %s at market (--close-on-exit)", quantity)
        for part in split_quantity(abs(quantity), rules, market=True):
            intent = OrderIntent(
                side=Side.SELL if quantity > 0 else Side.BUY,
                quantity=part,
                price=None,
                post_only=False,
                reduce_only=True,
            )
            if await self.place(intent, Role.REDUCE) is None:
                log.error("could not close the position of %s", quantity)
                return False
        return True

    def close(self) -> None:
        self._client.close()

    def _refused(self, what: str, reply: OrderReply) -> None:
        reason = reply.reason or RejectReason.OTHER
        metrics.ORDER_REFUSALS.labels(reason.value).inc()
        text = f"{what} refused: {reason.value} {reply.message}".rstrip()
        if not log_once(log, f"refused:{what}:{reason.value}", text + " (further ones are counted)"):
            log.debug(text)


def _role(intent: OrderIntent) -> Role:
    return Role.REDUCE if intent.reduce_only else Role.QUOTE
