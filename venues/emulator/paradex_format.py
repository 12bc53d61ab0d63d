"""Paradex's JSON shapes for the engine's records: REST objects and WebSocket ``data`` (pure).

Numbers go out as decimal strings, times as integer milliseconds, sides as
``BUY``/``SELL``; an order is ``NEW`` on receipt, ``OPEN`` while it rests and
``CLOSED`` with a ``cancel_reason`` (empty when it filled) once it is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from services.wire import OrderStatus, OrderType, Side, TimeInForce
from venues.emulator.accounts import PositionView
from venues.emulator.engine import MarkState
from venues.emulator.records import QUOTE_UNIT, ExpiryReason, Fill, FundingRow, Order
from venues.precision import MarketRules, fmt

SIDE = {Side.BUY: "BUY", Side.SELL: "SELL"}
SIDE_FROM = {text: side for side, text in SIDE.items()}
ORDER_TYPE = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET"}
ORDER_TYPE_FROM = {text: kind for kind, text in ORDER_TYPE.items()}
INSTRUCTIONS = ("GTC", "POST_ONLY", "IOC")
_EXPIRY_REASON = {
    ExpiryReason.IMMEDIATE_OR_CANCEL: "REMAINING_IOC_CANCEL",
    ExpiryReason.FILL_OR_KILL: "REMAINING_IOC_CANCEL",
    ExpiryReason.SELF_TRADE_PREVENTION: "SELF_TRADE",
    ExpiryReason.INSUFFICIENT_LIQUIDITY: "EMPTY_MARKET",
    ExpiryReason.REDUCE_ONLY_NOT_REDUCED: "REDUCE_ONLY_WOULD_INCREASE",
}


def money(value: Decimal) -> str:
    return fmt(value.quantize(QUOTE_UNIT, rounding=ROUND_HALF_EVEN))


@dataclass(slots=True, kw_only=True)
class OrderMeta:
    """What Paradex reports about an order that the engine does not keep."""

    client_id: str
    instruction: str
    signature_ms: int
    received_ms: int
    seq_no: int
    venue_type: str = ""  # a conditional order's type (STOP_MARKET ...): it keeps it once triggered
    trigger_price: str = ""


def instruction_of(order: Order) -> str:
    if order.post_only:
        return "POST_ONLY"
    return "IOC" if order.tif is TimeInForce.IOC or order.order_type is OrderType.MARKET else "GTC"


def cancel_reason(order: Order) -> str:
    if order.status is OrderStatus.CANCELLED:
        return "USER_CANCELED"
    if order.status is OrderStatus.EXPIRED and order.expiry_reason is not None:
        return _EXPIRY_REASON[order.expiry_reason]
    return ""


def order_json(
    order: Order, meta: OrderMeta | None, *, status: str | None = None, reason: str = ""
) -> dict[str, Any]:
    """An order as ``POST/GET /orders`` and the ``orders`` channel show it."""
    if status is None:
        status = "OPEN" if order.status.is_open else "CLOSED"
    filled = order.filled_quantity
    size = order.quantity if order.quantity is not None else filled
    average = order.filled_quote / filled if filled else None
    return {
        "id": order.order_id,
        "account": order.account_id,
        "market": order.symbol,
        "side": SIDE[order.side],
        "type": meta.venue_type if meta and meta.venue_type else ORDER_TYPE[order.order_type],
        "size": fmt(size),
        "remaining_size": fmt(size - filled),
        "price": fmt(order.price) if order.price is not None else "0",
        "status": status,
        "cancel_reason": reason or (cancel_reason(order) if status == "CLOSED" else ""),
        "client_id": meta.client_id
        if meta
        else (str(order.client_id) if order.client_id is not None else ""),
        "instruction": meta.instruction if meta else instruction_of(order),
        "flags": ["REDUCE_ONLY"] if order.reduce_only else [],
        "avg_fill_price": fmt(average.quantize(Decimal("1e-8"))) if average is not None else "",
        "stp": "EXPIRE_TAKER",
        "trigger_price": meta.trigger_price if meta else "",
        "created_at": order.created_ms,
        "last_updated_at": order.created_ms,
        "timestamp": meta.signature_ms if meta else order.created_ms,
        "received_at": meta.received_ms if meta else order.created_ms,
        "published_at": meta.received_ms if meta else order.created_ms,
        "seq_no": meta.seq_no if meta else 0,
    }


def fill_json(fill: Fill, *, client_id: str) -> dict[str, Any]:
    return {
        "id": str(fill.trade_id),
        "account": fill.account_id,
        "market": fill.symbol,
        "order_id": fill.order_id,
        "client_id": client_id,
        "side": SIDE[fill.side],
        "liquidity": "MAKER" if fill.is_maker else "TAKER",
        "price": fmt(fill.price),
        "size": fmt(fill.quantity),
        "fee": fmt(fill.fee),
        "fee_currency": "USDC",  # fees settle in the settlement asset, whatever the quote
        "fill_type": "FILL",
        "realized_funding": "0",
        "created_at": fill.ts_ms,
    }


def position_json(view: PositionView, *, account: str, now_ms: int, seq_no: int) -> dict[str, Any]:
    """A position: ``size`` signed (negative short), ``side`` LONG/SHORT, unrealized PnL at the mark."""
    quantity = view.quantity
    return {
        "id": view.position_id or f"{account}-{view.symbol}",
        "account": account,
        "market": view.symbol,
        "status": "OPEN" if quantity != 0 else "CLOSED",
        "side": "SHORT" if quantity < 0 else "LONG",
        "size": fmt(quantity),
        "average_entry_price": fmt(view.entry_price),
        "average_entry_price_usd": fmt(view.entry_price),
        "cost": money(quantity * view.entry_price),
        "cost_usd": money(quantity * view.entry_price),
        "unrealized_pnl": money(view.unrealized_pnl),
        "unrealized_funding_pnl": "0",
        "realized_positional_pnl": fmt(view.realized_pnl),
        "realized_positional_funding_pnl": fmt(view.funding),
        "liquidation_price": "",
        "leverage": "",
        "last_updated_at": now_ms,
        "seq_no": seq_no,
    }


def funding_json(row: FundingRow, *, account: str) -> dict[str, Any]:
    return {
        "id": f"{account}-{row.symbol}-{row.interval_end_ms}",
        "account": account,
        "market": row.symbol,
        "payment": fmt(row.amount),
        "index": fmt(row.rate),
        "fill_id": "",
        "created_at": row.interval_end_ms,
    }


def market_json(rules: MarketRules, *, funding_period_hours: Decimal, max_open_orders: int) -> dict[str, Any]:
    return {
        "symbol": rules.symbol,
        "base_currency": rules.base_asset,
        "quote_currency": rules.quote_asset,
        "settlement_currency": "USDC",
        "asset_kind": "PERP",
        "market_kind": "cross",
        "price_tick_size": fmt(rules.tick_size),
        "order_size_increment": fmt(rules.step_size),
        "min_notional": fmt(rules.min_notional),
        "position_limit": "1000000",
        "max_open_orders": max_open_orders,
        "funding_period_hours": fmt(funding_period_hours),
        "open_at": 0,
        "expiry_at": 0,
    }


def summary_json(
    symbol: str,
    state: MarkState,
    *,
    bid: Decimal | None,
    ask: Decimal | None,
    last: Decimal | None,
    now_ms: int,
) -> dict[str, Any]:
    def text(value: Decimal | None) -> str:
        return fmt(value) if value is not None else ""

    return {
        "symbol": symbol,
        "mark_price": text(state.mark),
        "underlying_price": text(state.index),
        "last_traded_price": text(last),
        "bid": text(bid),
        "ask": text(ask),
        "funding_rate": fmt(state.funding_rate),
        "open_interest": "0",
        "volume_24h": "0",
        "created_at": now_ms,
    }
