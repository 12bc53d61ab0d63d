"""Aster error answers (``{code, msg}``, Binance-futures style) to the connector's typed errors (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from services.wire import RejectReason
from venues.base import AuthError, RateLimited, Rejected, Unavailable, VenueError

TIMESTAMP_OUTSIDE_WINDOW = -1021
BAD_SIGNATURE = -1022
TOO_MANY_REQUESTS = -1003
UNEXPECTED_RESPONSE = -1006
BACKEND_TIMEOUT = -1007
INVALID_TIME_IN_FORCE = -1115
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
MARGIN_INSUFFICIENT = -2019
REDUCE_ONLY_REJECTED = -2022
PRICE_NOT_TICK = -4014
QUANTITY_NOT_STEP = -4023
POSITION_SIDE_MISMATCH = -4061
NOTIONAL_TOO_SMALL = -4164
NONCE_EXPIRED = -4225
POST_ONLY_REJECTED = -5022

_AUTH = {TIMESTAMP_OUTSIDE_WINDOW, BAD_SIGNATURE, NONCE_EXPIRED, -2014, -2015, -1002}
_EXPIRED = {TIMESTAMP_OUTSIDE_WINDOW, NONCE_EXPIRED}
_REASONS: dict[int, RejectReason] = {
    CANCEL_REJECTED: RejectReason.UNKNOWN_ORDER,
    NO_SUCH_ORDER: RejectReason.UNKNOWN_ORDER,
    MARGIN_INSUFFICIENT: RejectReason.INSUFFICIENT_MARGIN,
    -2018: RejectReason.INSUFFICIENT_MARGIN,
    -2027: RejectReason.POSITION_LIMIT,
    -2028: RejectReason.INSUFFICIENT_MARGIN,
    REDUCE_ONLY_REJECTED: RejectReason.REDUCE_ONLY,
    PRICE_NOT_TICK: RejectReason.BAD_PRICE,
    -4001: RejectReason.BAD_PRICE,
    -4002: RejectReason.BAD_PRICE,
    -4016: RejectReason.BAD_PRICE,
    -4024: RejectReason.BAD_PRICE,
    QUANTITY_NOT_STEP: RejectReason.BAD_QUANTITY,
    -4003: RejectReason.BAD_QUANTITY,
    -4004: RejectReason.BAD_QUANTITY,
    -4005: RejectReason.BAD_QUANTITY,
    NOTIONAL_TOO_SMALL: RejectReason.MIN_NOTIONAL,
    POST_ONLY_REJECTED: RejectReason.POST_ONLY_WOULD_TAKE,
    -1100: RejectReason.MALFORMED,
    -1102: RejectReason.MALFORMED,
    -1106: RejectReason.MALFORMED,
    -1111: RejectReason.MALFORMED,
    -1116: RejectReason.MALFORMED,
    -1121: RejectReason.MALFORMED,
    -4015: RejectReason.MALFORMED,
}
_BANNED_UNTIL = re.compile(r"banned until (\d{10,})")


def error_body(text: str) -> tuple[int | None, str]:
    """``(code, msg)`` of an error answer; a non-JSON body becomes the message."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None, text.strip()[:300]
    if not isinstance(raw, Mapping):
        return None, text.strip()[:300]
    code = raw.get("code")
    message = str(raw.get("msg") or raw.get("message") or "")
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), message


def is_expired_request(error: VenueError) -> bool:
    """True for the refusal a drifted clock causes (-1021 timestamp, -4225 nonce): never executed."""
    return isinstance(error, AuthError) and getattr(error, "code", None) in _EXPIRED


def banned_until_ms(message: str) -> int | None:
    """The end of an IP ban as the venue states it ('IP banned until 1591702613943'), if it does."""
    found = _BANNED_UNTIL.search(message)
    return int(found.group(1)) if found else None


class AsterAuthError(AuthError):
    """An auth refusal that keeps the venue's numeric code (so an expired request can be told apart)."""

    def __init__(self, message: str, *, code: int | None, venue_message: str = "") -> None:
        super().__init__(message, venue_message=venue_message)
        self.code = code


class AsterRejected(Rejected):
    """A refusal that keeps the venue's numeric code (the GTX fallback needs -1115)."""

    def __init__(
        self, message: str, *, code: int | None, reason: RejectReason, venue_message: str = ""
    ) -> None:
        super().__init__(message, reason=reason, venue_message=venue_message)
        self.code = code


def error_for(
    status: int, code: int | None, message: str, *, retry_after_s: float | None = None
) -> VenueError:
    """The typed error for an HTTP error answer (``status`` >= 400)."""
    label = f"HTTP {status}" + (f" {code}" if code is not None else "") + (f": {message}" if message else "")
    if status in (418, 429) or code == TOO_MANY_REQUESTS:
        return RateLimited(label, retry_after_s=retry_after_s or 0.0, venue_message=message)
    # -1006 and -1007 say the execution status is unknown: never a refusal, whatever the HTTP status.
    if status >= 500 or code in (UNEXPECTED_RESPONSE, BACKEND_TIMEOUT):
        return Unavailable(label, venue_message=message)
    if status == 401 or code in _AUTH:
        return AsterAuthError(label, code=code, venue_message=message)
    reason = _REASONS.get(code, RejectReason.OTHER) if code is not None else RejectReason.OTHER
    return AsterRejected(label, code=code, reason=reason, venue_message=message)
