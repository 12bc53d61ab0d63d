"""The Backpack front's trigger orders: placed, listed, cancelled, and fired as the market moves.

``backpack_triggers`` holds the rules; this desk ties them to the running
emulator: it watches trades (``LastPrice``) and marks (``MarkPrice``,
``IndexPrice``), fires the orders they reach on the next loop turn (never
inside another publish), and streams each trigger's own updates
(``triggerPlaced``, ``orderCancelled``, ``triggerFailed``) through ``notify``.
A reset of the emulator forgets every trigger order with the old book.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from services.wire import OrderType
from venues.emulator.backpack_errors import invalid_request
from venues.emulator.backpack_format import trigger_json, trigger_update
from venues.emulator.backpack_triggers import (
    CANCELLED,
    FAILED,
    PENDING,
    TRIGGER_BY,
    TRIGGERED,
    TriggerBook,
    TriggerOrder,
    carried_quantity,
    parse_trigger_quantity,
)
from venues.emulator.core import EmulatorCore
from venues.emulator.engine import Engine
from venues.emulator.events import Event, MarkEvent, TradeEvent
from venues.emulator.records import Order, OrderRejected, OrderRequest

Notify = Callable[[str, dict[str, Any]], None]  # (api key, order update payload)


class TriggerDesk:
    def __init__(self, core: EmulatorCore, *, notify: Notify) -> None:
        self.core = core
        self.notify = notify
        self._book = TriggerBook()
        self._engine: Engine = core.engine
        core.add_listener(self._observe)

    @property
    def book(self) -> TriggerBook:
        if self.core.engine is not self._engine:  # reset: a fresh market has no trigger orders
            self._engine = self.core.engine
            self._book.clear()
        return self._book

    def place(self, api_key: str, request: OrderRequest, body: Mapping[str, Any]) -> dict[str, Any]:
        """Accept a trigger order (``body`` has ``triggerPrice``); its JSON, status ``TriggerPending``."""
        rules = self.core.profiles[request.symbol].rules
        trigger_price = _positive(body, "triggerPrice")
        if trigger_price % rules.tick_size:
            raise invalid_request("Trigger price decimal too long")
        trigger_by = body.get("triggerBy") or "LastPrice"
        if trigger_by not in TRIGGER_BY:
            raise invalid_request("Invalid triggerBy")
        raw_quantity = body.get("triggerQuantity")
        if raw_quantity is not None:
            try:
                parse_trigger_quantity(str(raw_quantity))
            except ValueError as exc:
                raise invalid_request(str(exc)) from None
        elif request.quantity is None:
            raise invalid_request("Quantity is required")
        if request.order_type is OrderType.LIMIT and request.price is None:
            raise invalid_request("Price is required for a limit order")
        reference = self._reference(request.symbol, trigger_by) or trigger_price
        trigger = TriggerOrder(
            order_id=self.core.engine.ids.order(),
            account_id=api_key,
            request=request,
            trigger_price=trigger_price,
            trigger_by=trigger_by,
            trigger_quantity=None if raw_quantity is None else str(raw_quantity),
            rises=trigger_price > reference,
            created_ms=self.core.now_ms(),
        )
        self.book.add(trigger)
        self._stream(trigger, "triggerPlaced")
        return trigger_json(trigger)

    def open(self, api_key: str, symbol: str | None) -> list[TriggerOrder]:
        """Pending orders, and triggered ones while the order they placed rests."""
        engine = self.core.engine
        return [
            trigger
            for trigger in self.book.all(api_key, symbol)
            if trigger.status == PENDING
            or (
                trigger.status == TRIGGERED
                and engine.find_open(api_key, trigger.symbol, order_id=trigger.child_id) is not None
            )
        ]

    def find(
        self, api_key: str, symbol: str, *, order_id: str | None, client_id: int | None
    ) -> TriggerOrder | None:
        found = self.book.find(api_key, symbol, order_id=order_id, client_id=client_id)
        return found if found is not None and found in self.open(api_key, symbol) else None

    def cancel(self, trigger: TriggerOrder) -> dict[str, Any]:
        closed = self.book.close(trigger, CANCELLED)
        self._stream(trigger, "orderCancelled")
        return trigger_json(closed)

    # ------------------------------------------------------------ firing

    def _reference(self, symbol: str, trigger_by: str) -> Decimal | None:
        if trigger_by == "LastPrice":
            return self.core.engine.stats(symbol).summary(self.core.now_ms()).last_price
        state = self.core.engine.mark_state(symbol)
        return state.mark if trigger_by == "MarkPrice" else state.index

    def _observe(self, events: Sequence[Event]) -> None:
        due: list[TriggerOrder] = []
        for event in events:
            if isinstance(event, TradeEvent):
                due += self.book.due(event.symbol, "LastPrice", event.price)
            elif isinstance(event, MarkEvent):
                due += self.book.due(event.symbol, "MarkPrice", event.mark)
                due += self.book.due(event.symbol, "IndexPrice", event.index)
        if due:
            asyncio.get_running_loop().call_soon(self._fire, due)

    def _fire(self, due: list[TriggerOrder]) -> None:
        engine = self.core.engine
        for trigger in due:
            if trigger.status != PENDING or engine is not self._engine:
                continue
            rules = self.core.profiles[trigger.symbol].rules
            position = engine.position(trigger.account_id, trigger.symbol).quantity
            quantity = carried_quantity(trigger, position=position, step=rules.step_size)
            request = dataclasses.replace(trigger.request, quantity=quantity)
            order: Order | None = None
            events: list[Event] = []
            if quantity > 0:
                with contextlib.suppress(OrderRejected):
                    order, events = engine.place(trigger.account_id, request, now_ms=self.core.now_ms())
            if order is None:
                self.book.close(trigger, FAILED)
                self._stream(trigger, "triggerFailed")
                continue
            trigger.child_id = order.order_id
            self.book.close(trigger, TRIGGERED, now_ms=self.core.now_ms())
            self.core.publish(events)

    def _stream(self, trigger: TriggerOrder, event: str) -> None:
        self.notify(trigger.account_id, trigger_update(trigger, event=event, now_us=self.core.now_us()))


def _positive(body: Mapping[str, Any], name: str) -> Decimal:
    raw = body.get(name)
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        raise invalid_request(f"Invalid {name}") from None
    if isinstance(raw, bool) or not value.is_finite() or value <= 0:
        raise invalid_request(f"Invalid {name}")
    return value
