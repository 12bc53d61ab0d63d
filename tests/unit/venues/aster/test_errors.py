"""Aster error answers to typed errors with normalized reasons."""

from __future__ import annotations

import pytest

from services.wire import RejectReason
from venues.aster.errors import AsterAuthError, banned_until_ms, error_body, error_for, is_expired_request
from venues.base import AuthError, RateLimited, Rejected, Unavailable


def test_error_body() -> None:
    assert error_body('{"code": -2011, "msg": "Unknown order sent."}') == (-2011, "Unknown order sent.")
    assert error_body("<html>bad gateway</html>") == (None, "<html>bad gateway</html>")
    assert error_body('["x"]') == (None, '["x"]')
    assert error_body('{"code": "x", "msg": "m"}') == (None, "m")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (-2011, RejectReason.UNKNOWN_ORDER),
        (-2013, RejectReason.UNKNOWN_ORDER),
        (-2019, RejectReason.INSUFFICIENT_MARGIN),
        (-2022, RejectReason.REDUCE_ONLY),
        (-4014, RejectReason.BAD_PRICE),
        (-4023, RejectReason.BAD_QUANTITY),
        (-4164, RejectReason.MIN_NOTIONAL),
        (-5022, RejectReason.POST_ONLY_WOULD_TAKE),
        (-1121, RejectReason.MALFORMED),
        (-4061, RejectReason.OTHER),
    ],
)
def test_refusals_carry_a_normalized_reason(code: int, reason: RejectReason) -> None:
    error = error_for(400, code, "text")
    assert isinstance(error, Rejected) and error.reason is reason and str(code) in str(error)


def test_auth_rate_limits_and_outages() -> None:
    for code in (-1021, -4225):
        expired = error_for(400, code, "too old")
        assert isinstance(expired, AsterAuthError) and is_expired_request(expired)
    bad = error_for(400, -1022, "Signature for this request is not valid.")
    assert isinstance(bad, AuthError) and not is_expired_request(bad)
    assert isinstance(error_for(401, -2015, "Invalid API-key"), AuthError)
    limited = error_for(429, -1003, "slow down", retry_after_s=3)
    assert isinstance(limited, RateLimited) and limited.retry_after_s == 3
    assert isinstance(error_for(418, -1003, "banned"), RateLimited)
    assert isinstance(error_for(503, None, "down"), Unavailable)
    assert isinstance(error_for(408, -1007, "Timeout waiting for response from backend server."), Unavailable)


def test_ban_end_is_read_from_the_message() -> None:
    assert banned_until_ms("Way too many requests; IP banned until 1591702613943.") == 1591702613943
    assert banned_until_ms("Too many requests") is None
