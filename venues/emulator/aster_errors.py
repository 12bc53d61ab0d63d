"""Aster's error answers over the emulator: ``{code, msg}`` bodies with the venue's codes and texts."""

from __future__ import annotations

from aiohttp import web

from venues.emulator.faults import RestFault
from venues.emulator.records import OrderRejected, RejectDetail


class AsterApiError(Exception):
    """Raised by a handler to answer with an Aster error body."""

    def __init__(self, status: int, code: int, msg: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.retry_after_s = retry_after_s

    def to_body(self) -> dict[str, int | str]:
        return {"code": self.code, "msg": self.msg}

    def response(self) -> web.Response:
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else None
        return web.json_response(self.to_body(), status=self.status, headers=headers)


def bad_param(msg: str, *, code: int = -1102) -> AsterApiError:
    return AsterApiError(400, code, msg)


def missing(name: str) -> AsterApiError:
    return bad_param(f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def bad_signature() -> AsterApiError:
    return AsterApiError(400, -1022, "Signature for this request is not valid.")


def bad_api_key() -> AsterApiError:
    return AsterApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def outside_window() -> AsterApiError:
    return AsterApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def nonce_expired() -> AsterApiError:
    return AsterApiError(400, -4225, "nonce expired or already used")


def unexpected_response() -> AsterApiError:
    # The venue gives no HTTP status for it: a 4xx is the reading a client is likeliest to take for a refusal.
    return AsterApiError(
        400, -1006, "An unexpected response was received from the message bus. Execution status unknown."
    )


def too_many_requests(retry_after_s: int | None, limit: int) -> AsterApiError:
    return AsterApiError(
        429,
        -1003,
        f"Too many requests; current limit is {limit} requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
        retry_after_s=retry_after_s,
    )


def banned(until_ms: int, retry_after_s: int | None) -> AsterApiError:
    return AsterApiError(
        418,
        -1003,
        f"Way too many requests; IP banned until {until_ms}. "
        "Please use the websocket for live updates to avoid bans.",
        retry_after_s=retry_after_s,
    )


def invalid_symbol() -> AsterApiError:
    return AsterApiError(400, -1121, "Invalid symbol.")


def no_such_order() -> AsterApiError:
    return AsterApiError(400, -2013, "Order does not exist.")


def unknown_order_cancel() -> AsterApiError:
    return AsterApiError(400, -2011, "Unknown order sent.")


def min_notional(notional: str) -> AsterApiError:
    return AsterApiError(
        400, -4164, f"Order's notional must be no smaller than {notional} (unless you choose reduce only)"
    )


def quantity_above_max() -> AsterApiError:
    return AsterApiError(400, -4005, "Quantity greater than max quantity.")


def price_above_band() -> AsterApiError:
    return AsterApiError(400, -4016, "Price is higher than mark price multiplier cap.")


def price_below_band() -> AsterApiError:
    return AsterApiError(400, -4024, "Price is lower than mark price multiplier floor.")


def market_outside_band() -> AsterApiError:
    return AsterApiError(
        400, -4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit"
    )


_REJECTIONS: dict[RejectDetail, tuple[int, str]] = {
    RejectDetail.UNKNOWN_SYMBOL: (-1121, "Invalid symbol."),
    RejectDetail.UNKNOWN_ACCOUNT: (-2015, "Invalid API-key, IP, or permissions for action."),
    RejectDetail.PRICE_MISSING: (
        -1102,
        "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
    ),
    RejectDetail.PRICE_NOT_POSITIVE: (-4001, "Price less than 0."),
    RejectDetail.PRICE_TICK: (-4014, "Price not increased by tick size."),
    RejectDetail.QUANTITY_MISSING: (
        -1102,
        "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
    ),
    RejectDetail.QUANTITY_NOT_POSITIVE: (-4003, "Quantity less than or equal to zero."),
    RejectDetail.QUANTITY_STEP: (-4023, "Quantity not increased by step size."),
    RejectDetail.QUANTITY_MIN: (-4004, "Quantity less than min quantity."),
    RejectDetail.CLIENT_ID: (-4015, "Client order id is not valid."),
    RejectDetail.POST_ONLY_MARKET: (-1115, "Invalid timeInForce."),
    # Not reached: the Aster front expires a GTX order that would take (the documented path).
    RejectDetail.POST_ONLY_TAKER: (
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected.",
    ),
    RejectDetail.REDUCE_ONLY_NOT_REDUCING: (-2022, "ReduceOnly Order is rejected."),
    RejectDetail.INSUFFICIENT_MARGIN: (-2019, "Margin is insufficient."),
}


def rejection(error: OrderRejected) -> AsterApiError:
    """The Aster answer to an engine refusal."""
    code, msg = _REJECTIONS[error.detail]
    return AsterApiError(401 if error.detail is RejectDetail.UNKNOWN_ACCOUNT else 400, code, msg)


def fault_response(fault: RestFault, *, limit: int) -> web.Response:
    if fault is RestFault.RATE_LIMITED:
        return too_many_requests(1, limit).response()
    if fault is RestFault.UNAVAILABLE:
        body = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
        return web.json_response(body, status=503)
    return web.json_response(
        {"code": -1000, "msg": "An unknown error occured while processing the request."}, status=500
    )
