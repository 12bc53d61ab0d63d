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

POSITION_NOT_FOUND = ("RESOURCE_NOT_FOUND", "position not found")
_AUTH_CODES = {"INVALID_SIGNATURE", "UNAUTHORIZED", "FORBIDDEN", "ACCOUNT_DEACTIVATED"}
_MARGIN_CODES = {"INSUFFICIENT_MARGIN", "INSUFFICIENT_FUNDS", "MAX_LEVERAGE_REACHED"}


class VenueRefusal(Rejected):
    """A refusal that keeps the venue's own error ``code`` (empty when the answer had none)."""

    def __init__(self, message: str, *, reason: RejectReason, venue_message: str, code: str) -> None:
        super().__init__(message, reason=reason, venue_message=venue_message)
        self.code = code


def is_position_not_found(error: VenueError) -> bool:
    """True only for the venue's own "no position": ``RESOURCE_NOT_FOUND`` "Position not found"."""
    return (
        isinstance(error, VenueRefusal)
        and (
            error.code,
            error.venue_message.strip().rstrip(".").lower(),
        )
        == POSITION_NOT_FOUND
    )


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
    # A bare 404 is "no such thing" to an order query; it never means a flat position (a proxy, a wrong
    # URL answer 404 too), so ``code`` keeps what the venue really said.
    reason = reject_reason(code or ("RESOURCE_NOT_FOUND" if status == 404 else ""), message)
    return VenueRefusal(label, reason=reason, venue_message=message, code=code)
