"""Backpack's JSON shapes for the engine's records: REST objects and stream payloads (pure).

Numbers go out as decimal strings (``fmt``: no exponent, no trailing zeros),
order and stream times as integers (milliseconds in REST objects,
microseconds in streams), history times as naive UTC ISO strings, as the real
API does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from services.wire import OrderStatus, OrderType, Side, TimeInForce
from venues.emulator.accounts import PositionView
from venues.emulator.backpack_triggers import TriggerOrder
from venues.emulator.events import OrderEvent, OrderEventKind, PositionEvent
from venues.emulator.records import QUOTE_UNIT, ExpiryReason, Fill, FundingRow, Order, SelfTradePrevention
from venues.precision import fmt

SIDE = {Side.BUY: "Bid", Side.SELL: "Ask"}
SIDE_FROM = {text: side for side, text in SIDE.items()}
ORDER_TYPE = {OrderType.LIMIT: "Limit", OrderType.MARKET: "Market"}
ORDER_TYPE_FROM = {text: kind for kind, text in ORDER_TYPE.items()}
STATUS = {
    OrderStatus.NEW: "New",
    OrderStatus.PARTIALLY_FILLED: "PartiallyFilled",
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.EXPIRED: "Expired",
}
STP = {
    SelfTradePrevention.REJECT_TAKER: "RejectTaker",
    SelfTradePrevention.REJECT_MAKER: "RejectMaker",
    SelfTradePrevention.REJECT_BOTH: "RejectBoth",
    SelfTradePrevention.ALLOW: "Allow",
}
STP_FROM = {text: stp for stp, text in STP.items()}
EXPIRY = {
    ExpiryReason.IMMEDIATE_OR_CANCEL: "ImmediateOrCancel",
    ExpiryReason.FILL_OR_KILL: "FillOrKill",
    ExpiryReason.SELF_TRADE_PREVENTION: "SelfTradePrevention",
    ExpiryReason.INSUFFICIENT_LIQUIDITY: "InsufficientLiquidity",
    ExpiryReason.REDUCE_ONLY_NOT_REDUCED: "ReduceOnlyNotReduced",
}
EVENT = {
    OrderEventKind.ACCEPTED: "orderAccepted",
    OrderEventKind.FILL: "orderFill",
    OrderEventKind.CANCELLED: "orderCancelled",
    OrderEventKind.EXPIRED: "orderExpired",
    OrderEventKind.MODIFIED: "orderModified",
}


def money(value: Decimal) -> str:
    """A quote-currency amount at the quote unit (USDC's 6 decimals)."""
    return fmt(value.quantize(QUOTE_UNIT, rounding=ROUND_HALF_EVEN))


def iso_ms(ts_ms: int) -> str:
    """'2025-04-02T12:57:56.809': naive UTC with milliseconds, as Backpack's history rows."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def iso_s(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def tif_text(order: Order) -> str:
    return _tif(order.tif, fill_or_kill=order.fill_or_kill)


def _tif(tif: TimeInForce, *, fill_or_kill: bool) -> str:
    if fill_or_kill:
        return "FOK"
    return "IOC" if tif is TimeInForce.IOC else "GTC"


def order_json(order: Order) -> dict[str, Any]:
    """An order as ``POST/GET/DELETE /api/v1/order`` return it."""
    out: dict[str, Any] = {
        "orderType": ORDER_TYPE[order.order_type],
        "id": order.order_id,
        "clientId": order.client_id,
        "createdAt": order.created_ms,
        "executedQuantity": fmt(order.filled_quantity),
        "executedQuoteQuantity": fmt(order.filled_quote),
        "quantity": fmt(order.quantity) if order.quantity is not None else None,
        "reduceOnly": order.reduce_only,
        "timeInForce": tif_text(order),
        "selfTradePrevention": STP[order.stp],
        "side": SIDE[order.side],
        "status": STATUS[order.status],
        "symbol": order.symbol,
        "relatedOrderId": None,
        "triggerBy": None,
        "triggerPrice": None,
        "triggerQuantity": None,
        "triggeredAt": None,
    }
    if order.order_type is OrderType.LIMIT:
        assert order.price is not None
        out["price"] = fmt(order.price)
        out["postOnly"] = order.post_only
    else:
        out["quoteQuantity"] = fmt(order.quote_quantity) if order.quote_quantity is not None else None
    return out


def trigger_json(trigger: TriggerOrder) -> dict[str, Any]:
    """A trigger order as the order endpoints return it (status ``TriggerPending``, ``Triggered``, ...)."""
    request = trigger.request
    out: dict[str, Any] = {
        "orderType": ORDER_TYPE[request.order_type],
        "id": trigger.order_id,
        "clientId": request.client_id,
        "createdAt": trigger.created_ms,
        "executedQuantity": "0",
        "executedQuoteQuantity": "0",
        "quantity": fmt(request.quantity) if request.quantity is not None else None,
        "reduceOnly": request.reduce_only,
        "timeInForce": _tif(request.tif, fill_or_kill=request.fill_or_kill),
        "selfTradePrevention": STP[request.stp],
        "side": SIDE[request.side],
        "status": trigger.status,
        "symbol": request.symbol,
        "relatedOrderId": trigger.child_id,
        "triggerBy": trigger.trigger_by,
        "triggerPrice": fmt(trigger.trigger_price),
        "triggerQuantity": trigger.trigger_quantity,
        "triggeredAt": trigger.triggered_ms,
    }
    if request.order_type is OrderType.LIMIT:
        out["price"] = fmt(request.price) if request.price is not None else None
        out["postOnly"] = request.post_only
    else:
        out["quoteQuantity"] = None
    return out


def trigger_update(trigger: TriggerOrder, *, event: str, now_us: int) -> dict[str, Any]:
    """An ``account.orderUpdate`` payload for a trigger order (``P`` trigger price, ``Y`` its quantity)."""
    request = trigger.request
    data: dict[str, Any] = {"e": event, "E": now_us, "s": request.symbol}
    if request.client_id is not None:
        data["c"] = request.client_id
    data |= {
        "S": SIDE[request.side],
        "o": ORDER_TYPE[request.order_type].upper(),
        "f": _tif(request.tif, fill_or_kill=request.fill_or_kill),
        "q": fmt(request.quantity) if request.quantity is not None else "0",
    }
    if request.order_type is OrderType.LIMIT and request.price is not None:
        data["p"] = fmt(request.price)
    data |= {"P": fmt(trigger.trigger_price), "B": trigger.trigger_by}
    if trigger.trigger_quantity is not None:
        data["Y"] = trigger.trigger_quantity
    return data | {
        "X": trigger.status,
        "i": trigger.order_id,
        "z": "0",
        "Z": "0",
        "V": STP[request.stp],
        "r": request.reduce_only,
        "T": now_us,
        "O": "USER",
    }


def order_history_json(order: Order) -> dict[str, Any]:
    """An order as ``GET /wapi/v1/history/orders`` lists it."""
    out = order_json(order)
    out["createdAt"] = iso_ms(order.created_ms)
    out["expiryReason"] = EXPIRY[order.expiry_reason] if order.expiry_reason else None
    out.setdefault("postOnly", False)
    out.setdefault("price", None)
    return out


def fill_json(fill: Fill, *, zero_trade_id: bool = False) -> dict[str, Any]:
    """A fill history row (``zero_trade_id``: ``tradeId`` 0, as old backstop-liquidation fills)."""
    return {
        "clientId": str(fill.client_id) if fill.client_id is not None else None,
        "fee": fmt(fill.fee),
        "feeSymbol": fill.fee_asset,
        "isMaker": fill.is_maker,
        "orderId": fill.order_id,
        "price": fmt(fill.price),
        "quantity": fmt(fill.quantity),
        "side": SIDE[fill.side],
        "symbol": fill.symbol,
        "systemOrderType": None,
        "timestamp": iso_ms(fill.ts_ms),
        "tradeId": 0 if zero_trade_id else fill.trade_id,
    }


def funding_json(row: FundingRow, *, user_id: int) -> dict[str, Any]:
    return {
        "userId": user_id,
        "subaccountId": None,
        "symbol": row.symbol,
        "quantity": fmt(row.amount),
        "intervalEndTimestamp": iso_s(row.interval_end_ms),
        "fundingRate": fmt(row.rate),
    }


def order_update(event: OrderEvent, *, now_us: int, zero_trade_id: bool = False) -> dict[str, Any]:
    """An ``account.orderUpdate`` payload; conditional fields only where Backpack sends them."""
    order = event.order
    data: dict[str, Any] = {"e": EVENT[event.kind], "E": now_us, "s": order.symbol}
    if order.client_id is not None:
        data["c"] = order.client_id
    data |= {"S": SIDE[order.side], "o": ORDER_TYPE[order.order_type].upper(), "f": tif_text(order)}
    if order.quantity is not None:
        data["q"] = fmt(order.quantity)
    if order.quantity is None and order.quote_quantity is not None:
        data["Q"] = fmt(order.quote_quantity)
    if order.price is not None and order.order_type is OrderType.LIMIT:
        data["p"] = fmt(order.price)
    data["X"] = STATUS[order.status]
    if event.kind is OrderEventKind.EXPIRED and order.expiry_reason is not None:
        data["R"] = EXPIRY[order.expiry_reason]
    data["i"] = order.order_id
    fill = event.fill
    if fill is not None:
        data |= {
            "t": 0 if zero_trade_id else fill.trade_id,
            "l": fmt(fill.quantity),
            "L": fmt(fill.price),
            "m": fill.is_maker,
            "n": fmt(fill.fee),
            "N": fill.fee_asset,
        }
    data |= {
        "z": fmt(order.filled_quantity),
        "Z": fmt(order.filled_quote),
        "V": STP[order.stp],
        "r": order.reduce_only,
        "T": event.ts_ms * 1000,
        "O": "USER",
    }
    return data


def position_fields(
    position: PositionView, *, imf: Decimal, mmf: Decimal, exposure_quantity: Decimal, liquidation: Decimal
) -> dict[str, Any]:
    """The figures ``GET /api/v1/position`` and ``account.positionUpdate`` share."""
    mark = position.mark if position.mark is not None else position.entry_price
    return {
        "symbol": position.symbol,
        "positionId": position.position_id,
        "netQuantity": fmt(position.quantity),
        "entryPrice": fmt(position.entry_price),
        "breakEvenPrice": fmt(position.entry_price),
        "markPrice": fmt(mark),
        "estLiquidationPrice": fmt(liquidation),
        "imf": fmt(imf),
        "mmf": fmt(mmf),
        "netExposureQuantity": fmt(exposure_quantity),
        "netExposureNotional": money(exposure_quantity * mark),
        "pnlRealized": fmt(position.realized_pnl),
        "pnlUnrealized": money(position.unrealized_pnl),
        "cumulativeFundingPayment": fmt(position.funding),
    }


def position_update(event: PositionEvent, fields: dict[str, Any], *, now_us: int) -> dict[str, Any]:
    """An ``account.positionUpdate`` payload (``e`` omitted for the snapshot sent on subscribe)."""
    quantity = event.position.quantity
    if event.previous_quantity == 0 and quantity != 0:
        kind = "positionOpened"
    elif quantity == 0:
        kind = "positionClosed"
    else:
        kind = "positionAdjusted"
    return {"e": kind} | position_payload(fields, now_us=now_us, engine_us=event.ts_ms * 1000)


def position_payload(fields: dict[str, Any], *, now_us: int, engine_us: int) -> dict[str, Any]:
    return {
        "E": now_us,
        "s": fields["symbol"],
        "b": fields["breakEvenPrice"],
        "B": fields["entryPrice"],
        "l": fields["estLiquidationPrice"],
        "f": fields["imf"],
        "M": fields["markPrice"],
        "m": fields["mmf"],
        "q": fields["netQuantity"],
        "Q": fields["netExposureQuantity"],
        "n": fields["netExposureNotional"],
        "i": fields["positionId"],
        "p": fields["pnlRealized"],
        "P": fields["pnlUnrealized"],
        "T": engine_us,
    }
