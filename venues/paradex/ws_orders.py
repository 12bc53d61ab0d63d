"""Placing and cancelling over the dead-man switch's WebSocket, so the switch covers the orders.

Paradex's cancel-on-disconnect covers only orders placed over the connection
that armed it, so while it is armed the connector places with ``order.create``
(params: the signed ``POST /orders`` body; result ``{"order": ...}``) and
cancels with ``order.cancel`` (``{"id"}`` or ``{"client_id", "market"}``;
result ``{"order_id", "status": "QUEUED_FOR_CANCELLATION"}``) on it, and
follows the order the way REST does.  While it is down, ``SessionDown`` says
nothing was sent and the venue uses REST.  A create with no answer (the
connection dropped, or the wait ran out) is an unknown outcome, resolved by
client id like a REST timeout.  An error answer is mapped like a REST one (its
``message`` or ``data`` names the venue's error).
"""

from __future__ import annotations

import logging
from typing import Any

from services.wire import OrderUpdate, Place
from venues.base import AuthError, Unavailable, VenueError
from venues.common.parse import MalformedResponse
from venues.paradex.deadman import CancelOnDisconnect, NoAnswer, RpcRefused
from venues.paradex.errors import error_for
from venues.paradex.parse import order_from_venue
from venues.paradex.rest import ParadexRest

log = logging.getLogger(__name__)
INTERNAL_ERROR = -32603
AUTH_CODES = frozenset({40110, 40111, 40112})
QUEUED = "QUEUED_FOR_CANCELLATION"


def refusal_error(refused: RpcRefused) -> VenueError:
    """The typed error of a JSON-RPC refusal of an order method (pure)."""
    if refused.code in AUTH_CODES:
        return AuthError(str(refused), venue_message=refused.message)
    if refused.code == INTERNAL_ERROR:
        return Unavailable(str(refused), venue_message=refused.message)
    name = refused.message if refused.message.isupper() else ""
    return error_for(400, name, refused.data or refused.message)


class WsOrderEntry:
    """``place_order`` and ``cancel_order`` over the armed switch's connection."""

    def __init__(self, session: CancelOnDisconnect, rest: ParadexRest, *, answer_timeout_s: float) -> None:
        self.session = session
        self.rest = rest
        self.answer_timeout_s = answer_timeout_s

    async def place_order(self, order: Place) -> OrderUpdate:
        """As ``ParadexRest.place_order``, over the session; ``SessionDown`` when it is not armed."""
        signed_body = await self.rest.signed_order(order)
        try:
            result = await self.session.request(
                "order.create", signed_body(), timeout_s=self.answer_timeout_s
            )
        except NoAnswer as exc:
            return await self.rest._resolve(order, cause=exc)
        except RpcRefused as refused:
            error = refusal_error(refused)
            if refused.code == INTERNAL_ERROR:
                return await self.rest._resolve(order, cause=error)
            raise error from None
        raw = result.get("order")
        try:
            update = order_from_venue(raw)
        except MalformedResponse as exc:
            garbled = Unavailable(f"garbled answer to order.create: {exc}")
            return await self.rest._resolve(order, cause=garbled)
        return await self.rest._follow(update, str(raw.get("status")) if isinstance(raw, dict) else "NEW")

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        """As ``ParadexRest.cancel_order``, over the session; ``SessionDown`` when it is not armed."""
        params: dict[str, Any] = (
            {"id": order_id} if order_id is not None else {"client_id": str(client_id), "market": symbol}
        )
        try:
            result = await self.session.request("order.cancel", params, timeout_s=self.answer_timeout_s)
        except RpcRefused as refused:
            raise refusal_error(refused) from None
        if result.get("status") != QUEUED:
            raise Unavailable(f"order.cancel of {order_id or client_id} answered {result!r}")
        return await self.rest._cancelled(symbol, order_id=order_id, client_id=client_id)
