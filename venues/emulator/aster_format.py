"""Aster's JSON shapes for engine records (pure): orders, positions, trades, income, stream events."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from services.wire import OrderStatus, OrderType, Side, TimeInForce
from venues.emulator.accounts import PositionView
from venues.emulator.aster_conditional import LIQUIDATION, TRAILING, Conditional
from venues.emulator.events import OrderEvent, OrderEventKind
from venues.emulator.records import Fill, FundingRow, Order
from venues.precision import MarketRules, fmt

SIDE = {Side.BUY: "BUY", Side.SELL: "SELL"}
SIDE_FROM = {text: side for side, text in SIDE.items()}
STATUS = {
    OrderStatus.NEW: "NEW",
    OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "REJECTED",
}
EXECUTION = {
    OrderEventKind.ACCEPTED: "NEW",
    OrderEventKind.FILL: "TRADE",
    OrderEventKind.CANCELLED: "CANCELED",
    OrderEventKind.EXPIRED: "EXPIRED",
    OrderEventKind.MODIFIED: "AMENDMENT",
}
QUOTE_ASSET = "USDT"
UNBOUNDED_QUANTITY = Decimal(1_000_000)  # what exchangeInfo lists for a market without a size bound
DEFAULT_BAND = (Decimal("0.95"), Decimal("1.05"))  # PERCENT_PRICE multipliers for a market without a band
_MONEY = Decimal("0.00000001")


def money(value: Decimal) -> str:
    return fmt(value.quantize(_MONEY, rounding=ROUND_HALF_EVEN))


def _places(increment: Decimal) -> int:
    exponent = increment.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def tif_text(order: Order) -> str:
    if order.post_only:
        return "GTX"
    if order.fill_or_kill:
        return "FOK"
    return "IOC" if order.tif is TimeInForce.IOC else "GTC"


def average_price(order: Order) -> str:
    if not order.filled_quantity:
        return "0"
    return fmt((order.filled_quote / order.filled_quantity).quantize(Decimal("0.00001")))


def order_json(
    order: Order, *, client_order_id: str, update_ms: int, orig_type: str | None = None
) -> dict[str, Any]:
    """An order as ``POST/GET/DELETE order`` and ``openOrders`` return it (``orig_type``: if triggered)."""
    kind = "MARKET" if order.order_type is OrderType.MARKET else "LIMIT"
    return {
        "orderId": int(order.order_id),
        "symbol": order.symbol,
        "status": STATUS[order.status],
        "clientOrderId": client_order_id,
        "price": fmt(order.price) if order.price is not None else "0",
        "avgPrice": average_price(order),
        "origQty": fmt(order.quantity) if order.quantity is not None else "0",
        "executedQty": fmt(order.filled_quantity),
        "cumQty": fmt(order.filled_quantity),
        "cumQuote": money(order.filled_quote),
        "timeInForce": tif_text(order),
        "type": kind,
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": SIDE[order.side],
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": orig_type or kind,
        "time": order.created_ms,
        "updateTime": update_ms,
    }


def market_json(rules: MarketRules, *, max_price: Decimal) -> dict[str, Any]:
    """A perpetual as ``exchangeInfo`` lists it."""
    tick, step = fmt(rules.tick_size), fmt(rules.step_size)
    return {
        "symbol": rules.symbol,
        "pair": rules.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": rules.base_asset,
        "quoteAsset": QUOTE_ASSET,
        "marginAsset": QUOTE_ASSET,
        "pricePrecision": _places(rules.tick_size),
        "quantityPrecision": _places(rules.step_size),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "triggerProtect": "0.0500",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": fmt(max_price), "tickSize": tick},
            {
                "filterType": "LOT_SIZE",
                "stepSize": step,
                "maxQty": fmt(rules.max_quantity or UNBOUNDED_QUANTITY),
                "minQty": fmt(rules.min_quantity),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "stepSize": step,
                "maxQty": fmt(rules.max_market_quantity or UNBOUNDED_QUANTITY),
                "minQty": fmt(rules.min_quantity),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(rules.min_notional)},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": f"{rules.price_up or DEFAULT_BAND[1]:.4f}",
                "multiplierDown": f"{rules.price_down or DEFAULT_BAND[0]:.4f}",
                "multiplierDecimal": 4,
            },
        ],
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def position_json(
    view: PositionView, *, leverage: Decimal, liquidation: Decimal, update_ms: int
) -> dict[str, Any]:
    """A one-way (``BOTH``) ``positionRisk`` row."""
    mark = view.mark if view.mark is not None else view.entry_price
    return {
        "symbol": view.symbol,
        "positionAmt": fmt(view.quantity),
        "entryPrice": fmt(view.entry_price),
        "markPrice": fmt(mark),
        "unRealizedProfit": money(view.unrealized_pnl),
        "liquidationPrice": fmt(liquidation),
        "leverage": fmt(leverage),
        "maxNotionalValue": "1000000",
        "marginType": "cross",
        "isolatedMargin": "0",
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notional": money(view.quantity * mark),
        "isolatedWallet": "0",
        "updateTime": update_ms,
    }


def trade_json(fill: Fill) -> dict[str, Any]:
    """A ``userTrades`` row."""
    return {
        "buyer": fill.side is Side.BUY,
        "commission": fmt(fill.fee),
        "commissionAsset": fill.fee_asset or QUOTE_ASSET,
        "id": fill.trade_id,
        "maker": fill.is_maker,
        "orderId": int(fill.order_id),
        "price": fmt(fill.price),
        "qty": fmt(fill.quantity),
        "quoteQty": money(fill.price * fill.quantity),
        "realizedPnl": "0",
        "side": SIDE[fill.side],
        "positionSide": "BOTH",
        "symbol": fill.symbol,
        "time": fill.ts_ms,
    }


def income_json(row: FundingRow, *, tran_id: int) -> dict[str, Any]:
    """An ``income`` row of type ``FUNDING_FEE``."""
    return {
        "symbol": row.symbol,
        "incomeType": "FUNDING_FEE",
        "income": money(row.amount),
        "asset": QUOTE_ASSET,
        "info": "FUNDING_FEE",
        "time": row.interval_end_ms,
        "tranId": tran_id,
        "tradeId": "",
    }


def order_trade_update(
    event: OrderEvent, *, client_order_id: str, now_ms: int, orig_type: str | None = None
) -> dict[str, Any]:
    """An ``ORDER_TRADE_UPDATE`` user-stream event (``orig_type``: a triggered conditional order's)."""
    order, fill = event.order, event.fill
    kind = "MARKET" if order.order_type is OrderType.MARKET else "LIMIT"
    execution = EXECUTION[event.kind]
    if orig_type == LIQUIDATION:
        # The venue's liquidation engine: its own order type, and CALCULATED for its executions.
        kind = LIQUIDATION
        execution = "CALCULATED" if event.kind is OrderEventKind.FILL else execution
    body: dict[str, Any] = {
        "s": order.symbol,
        "c": client_order_id,
        "S": SIDE[order.side],
        "o": kind,
        "f": tif_text(order),
        "q": fmt(order.quantity) if order.quantity is not None else "0",
        "p": fmt(order.price) if order.price is not None else "0",
        "ap": average_price(order),
        "sp": "0",
        "x": execution,
        "X": STATUS[order.status],
        "i": int(order.order_id),
        "l": fmt(fill.quantity) if fill else "0",
        "z": fmt(order.filled_quantity),
        "L": fmt(fill.price) if fill else "0",
        "N": (fill.fee_asset or QUOTE_ASSET) if fill else QUOTE_ASSET,
        "n": fmt(fill.fee) if fill else "0",
        "T": event.ts_ms,
        "t": fill.trade_id if fill else 0,
        "b": "0",
        "a": "0",
        "m": fill.is_maker if fill else False,
        "R": order.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": orig_type or kind,
        "ps": "BOTH",
        "cp": False,
        "rp": "0",
    }
    return {"e": "ORDER_TRADE_UPDATE", "E": now_ms, "T": event.ts_ms, "o": body}


def conditional_json(
    order: Conditional, *, client_order_id: str, status: str, update_ms: int
) -> dict[str, Any]:
    """A conditional order that has not triggered, as the order endpoints return it."""
    quantity = fmt(order.quantity) if order.quantity is not None else "0"
    body: dict[str, Any] = {
        "orderId": int(order.order_id),
        "symbol": order.symbol,
        "status": status,
        "clientOrderId": client_order_id,
        "price": fmt(order.price) if order.price is not None else "0",
        "avgPrice": "0",
        "origQty": quantity,
        "executedQty": "0",
        "cumQty": "0",
        "cumQuote": "0",
        "timeInForce": order.time_in_force,
        "type": order.kind,
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "side": SIDE[order.side],
        "positionSide": "BOTH",
        "stopPrice": fmt(order.stop_price) if order.stop_price is not None else "0",
        "workingType": order.working_type,
        "priceProtect": False,
        "origType": order.kind,
        "time": order.created_ms,
        "updateTime": update_ms,
    }
    if order.kind == TRAILING:
        assert order.callback_rate is not None
        body["activatePrice"] = fmt(order.activation_price) if order.activation_price is not None else "0"
        body["priceRate"] = fmt(order.callback_rate)
    return body


def conditional_update(
    order: Conditional, *, client_order_id: str, execution: str, status: str, now_ms: int
) -> dict[str, Any]:
    """An ``ORDER_TRADE_UPDATE`` for a conditional order that has not triggered (placed, cancelled)."""
    body: dict[str, Any] = {
        "s": order.symbol,
        "c": client_order_id,
        "S": SIDE[order.side],
        "o": order.kind,
        "f": order.time_in_force,
        "q": fmt(order.quantity) if order.quantity is not None else "0",
        "p": fmt(order.price) if order.price is not None else "0",
        "ap": "0",
        "sp": fmt(order.stop_price) if order.stop_price is not None else "0",
        "x": execution,
        "X": status,
        "i": int(order.order_id),
        "l": "0",
        "z": "0",
        "L": "0",
        "T": now_ms,
        "t": 0,
        "b": "0",
        "a": "0",
        "m": False,
        "R": order.reduce_only,
        "wt": order.working_type,
        "ot": order.kind,
        "ps": "BOTH",
        "cp": order.close_position,
        "rp": "0",
    }
    if order.kind == TRAILING:
        assert order.callback_rate is not None
        body["AP"] = fmt(order.activation_price) if order.activation_price is not None else "0"
        body["cr"] = fmt(order.callback_rate)
    return {"e": "ORDER_TRADE_UPDATE", "E": now_ms, "T": now_ms, "o": body}


def account_update(
    view: PositionView | None, *, wallet_balance: Decimal, reason: str, ts_ms: int, now_ms: int
) -> dict[str, Any]:
    """An ``ACCOUNT_UPDATE`` user-stream event for one position, or the balance alone (``view`` None).

    A funding fee on a cross-margin position comes as the balance alone, with no ``P`` list.
    """
    account: dict[str, Any] = {
        "m": reason,
        "B": [{"a": QUOTE_ASSET, "wb": money(wallet_balance), "cw": money(wallet_balance), "bc": "0"}],
    }
    if view is not None:
        account["P"] = [
            {
                "s": view.symbol,
                "pa": fmt(view.quantity),
                "ep": fmt(view.entry_price),
                "cr": money(view.realized_pnl),
                "up": money(view.unrealized_pnl),
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
            }
        ]
    return {"e": "ACCOUNT_UPDATE", "E": now_ms, "T": ts_ms, "a": account}
