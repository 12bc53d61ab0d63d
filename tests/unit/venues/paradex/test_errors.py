"""Paradex error answers and cancel reasons to the connector's typed errors."""

from __future__ import annotations

import pytest

from services.wire import RejectReason
from venues.base import AuthError, RateLimited, Rejected, Unavailable
from venues.paradex.errors import cancel_rejection, error_body, error_for, is_clock_error


def test_error_body() -> None:
    assert error_body('{"error": "VALIDATION_ERROR", "message": "bad size"}') == (
        "VALIDATION_ERROR",
        "bad size",
    )
    assert error_body("<html>gateway</html>") == ("", "<html>gateway</html>")
    assert error_body("[1]") == ("", "[1]")


@pytest.mark.parametrize(
    ("status", "error", "message", "kind"),
    [
        (429, "RATE_LIMIT_EXCEEDED", "", RateLimited),
        (503, "SERVICE_UNAVAILABLE", "", Unavailable),
        (401, "UNAUTHORIZED_ERROR", "invalid bearer jwt", AuthError),
        (400, "INVALID_ORDER_SIGNATURE", "signature verification failed", AuthError),
        (400, "STARKNET_SIGNATURE_VERIFICATION_FAILED", "", AuthError),
        (400, "INVALID_TIMESTAMP", "too far", AuthError),
        (404, "ORDER_ID_NOT_FOUND", "", Rejected),
    ],
)
def test_error_kinds(status: int, error: str, message: str, kind: type[Exception]) -> None:
    found = error_for(status, error, message, retry_after_s=2)
    assert isinstance(found, kind)
    if isinstance(found, RateLimited):
        assert found.retry_after_s == 2


@pytest.mark.parametrize(
    ("error", "message", "reason"),
    [
        ("ORDER_ID_NOT_FOUND", "", RejectReason.UNKNOWN_ORDER),
        ("CLIENT_ORDER_ID_NOT_FOUND", "", RejectReason.UNKNOWN_ORDER),
        ("ORDER_IS_CLOSED", "", RejectReason.UNKNOWN_ORDER),
        # A cancel of a filled or cancelled order: it is no longer there to cancel.
        ("ORDER_IS_NOT_OPEN", "order 21 is not open", RejectReason.UNKNOWN_ORDER),
        ("VALIDATION_ERROR", "order notional 5 is below the minimum 10", RejectReason.MIN_NOTIONAL),
        ("VALIDATION_ERROR", "price is not a multiple of the tick", RejectReason.BAD_PRICE),
        ("VALIDATION_ERROR", "size is not a multiple of the increment", RejectReason.BAD_QUANTITY),
        ("VALIDATION_ERROR", "flags may only hold REDUCE_ONLY", RejectReason.MALFORMED),
        ("DUPLICATED_CLIENT_ID", "an open order already has client_id 5", RejectReason.OTHER),
    ],
)
def test_reject_reasons(error: str, message: str, reason: RejectReason) -> None:
    found = error_for(400, error, message)
    assert isinstance(found, Rejected) and found.reason is reason and found.venue_message == message


def test_clock_errors_are_told_apart() -> None:
    assert is_clock_error(error_for(400, "INVALID_TIMESTAMP", ""))
    assert not is_clock_error(error_for(400, "INVALID_ORDER_SIGNATURE", ""))


def test_cancel_reasons() -> None:
    assert cancel_rejection("POST_ONLY_WOULD_CROSS") is RejectReason.POST_ONLY_WOULD_TAKE
    assert cancel_rejection("NOT_ENOUGH_MARGIN") is RejectReason.INSUFFICIENT_MARGIN
    assert cancel_rejection("REDUCE_ONLY_WOULD_INCREASE") is RejectReason.REDUCE_ONLY
    assert cancel_rejection("ORDER_EXCEEDS_POSITION_LIMIT") is RejectReason.POSITION_LIMIT
    for not_refused in ("USER_CANCELED", "REMAINING_IOC_CANCEL", ""):
        assert cancel_rejection(not_refused) is None
