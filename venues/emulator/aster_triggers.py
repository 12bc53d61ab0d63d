"""Aster's conditional order entry over the emulator: place, list, cancel and trigger stops and take-profits.

A conditional order takes its id from the engine's id source and rests here,
off the book, until its working price crosses; then it goes to the engine as
a ``LIMIT`` or ``MARKET`` order under the same id (``closePosition``: a
reduce-only market order for the whole position), and the streams show its
original type in ``ot``.  A trigger the engine refuses (a reduce-only with
nothing to reduce) ends the order ``EXPIRED``.  Placing one that would
trigger at once is refused with -2021, the stricter reading of the docs.
``liquidate`` closes a position as the venue's liquidation engine does: an
order of type ``LIQUIDATION``, client id ``autoclose-...``, whose fills stream
with execution type ``CALCULATED``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from services.wire import OrderType, Side, TimeInForce
from venues.emulator.aster_conditional import (
    CONDITIONAL_TYPES,
    LIQUIDATION,
    TRAILING,
    WORKING_TYPES,
    Conditional,
    ConditionalBook,
)
from venues.emulator.aster_errors import AsterApiError, bad_param, missing, rejection
from venues.emulator.aster_filters import decimal_param
from venues.emulator.aster_format import conditional_json, conditional_update
from venues.emulator.aster_state import ClientOrderIds
from venues.emulator.core import EmulatorCore
from venues.emulator.engine import Engine
from venues.emulator.records import OrderRejected, OrderRequest
from venues.emulator.validation import check_request

UserEvent = Callable[[str, dict[str, Any]], None]
MIN_CALLBACK_RATE = Decimal("0.1")
MAX_CALLBACK_RATE = Decimal(5)


def _decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    """A positive decimal parameter (None when absent); anything else is -1100."""
    value = decimal_param(params, name)
    if value is not None and value <= 0:
        raise bad_param(f"Illegal characters found in parameter '{name}'.", code=-1100)
    return value


def would_trigger() -> AsterApiError:
    return AsterApiError(400, -2021, "Order would immediately trigger.")


class ConditionalOrders:
    def __init__(self, core: EmulatorCore, client_ids: ClientOrderIds) -> None:
        self.core = core
        self.client_ids = client_ids
        self.user_event: UserEvent = lambda _account, _data: None
        self._book = ConditionalBook()
        self._engine: Engine | None = None

    @property
    def book(self) -> ConditionalBook:
        """The orders waiting on the current engine (a reset of the emulator clears them)."""
        if self._engine is not self.core.engine:
            self._engine = self.core.engine
            self._book.clear()
        return self._book

    def original_type(self, order_id: str) -> str | None:
        return self.book.original_type(order_id)

    def _prices(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """The last trade and the mark of ``symbol``."""
        engine = self.core.engine
        return engine.stats(symbol).summary(self.core.now_ms()).last_price, engine.mark_state(symbol).mark

    def place(
        self,
        account_id: str,
        params: Mapping[str, str],
        *,
        symbol: str,
        side: Side,
        client_order_id: str | None,
    ) -> dict[str, Any]:
        """Accept a conditional order (``type`` one of ``CONDITIONAL_TYPES``); its JSON answer."""
        kind = params["type"]
        assert kind in CONDITIONAL_TYPES
        close_position = params.get("closePosition", "false").lower() == "true"
        quantity = _decimal(params, "quantity")
        if close_position:
            if kind not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
                raise bad_param("closePosition is only for STOP_MARKET and TAKE_PROFIT_MARKET.", code=-1106)
            if quantity is not None or params.get("reduceOnly", "false").lower() == "true":
                raise bad_param("Parameter 'quantity' or 'reduceOnly' sent with closePosition.", code=-1106)
        elif quantity is None:
            raise missing("quantity")
        working_type = params.get("workingType") or "CONTRACT_PRICE"
        if working_type not in WORKING_TYPES:
            raise bad_param("Invalid workingType.", code=-1116)
        order = Conditional(
            order_id="",
            account_id=account_id,
            symbol=symbol,
            side=side,
            kind=kind,
            quantity=quantity,
            price=_decimal(params, "price"),
            stop_price=_decimal(params, "stopPrice"),
            activation_price=_decimal(params, "activationPrice"),
            callback_rate=_decimal(params, "callbackRate"),
            working_type=working_type,
            time_in_force=params.get("timeInForce") or "GTC",
            reduce_only=params.get("reduceOnly", "false").lower() == "true",
            close_position=close_position,
            created_ms=self.core.now_ms(),
        )
        self._check(order)
        order.order_id = self.core.engine.ids.order()
        self.book.add(order)
        text = self.client_ids.assign(account_id, symbol, order.order_id, client_order_id)
        now_ms = self.core.now_ms()
        self.user_event(
            account_id,
            conditional_update(order, client_order_id=text, execution="NEW", status="NEW", now_ms=now_ms),
        )
        return conditional_json(order, client_order_id=text, status="NEW", update_ms=now_ms)

    def _check(self, order: Conditional) -> None:
        """Refuse what the venue refuses: missing prices, off tick or step, an immediate trigger."""
        if order.kind == TRAILING:
            rate = order.callback_rate
            if rate is None:
                raise missing("callbackRate")
            if not MIN_CALLBACK_RATE <= rate <= MAX_CALLBACK_RATE:
                raise bad_param("callbackRate must be between 0.1 and 5.", code=-1130)
        elif order.stop_price is None:
            raise missing("stopPrice")
        if order.limit and order.price is None:
            raise missing("price")
        if order.time_in_force not in ("GTC", "IOC", "FOK", "GTX"):
            raise bad_param("Invalid timeInForce.", code=-1115)
        engine = self.core.engine
        rules = engine.markets[order.symbol]
        known = engine.has_account(order.account_id)
        # Probes the engine judges: each price with the smallest quantity, the quantity at market.
        probes = [
            OrderRequest(symbol=order.symbol, side=order.side, quantity=rules.min_quantity, price=price)
            for price in (order.stop_price, order.price, order.activation_price)
            if price is not None
        ]
        if order.quantity is not None:
            probes.append(
                OrderRequest(
                    symbol=order.symbol, side=order.side, order_type=OrderType.MARKET, quantity=order.quantity
                )
            )
        try:
            for probe in probes:
                check_request(probe, rules, known_account=known)
        except OrderRejected as error:
            raise rejection(error) from None
        last, mark = self._prices(order.symbol)
        price = mark if order.working_type == "MARK_PRICE" else last
        if order.kind != TRAILING and price is not None and order.triggered(price):
            raise would_trigger()
        if order.kind == TRAILING and order.activation_price is not None and price is not None:
            buy = order.side is Side.BUY
            if (order.activation_price >= price) if buy else (order.activation_price <= price):
                raise would_trigger()

    def find(self, account_id: str, symbol: str, order_id: str) -> Conditional | None:
        order = self.book.get(order_id)
        return (
            order if order is not None and (order.account_id, order.symbol) == (account_id, symbol) else None
        )

    def json(self, order: Conditional, *, status: str = "NEW") -> dict[str, Any]:
        text = self.client_ids.of(order.order_id)
        return conditional_json(order, client_order_id=text, status=status, update_ms=self.core.now_ms())

    def cancel(self, order: Conditional, *, status: str = "CANCELED") -> dict[str, Any]:
        """End a waiting order (cancelled, or expired when its trigger was refused); its JSON answer."""
        self.book.remove(order.order_id)
        text = self.client_ids.of(order.order_id)
        update = conditional_update(
            order, client_order_id=text, execution=status, status=status, now_ms=self.core.now_ms()
        )
        self.user_event(order.account_id, update)
        return self.json(order, status=status)

    def open_json(self, account_id: str, symbol: str | None) -> list[dict[str, Any]]:
        return [self.json(order) for order in self.book.waiting(account_id, symbol)]

    def fire(self) -> None:
        """Trigger every order whose working price has crossed: it goes to the engine under its id."""
        engine = self.core.engine
        for symbol in self.core.profiles:
            if not self.book.waiting_on(symbol):
                continue
            last, mark = self._prices(symbol)
            for order in self.book.fire(symbol, last=last, mark=mark):
                self._trigger(engine, order)

    def _trigger(self, engine: Engine, order: Conditional) -> None:
        quantity = order.quantity
        if order.close_position:
            quantity = abs(engine.position(order.account_id, order.symbol).quantity)
        tif = order.time_in_force
        request = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            order_type=OrderType.LIMIT if order.limit else OrderType.MARKET,
            quantity=quantity or None,
            price=order.price if order.limit else None,
            tif=TimeInForce.IOC if tif in ("IOC", "FOK") else TimeInForce.GTC,
            fill_or_kill=tif == "FOK",
            post_only=tif == "GTX" and order.limit,
            reduce_only=order.reduce_only or order.close_position,
        )
        try:
            _, events = engine.place(
                order.account_id,
                request,
                now_ms=self.core.now_ms(),
                order_id=order.order_id,
                post_only_expires=True,
            )
        except OrderRejected:
            self.cancel(order, status="EXPIRED")
            return
        self.core.publish(events)

    def liquidate(self, account_id: str, symbol: str) -> str | None:
        """Close the position on ``symbol`` at market as a liquidation; its order id (None: flat)."""
        engine = self.core.engine
        quantity = engine.position(account_id, symbol).quantity
        if quantity == 0:
            return None
        now_ms = self.core.now_ms()
        order_id = engine.ids.order()
        self.book.name(order_id, LIQUIDATION)
        self.client_ids.assign(account_id, symbol, order_id, f"autoclose-{now_ms}")
        request = OrderRequest(
            symbol=symbol,
            side=Side.SELL if quantity > 0 else Side.BUY,
            order_type=OrderType.MARKET,
            quantity=abs(quantity),
            reduce_only=True,
        )
        _, events = engine.place(account_id, request, now_ms=now_ms, order_id=order_id)
        self.core.publish(events)
        return order_id
