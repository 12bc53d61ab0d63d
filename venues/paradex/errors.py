"""Paradex error answers and order cancel reasons as the connector's typed errors (pure, no I/O).

Paradex answers ``{error, message}``.  A refused order is either a 4xx at once
(malformed, off-tick, a bad signature) or, since placement is asynchronous, an
order that goes ``CLOSED`` with a ``cancel_reason`` right after ``NEW``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from services.wire import OrderStatus, OrderUpdate, RejectReason
from venues.base import AuthError, RateLimited, Rejected, Unavailable, VenueError

_AUTH_ERRORS = {
    "UNAUTHORIZED_ERROR",
    "INVALID_TOKEN",
    "STARKNET_SIGNATURE_VERIFICATION_FAILED",
    "INVALID_ORDER_SIGNATURE",
    "INVALID_SIGNATURE",
    "INVALID_TIMESTAMP",
}
# ORDER_IS_NOT_OPEN: a cancel of an order already filled or cancelled; there is nothing open to cancel.
_NOT_FOUND = {
    "ORDER_ID_NOT_FOUND",
    "CLIENT_ORDER_ID_NOT_FOUND",
    "NOT_FOUND",
    "ORDER_IS_CLOSED",
    "ORDER_IS_NOT_OPEN",
}
# Cancel reasons that mean the venue refused the order (it never traded as asked).
CANCEL_REJECTS = {
    "POST_ONLY_WOULD_CROSS": RejectReason.POST_ONLY_WOULD_TAKE,
    "NOT_ENOUGH_MARGIN": RejectReason.INSUFFICIENT_MARGIN,
    "REDUCE_ONLY_WOULD_INCREASE": RejectReason.REDUCE_ONLY,
    "ORDER_EXCEEDS_POSITION_LIMIT": RejectReason.POSITION_LIMIT,
    "ORDER_TYPE_INVALID": RejectReason.MALFORMED,
    "PRICE_NOT_AVAILABLE": RejectReason.UNAVAILABLE,
    "EXCEEDS_MAX_SLIPPAGE": RejectReason.BAD_PRICE,
    "TOO_MANY_REQUESTS": RejectReason.RATE_LIMITED,
    "IN_LIQUIDATION": RejectReason.INSUFFICIENT_MARGIN,
    "UNEXPECTED_FAILURE": RejectReason.UNAVAILABLE,
}
USER_CANCELED = "USER_CANCELED"


def error_body(text: str) -> tuple[str, str]:
    """``(error, message)`` of an error answer; a non-JSON body becomes the message."""
    try:
        raw = json.loads(text)
    except ValueError:
        return "", text.strip()[:300]
    if not isinstance(raw, Mapping):
        return "", text.strip()[:300]
    return str(raw.get("error") or raw.get("code") or ""), str(raw.get("message") or "")


def is_clock_error(error: VenueError) -> bool:
    """True for the refusal a drifted clock causes (fixed by re-syncing, then one retry)."""
    return isinstance(error, AuthError) and "INVALID_TIMESTAMP" in str(error)


def reject_reason(error: str, message: str) -> RejectReason:
    """The normalized reason behind a 4xx refusal."""
    text = message.lower()
    if error in _NOT_FOUND or "not found" in text:
        return RejectReason.UNKNOWN_ORDER
    if "notional" in text:
        return RejectReason.MIN_NOTIONAL
    if "margin" in text:
        return RejectReason.INSUFFICIENT_MARGIN
    if "price" in text or "tick" in text:
        return RejectReason.BAD_PRICE
    if "size" in text or "increment" in text:
        return RejectReason.BAD_QUANTITY
    if error == "VALIDATION_ERROR":
        return RejectReason.MALFORMED
    return RejectReason.OTHER


def error_for(status: int, error: str, message: str, *, retry_after_s: float | None = None) -> VenueError:
    """The typed error for an HTTP error answer (``status`` >= 400)."""
    label = f"HTTP {status} {error}".strip() + (f": {message}" if message else "")
    if status == 429 or "RATE_LIMIT" in error:
        return RateLimited(label, retry_after_s=retry_after_s or 0.0, venue_message=message)
    if status >= 500:
        return Unavailable(label, venue_message=message)
    if status in (401, 403) or error in _AUTH_ERRORS:
        return AuthError(label, venue_message=message)
    return Rejected(label, reason=reject_reason(error, message), venue_message=message)


def order_outcome(update: OrderUpdate) -> OrderUpdate:
    """The order as found, or ``Rejected`` when the venue refused it (closed with a refusing reason)."""
    reason = cancel_rejection(update.reason)
    if update.status is OrderStatus.REJECTED and reason is not None:
        raise Rejected(f"order {update.client_id} refused by Paradex: {update.reason}", reason=reason)
    return update


def cancel_rejection(cancel_reason: str) -> RejectReason | None:
    """The rejection a ``cancel_reason`` stands for, or None when the order was not refused."""
    return CANCEL_REJECTS.get(cancel_reason)
