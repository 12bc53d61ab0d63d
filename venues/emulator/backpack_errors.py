"""Backpack's error answers: ``{code, message}`` bodies with the venue's codes, texts and statuses."""

from __future__ import annotations

from aiohttp import web

from venues.emulator.faults import RestFault
from venues.emulator.records import OrderRejected, RejectDetail

INVALID_CLIENT_REQUEST = "INVALID_CLIENT_REQUEST"
INVALID_ORDER = "INVALID_ORDER"


class ApiError(Exception):
    """Raised by a handler to answer with a Backpack error body."""

    def __init__(self, status: int, code: str, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s

    def to_body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def response(self) -> web.Response:
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else None
        return web.json_response(self.to_body(), status=self.status, headers=headers)


def invalid_request(message: str) -> ApiError:
    return ApiError(400, INVALID_CLIENT_REQUEST, message)


def bad_signature() -> ApiError:
    return ApiError(401, INVALID_CLIENT_REQUEST, "Invalid signature")


def expired() -> ApiError:
    return ApiError(401, INVALID_CLIENT_REQUEST, "request expired")


def too_many_requests(retry_after_s: int) -> ApiError:
    return ApiError(429, "TOO_MANY_REQUESTS", "Too many requests", retry_after_s=retry_after_s)


def order_not_found(*, query: bool) -> ApiError:
    """A query for an unknown order is a 404; a cancel of one is a 400 (as the venue answers each)."""
    if query:
        return ApiError(404, "RESOURCE_NOT_FOUND", "Order not found")
    return ApiError(400, INVALID_CLIENT_REQUEST, "Order not found")


_REJECTIONS: dict[RejectDetail, tuple[str, str]] = {
    RejectDetail.UNKNOWN_SYMBOL: (INVALID_CLIENT_REQUEST, "Invalid market symbol"),
    RejectDetail.UNKNOWN_ACCOUNT: (INVALID_CLIENT_REQUEST, "Invalid signature"),
    RejectDetail.PRICE_MISSING: (INVALID_CLIENT_REQUEST, "Price is required for a limit order"),
    RejectDetail.PRICE_NOT_POSITIVE: (INVALID_CLIENT_REQUEST, "Price must be positive"),
    RejectDetail.PRICE_TICK: (INVALID_CLIENT_REQUEST, "Price decimal too long"),
    RejectDetail.QUANTITY_MISSING: (INVALID_CLIENT_REQUEST, "Quantity is required"),
    RejectDetail.QUANTITY_NOT_POSITIVE: (INVALID_CLIENT_REQUEST, "Quantity must be positive"),
    RejectDetail.QUANTITY_STEP: (INVALID_CLIENT_REQUEST, "Quantity decimal too long"),
    RejectDetail.QUANTITY_MIN: (INVALID_ORDER, "Quantity is below the minimum allowed value"),
    RejectDetail.CLIENT_ID: (INVALID_CLIENT_REQUEST, "Invalid clientId"),
    RejectDetail.POST_ONLY_MARKET: (INVALID_ORDER, "Market orders cannot be post only"),
    RejectDetail.POST_ONLY_TAKER: (INVALID_ORDER, "Order would immediately match and take"),
    RejectDetail.REDUCE_ONLY_NOT_REDUCING: (INVALID_ORDER, "Reduce only order not reduced"),
    RejectDetail.INSUFFICIENT_MARGIN: ("INSUFFICIENT_MARGIN", "Insufficient margin"),
}


def rejection(error: OrderRejected) -> ApiError:
    """The Backpack answer to an engine refusal."""
    code, message = _REJECTIONS[error.detail]
    return ApiError(401 if error.detail is RejectDetail.UNKNOWN_ACCOUNT else 400, code, message)


def fault_response(fault: RestFault) -> web.Response:
    if fault is RestFault.RATE_LIMITED:
        return too_many_requests(1).response()
    if fault is RestFault.UNAVAILABLE:
        body = {
            "code": "SERVICE_UNAVAILABLE",
            "message": "Unknown error, please check your request or try again later.",
        }
        return web.json_response(body, status=503)
    return web.json_response(
        {"code": "INTERNAL_SERVER_ERROR", "message": "Internal server error"}, status=500
    )
