"""Backpack error answers to the connector's typed errors (pure, no I/O).

Backpack answers ``{code, message}``; the same code (``INVALID_CLIENT_REQUEST``)
covers a bad signature, an expired request and a bad decimal, so the message
text decides as much as the code does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from services.wire import RejectReason
from venues.base import AuthError, RateLimited, Rejected, Unavailable, VenueError

_AUTH_CODES = {"INVALID_SIGNATURE", "UNAUTHORIZED", "FORBIDDEN", "ACCOUNT_DEACTIVATED"}
_MARGIN_CODES = {"INSUFFICIENT_MARGIN", "INSUFFICIENT_FUNDS", "MAX_LEVERAGE_REACHED"}


def error_body(text: str) -> tuple[str, str]:
    """``(code, message)`` of an error answer; a non-JSON body becomes the message."""
    try:
        raw = json.loads(text)
    except ValueError:
        return "", text.strip()[:300]
    if not isinstance(raw, Mapping):
        return "", text.strip()[:300]
    return str(raw.get("code") or ""), str(raw.get("message") or raw.get("msg") or "")


def is_expired_request(error: VenueError) -> bool:
    """True for the auth error a drifted clock causes (fixed by re-syncing, then one retry)."""
    text = error.venue_message.lower()
    return isinstance(error, AuthError) and ("expired" in text or "timestamp" in text)


def reject_reason(code: str, message: str) -> RejectReason:
    """The normalized reason behind a 4xx refusal."""
    text = message.lower()
    if code in _MARGIN_CODES:
        return RejectReason.INSUFFICIENT_MARGIN
    # A cancel of an order that is gone is a 400 "Order not found", a query of one a 404.
    if code == "RESOURCE_NOT_FOUND" or "not found" in text:
        return RejectReason.UNKNOWN_ORDER
    if "immediately match" in text or ("post" in text and "tak" in text):
        return RejectReason.POST_ONLY_WOULD_TAKE
    if "reduce only" in text or "reduce-only" in text or "reduceonly" in text:
        return RejectReason.REDUCE_ONLY
    if code == "INVALID_PRICE" or "price" in text or "tick size" in text:
        return RejectReason.BAD_PRICE
    if code == "INVALID_QUANTITY" or "quantity" in text:
        return RejectReason.BAD_QUANTITY
    if code == "POSITION_LIMIT":
        return RejectReason.POSITION_LIMIT
    if code in ("TRADING_PAUSED", "MAINTENANCE"):
        return RejectReason.UNAVAILABLE
    return RejectReason.OTHER


def error_for(status: int, code: str, message: str, *, retry_after_s: float | None = None) -> VenueError:
    """The typed error for an HTTP error answer (``status`` >= 400)."""
    label = f"HTTP {status} {code}".strip() + (f": {message}" if message else "")
    text = message.lower()
    if status == 429 or code == "TOO_MANY_REQUESTS":
        return RateLimited(label, retry_after_s=retry_after_s or 0.0, venue_message=message)
    if status >= 500:
        return Unavailable(label, venue_message=message)
    if (
        status == 401
        or code in _AUTH_CODES
        or "invalid signature" in text
        or ("request" in text and "expired" in text)
        or ("timestamp" in text and code == "INVALID_CLIENT_REQUEST")
    ):
        return AuthError(label, venue_message=message)
    if status == 404 and not code:
        # A bare 404 is the venue's "no such thing" (a flat position, a closed order).
        code = "RESOURCE_NOT_FOUND"
    return Rejected(label, reason=reject_reason(code, message), venue_message=message)
