"""Aster REST JSON to bus types, and bus requests to Aster order parameters (pure, no I/O).

Numbers are read exactly (``venues.common.parse``); anything missing or
malformed raises ``MalformedResponse``.  Aster's ``newClientOrderId`` is text:
ours is the wire's uint32 client id in decimal, and an order placed by another
tool (an id that is not such a number) has no client id on the bus.  An order
of a type perp-mm never places (a stop, take-profit, trailing stop or
liquidation, also once triggered: ``origType``) or with a status it does not
know is ``OrderType.CONDITIONAL`` with the venue's names in ``venue_type``,
never an error: the trader's own stop must not break the connector.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.wire import (
    Balance,
    Bbo,
    Fill,
    FundingPayment,
    Mark,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    RejectReason,
    Side,
    TimeInForce,
)
from venues.common.parse import MalformedResponse, dec, field, integer, opt_dec
from venues.precision import MarketRules, fmt

MAX_CLIENT_ID = 2**32 - 1
GTX = "GTX"  # Aster's post-only time in force: Good Till Crossing
SIDE_TO_VENUE = {Side.BUY: "BUY", Side.SELL: "SELL"}
_SIDE_FROM_VENUE = {"BUY": Side.BUY, "SELL": Side.SELL}
_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
    # Liquidation and auto-deleveraging orders trade at once.
    "NEW_INSURANCE": OrderStatus.FILLED,
    "NEW_ADL": OrderStatus.FILLED,
}


def side_from_venue(text: Any) -> Side:
    try:
        return _SIDE_FROM_VENUE[str(text).upper()]
    except KeyError:
        raise MalformedResponse(f"unknown side {text!r}") from None


def order_kind(type_text: Any, orig_type_text: Any, status_text: Any) -> tuple[OrderType, OrderStatus, str]:
    """The order type, status and ``venue_type`` of an order's ``type``, ``origType`` and ``status``.

    LIMIT and MARKET orders of a known status are perp-mm's kind; anything else
    (a conditional type, before or after its trigger, a liquidation, an unknown
    status) is ``CONDITIONAL``, resting (``NEW``) when its status is unknown.
    """
    kind = str(type_text or "").upper()
    if not kind:
        raise MalformedResponse("order without a type")
    original = str(orig_type_text or kind).upper()
    status = _STATUS.get(str(status_text).upper())
    if kind in ("LIMIT", "MARKET") and original == kind and status is not None:
        return OrderType(kind.lower()), status, ""
    if status is None:
        return OrderType.CONDITIONAL, OrderStatus.NEW, f"{original} {str(status_text).upper()}"
    return OrderType.CONDITIONAL, status, original


def client_id_from_venue(text: Any) -> int | None:
    """Our uint32 client id back from ``clientOrderId`` (None for ids other tools chose)."""
    value = str(text or "")
    if not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if number <= MAX_CLIENT_ID else None


def flag(value: Any) -> bool:
    """Aster's booleans come as JSON booleans or as the strings 'true'/'false'."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


# ---------------------------------------------------------------- requests


def order_params(order: Place, *, post_only_tif: str = GTX) -> list[tuple[str, str]]:
    """``POST order`` parameters for ``order``; post-only goes as ``post_only_tif`` (GTX or GTC)."""
    params = [
        ("symbol", order.symbol),
        ("side", SIDE_TO_VENUE[order.side]),
        ("type", "MARKET" if order.order_type is OrderType.MARKET else "LIMIT"),
        ("quantity", fmt(order.quantity)),
    ]
    if order.order_type is OrderType.LIMIT:
        if order.price is None:
            raise ValueError("a limit order needs a price")
        tif = "IOC" if order.tif is TimeInForce.IOC else "GTC"
        if order.post_only:
            tif = post_only_tif
        params += [("price", fmt(order.price)), ("timeInForce", tif)]
    if order.reduce_only:
        params.append(("reduceOnly", "true"))
    params.append(("newClientOrderId", str(order.client_id)))
    # The venue answers ACK (status NEW) by default; RESULT gives a market, IOC or GTX order's outcome.
    params.append(("newOrderRespType", "RESULT"))
    return params


def refusal_text(order: Place, rules: MarketRules, refusal: RejectReason) -> str:
    """Why an order was refused before it was sent, with the market's rules it broke."""
    shown = fmt(order.price) if order.price is not None and order.order_type is OrderType.LIMIT else "market"
    if refusal is RejectReason.MIN_NOTIONAL:
        return (
            f"refused locally: {fmt(order.quantity)} @ {shown} is below {order.symbol}'s minimum notional "
            f"of {fmt(rules.min_notional)} {rules.quote_asset} (only reduce-only orders may be smaller)"
        )
    largest = rules.max_order_quantity(market=order.order_type is OrderType.MARKET)
    bound = f", max {fmt(largest)}" if largest is not None else ""
    return (
        f"refused locally: {fmt(order.quantity)} @ {shown} does not fit {order.symbol} "
        f"(tick {fmt(rules.tick_size)}, step {fmt(rules.step_size)}, min {fmt(rules.min_quantity)}{bound})"
    )


def order_ref(symbol: str, order_id: str | None, client_id: int | None) -> dict[str, Any]:
    """The parameters naming one order by exchange id or by our client id (exactly one of them)."""
    if (order_id is None) == (client_id is None):
        raise ValueError("give exactly one of order_id and client_id")
    return {"symbol": symbol, "orderId": order_id, "origClientOrderId": client_id}


# ---------------------------------------------------------------- REST payloads


def order_from_rest(raw: Any) -> OrderUpdate:
    """An order object (place, query, cancel answers) as an ``OrderUpdate``."""
    order_type, status, venue_type = order_kind(field(raw, "type"), raw.get("origType"), field(raw, "status"))
    price = opt_dec(raw, "price")
    tif = str(raw.get("timeInForce") or "")
    return OrderUpdate(
        symbol=str(field(raw, "symbol")),
        order_id=str(integer(field(raw, "orderId"))),
        client_id=client_id_from_venue(raw.get("clientOrderId")),
        side=side_from_venue(field(raw, "side")),
        order_type=order_type,
        price=price if order_type is not OrderType.MARKET and price else None,
        quantity=dec(field(raw, "origQty")),
        filled_quantity=dec(raw.get("executedQty") or 0),
        status=status,
        post_only=tif == GTX,
        reduce_only=flag(raw.get("reduceOnly")),
        reason="",
        venue_type=venue_type,
    )


def placement_rejection(update: OrderUpdate) -> RejectReason | None:
    """Why an order that came back ``EXPIRED`` with nothing filled was in fact refused."""
    if update.status is OrderStatus.EXPIRED and not update.filled_quantity and update.post_only:
        return RejectReason.POST_ONLY_WOULD_TAKE
    return None


def _bound(raw: Mapping[str, Any] | None, key: str) -> Decimal | None:
    """A filter's positive limit (None when the filter or the key is absent, or zero: no bound)."""
    value = opt_dec(raw, key) if raw is not None else None
    return value if value is not None and value > 0 else None


def market_rules(raw: Any) -> MarketRules | None:
    """A perpetual's tick, step, size bounds, minimum notional and percent-price band (None for others)."""
    if not isinstance(raw, Mapping):
        raise MalformedResponse("a market must be an object")
    if str(raw.get("contractType") or "PERPETUAL") != "PERPETUAL":
        return None
    filters = {str(f.get("filterType")): f for f in field(raw, "filters") if isinstance(f, Mapping)}
    price, lot = filters.get("PRICE_FILTER"), filters.get("LOT_SIZE")
    if price is None or lot is None:
        raise MalformedResponse(f"{raw.get('symbol')}: no PRICE_FILTER or LOT_SIZE filter")
    step = dec(field(lot, "stepSize"))
    notional = filters.get("MIN_NOTIONAL")
    band = filters.get("PERCENT_PRICE")
    return MarketRules(
        symbol=str(field(raw, "symbol")),
        base_asset=str(field(raw, "baseAsset")),
        quote_asset=str(field(raw, "quoteAsset")),
        tick_size=dec(field(price, "tickSize")),
        step_size=step,
        min_quantity=dec(lot.get("minQty") or step),
        min_notional=dec(notional.get("notional") or notional.get("minNotional") or 0)
        if notional
        else Decimal(0),
        max_quantity=_bound(lot, "maxQty"),
        max_market_quantity=_bound(filters.get("MARKET_LOT_SIZE"), "maxQty"),
        price_up=_bound(band, "multiplierUp"),
        price_down=_bound(band, "multiplierDown"),
    )


def minute_limits(raw: Any) -> dict[str, int]:
    """exchangeInfo's ``rateLimits`` per minute by type (``REQUEST_WEIGHT``, ``ORDERS``); others skipped."""
    limits: dict[str, int] = {}
    for row in raw if isinstance(raw, list) else []:
        if not isinstance(row, Mapping) or row.get("interval") != "MINUTE" or row.get("intervalNum") != 1:
            continue
        limit = row.get("limit")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            limits[str(row.get("rateLimitType"))] = limit
    return limits


def mark_from_rest(raw: Any) -> Mark:
    """A ``premiumIndex`` row."""
    return Mark(
        symbol=str(field(raw, "symbol")),
        mark=dec(field(raw, "markPrice")),
        index=opt_dec(raw, "indexPrice"),
        funding_rate=opt_dec(raw, "lastFundingRate"),
        next_funding_ms=integer(raw.get("nextFundingTime") or 0),
    )


def bbo_from_rest(raw: Any) -> Bbo:
    """A ``ticker/bookTicker`` row."""
    return Bbo(
        symbol=str(field(raw, "symbol")),
        bid=dec(field(raw, "bidPrice")),
        bid_qty=dec(field(raw, "bidQty")),
        ask=dec(field(raw, "askPrice")),
        ask_qty=dec(field(raw, "askQty")),
    )


def fill_from_rest(raw: Any) -> Fill:
    """A ``userTrades`` row (the venue does not repeat the client id there)."""
    return Fill(
        symbol=str(field(raw, "symbol")),
        trade_id=str(integer(field(raw, "id"))),
        order_id=str(integer(field(raw, "orderId"))),
        client_id=None,
        side=side_from_venue(field(raw, "side")),
        price=dec(field(raw, "price")),
        quantity=dec(field(raw, "qty")),
        fee=dec(raw.get("commission") or 0),
        fee_asset=str(raw.get("commissionAsset") or ""),
        is_maker=flag(raw.get("maker")),
    )


def funding_from_rest(raw: Any) -> FundingPayment:
    """An ``income`` row of type ``FUNDING_FEE`` (``income`` > 0 is received)."""
    return FundingPayment(
        symbol=str(field(raw, "symbol")),
        payment_id=str(field(raw, "tranId")),
        amount=dec(field(raw, "income")),
    )


def balance_from_account(raw: Any, *, asset: str = "USDT") -> Balance:
    """``GET account``: margin balance as equity; margin fraction = equity over position notional."""
    equity = dec(field(raw, "totalMarginBalance"))
    notional = sum(
        (abs(dec(p.get("notional") or 0)) for p in raw.get("positions") or [] if isinstance(p, Mapping)),
        Decimal(0),
    )
    return Balance(
        asset=asset,
        equity=equity,
        available=dec(field(raw, "availableBalance")),
        margin_fraction=equity / notional if notional else None,
    )


# ---------------------------------------------------------------- positions


@dataclass(slots=True)
class _Leg:
    quantity: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal | None
    mark_price: Decimal | None
    event_ms: int = 0  # the event time of the stream update that set it (0: REST)


@dataclass(slots=True)
class PositionLegs:
    """One symbol's position as legs by ``positionSide`` (BOTH in one-way mode, LONG/SHORT in hedge mode).

    REST lists every leg; a stream update lists only legs that changed, so the
    legs are kept and the net position is computed from all of them.  The
    venue does not promise its user-data events in order: a stream update older
    (by event time ``E``) than the one that set a leg is ignored for that leg.
    """

    symbol: str
    legs: dict[str, _Leg] = dataclasses.field(default_factory=dict)

    def update(
        self, rows: Iterable[Any], *, quantity_key: str, entry_key: str, pnl_key: str, event_ms: int = 0
    ) -> bool:
        """Take the rows of this symbol, except for legs a later event set; True when any was taken."""
        seen = False
        for row in rows:
            if not isinstance(row, Mapping) or str(row.get("symbol", row.get("s"))) != self.symbol:
                continue
            side = str(row.get("positionSide", row.get("ps")) or "BOTH").upper()
            if side not in ("BOTH", "LONG", "SHORT"):
                raise MalformedResponse(f"unknown positionSide {side!r}")
            current = self.legs.get(side)
            if current is not None and event_ms and current.event_ms > event_ms:
                continue
            quantity = dec(field(row, quantity_key))
            # Hedge mode reports SHORT legs as negative amounts; some answers use magnitudes.
            if side == "SHORT":
                quantity = -abs(quantity)
            elif side == "LONG":
                quantity = abs(quantity)
            self.legs[side] = _Leg(
                quantity=quantity,
                entry_price=dec(row.get(entry_key) or 0),
                unrealized_pnl=opt_dec(row, pnl_key),
                mark_price=opt_dec(row, "markPrice"),
                event_ms=event_ms,
            )
            seen = True
        return seen

    def net(self) -> Position:
        """The net position; the entry price is the quantity-weighted entry of the open legs."""
        open_legs = [leg for leg in self.legs.values() if leg.quantity]
        quantity = sum((leg.quantity for leg in open_legs), Decimal(0))
        if not open_legs or not quantity:
            return Position(symbol=self.symbol, quantity=Decimal(0), entry_price=Decimal(0))
        same_side = [leg for leg in open_legs if (leg.quantity > 0) == (quantity > 0)]
        size = sum((abs(leg.quantity) for leg in same_side), Decimal(0))
        entry = sum((abs(leg.quantity) * leg.entry_price for leg in same_side), Decimal(0)) / size
        pnls = [leg.unrealized_pnl for leg in open_legs]
        marks = [leg.mark_price for leg in open_legs if leg.mark_price is not None]
        return Position(
            symbol=self.symbol,
            quantity=quantity,
            entry_price=entry,
            mark_price=marks[0] if marks else None,
            unrealized_pnl=None if None in pnls else sum((p for p in pnls if p is not None), Decimal(0)),
        )


def legs_from_rest(rows: Any, symbol: str) -> PositionLegs:
    """``positionRisk`` rows as ``symbol``'s legs, whichever position mode the account is in."""
    if not isinstance(rows, list):
        raise MalformedResponse("positionRisk answer is not a list")
    legs = PositionLegs(symbol)
    legs.update(rows, quantity_key="positionAmt", entry_key="entryPrice", pnl_key="unRealizedProfit")
    return legs


def update_legs_from_ws(legs: PositionLegs, account_update: Any) -> bool:
    """Apply an ``ACCOUNT_UPDATE``'s ``a.P`` rows in event-time order; True when one changed the legs.

    A funding fee on a cross-margin position comes with the balance alone and no ``P`` list.
    """
    account = field(account_update, "a") if isinstance(account_update, Mapping) else None
    if not isinstance(account, Mapping):
        raise MalformedResponse("ACCOUNT_UPDATE without an account object")
    rows = account.get("P")
    if rows is None:
        return False
    if not isinstance(rows, list):
        raise MalformedResponse("ACCOUNT_UPDATE position list is not a list")
    event_ms = integer(account_update.get("E") or 0)
    return legs.update(rows, quantity_key="pa", entry_key="ep", pnl_key="up", event_ms=event_ms)
