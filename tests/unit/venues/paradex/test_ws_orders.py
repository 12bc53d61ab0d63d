"""How a JSON-RPC refusal of an order method becomes the connector's typed error."""

from __future__ import annotations

from services.wire import RejectReason
from venues.base import AuthError, RateLimited, Rejected, Unavailable
from venues.paradex.deadman import RpcRefused
from venues.paradex.ws_orders import refusal_error


def _refused(code: int, message: str, data: str = "") -> RpcRefused:
    return RpcRefused("order.create", {"code": code, "message": message, "data": data})


def test_venue_error_names_map_as_rest_ones_do() -> None:
    signature = refusal_error(_refused(100, "INVALID_ORDER_SIGNATURE", "signature verification failed"))
    assert isinstance(signature, AuthError)
    missing = refusal_error(_refused(100, "ORDER_ID_NOT_FOUND", "order 7 is not open"))
    assert isinstance(missing, Rejected) and missing.reason is RejectReason.UNKNOWN_ORDER
    assert isinstance(refusal_error(_refused(100, "RATE_LIMIT_EXCEEDED", "rate limit exceeded")), RateLimited)


def test_protocol_codes() -> None:
    assert isinstance(refusal_error(_refused(40111, "Invalid Bearer Token")), AuthError)
    assert isinstance(refusal_error(_refused(-32603, "Internal error")), Unavailable)
    malformed = refusal_error(_refused(-32602, "Invalid parameters"))
    assert isinstance(malformed, Rejected)


def test_a_refusal_without_an_error_object_keeps_its_text() -> None:
    refused = RpcRefused("order.cancel", "boom")
    assert refused.code is None and "boom" in str(refused)
