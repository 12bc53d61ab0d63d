"""Backpack error answers to typed connector errors."""

from __future__ import annotations

import pytest

from services.wire import RejectReason
from venues.backpack.errors import (
    VenueRefusal,
    error_body,
    error_for,
    is_expired_request,
    is_position_not_found,
)
from venues.base import AuthError, RateLimited, Rejected, Unavailable


@pytest.mark.parametrize(
    ("status", "code", "message", "reason"),
    [
        (400, "INSUFFICIENT_MARGIN", "Insufficient margin", RejectReason.INSUFFICIENT_MARGIN),
        (400, "INVALID_ORDER", "Order would immediately match and take.", RejectReason.POST_ONLY_WOULD_TAKE),
        (400, "INVALID_ORDER", "Reduce only order not reduced", RejectReason.REDUCE_ONLY),
        (400, "INVALID_CLIENT_REQUEST", "Price decimal too long", RejectReason.BAD_PRICE),
        (400, "INVALID_CLIENT_REQUEST", "Quantity decimal too long", RejectReason.BAD_QUANTITY),
        (400, "INVALID_ORDER", "Quantity is below the minimum allowed value", RejectReason.BAD_QUANTITY),
        (404, "RESOURCE_NOT_FOUND", "Order not found", RejectReason.UNKNOWN_ORDER),
        (400, "INVALID_CLIENT_REQUEST", "Order not found", RejectReason.UNKNOWN_ORDER),
        (400, "INVALID_ORDER", "Market orders cannot be post only", RejectReason.OTHER),
        (404, "", "", RejectReason.UNKNOWN_ORDER),
        (400, "TRADING_PAUSED", "Trading paused", RejectReason.UNAVAILABLE),
        (400, "INVALID_MARKET", "Invalid market", RejectReason.OTHER),
    ],
)
def test_refusals_map_to_reasons(status: int, code: str, message: str, reason: RejectReason) -> None:
    error = error_for(status, code, message)
    assert isinstance(error, Rejected)
    assert error.reason is reason
    assert error.venue_message == message


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (401, "", "Unauthorized"),
        (400, "INVALID_SIGNATURE", "Invalid signature"),
        (400, "INVALID_CLIENT_REQUEST", "Invalid signature"),
        (400, "INVALID_CLIENT_REQUEST", "Request has expired"),
    ],
)
def test_auth_errors_carry_the_venue_message(status: int, code: str, message: str) -> None:
    error = error_for(status, code, message)
    assert isinstance(error, AuthError)
    assert error.venue_message == message


def test_rate_limit_and_server_errors() -> None:
    limited = error_for(429, "TOO_MANY_REQUESTS", "slow down", retry_after_s=2.5)
    assert isinstance(limited, RateLimited) and limited.retry_after_s == 2.5
    assert isinstance(error_for(400, "TOO_MANY_REQUESTS", ""), RateLimited)
    assert isinstance(error_for(503, "MAINTENANCE", "System under maintenance"), Unavailable)


def test_expired_requests_are_told_apart() -> None:
    assert is_expired_request(error_for(400, "INVALID_CLIENT_REQUEST", "Request has expired"))
    assert not is_expired_request(error_for(400, "INVALID_SIGNATURE", "Invalid signature"))
    assert not is_expired_request(error_for(400, "INVALID_ORDER", "Order expired"))


def test_error_body() -> None:
    assert error_body('{"code": "X", "message": "m"}') == ("X", "m")
    assert error_body("<html>bad gateway</html>") == ("", "<html>bad gateway</html>")
    assert error_body("[1]") == ("", "[1]")


def test_only_the_venues_position_not_found_means_flat() -> None:
    assert is_position_not_found(error_for(404, "RESOURCE_NOT_FOUND", "Position not found"))
    for status, code, message in (
        (404, "RESOURCE_NOT_FOUND", "Order not found"),
        (404, "", "Position not found"),
        (404, "", "404: Not Found"),
        (400, "INVALID_CLIENT_REQUEST", "Invalid market symbol"),
    ):
        error = error_for(status, code, message)
        assert not is_position_not_found(error)
        assert isinstance(error, VenueRefusal) and error.code == code
