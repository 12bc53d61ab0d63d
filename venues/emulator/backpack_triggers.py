"""Backpack's trigger (conditional) orders over the emulator: they rest off the book until triggered (pure).

An ``orderExecute`` with ``triggerPrice`` is a trigger order, as a stop or
take-profit set in the venue's web app is.  It is answered ``TriggerPending``,
listed, queried and cancelled with the open orders (cancel-all takes it too
unless ``orderType`` is ``RestingLimitOrder``) and holds no margin.  When its
reference price (``triggerBy``: ``LastPrice`` unless given, ``MarkPrice``,
``IndexPrice``) reaches ``triggerPrice`` from the side it stood on when
placed, it is ``Triggered``: the Market or Limit order it carries goes to the
book with an id of its own (``quantity``, or ``triggerQuantity`` as an amount
or a percent of the position, floored to the step), and the trigger stays
listed as ``Triggered`` while that order rests.  A carried order that cannot
be placed ends it ``TriggerFailed``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from venues.emulator.records import OrderRequest

PENDING = "TriggerPending"
TRIGGERED = "Triggered"
FAILED = "TriggerFailed"
CANCELLED = "Cancelled"
TRIGGER_BY = ("LastPrice", "MarkPrice", "IndexPrice")


@dataclass(slots=True, kw_only=True)
class TriggerOrder:
    order_id: str
    account_id: str
    request: OrderRequest  # the order it carries; quantity None while ``trigger_quantity`` decides it
    trigger_price: Decimal
    trigger_by: str
    trigger_quantity: str | None  # as given: an amount ("0.5") or a percent of the position ("50%")
    rises: bool  # triggers when the reference price rises to ``trigger_price`` (else when it falls to it)
    created_ms: int
    status: str = PENDING
    triggered_ms: int | None = None
    child_id: str | None = None  # the order it put on the book

    @property
    def symbol(self) -> str:
        return self.request.symbol


def parse_trigger_quantity(text: str) -> Decimal:
    """``"0.5"`` or ``"50%"`` checked (positive; a percent at most 100); ValueError otherwise."""
    number = text[:-1] if text.endswith("%") else text
    try:
        value = Decimal(number.strip())
    except InvalidOperation:
        raise ValueError(f"Invalid triggerQuantity {text!r}") from None
    if not value.is_finite() or value <= 0 or (text.endswith("%") and value > 100):
        raise ValueError(f"Invalid triggerQuantity {text!r}")
    return value


def carried_quantity(trigger: TriggerOrder, *, position: Decimal, step: Decimal) -> Decimal:
    """What the triggered order is for: its quantity, the trigger amount, or the percent of ``position``."""
    if trigger.request.quantity is not None:
        return trigger.request.quantity
    text = trigger.trigger_quantity or "0"
    value = parse_trigger_quantity(text)
    if text.endswith("%"):
        value = abs(position) * value / 100
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


class TriggerBook:
    """Every account's trigger orders, open and done (for the order history)."""

    def __init__(self) -> None:
        self._orders: dict[str, TriggerOrder] = {}

    def add(self, trigger: TriggerOrder) -> None:
        self._orders[trigger.order_id] = trigger

    def all(self, account_id: str, symbol: str | None = None) -> Iterator[TriggerOrder]:
        for trigger in self._orders.values():
            if trigger.account_id == account_id and (symbol is None or trigger.symbol == symbol):
                yield trigger

    def find(
        self, account_id: str, symbol: str, *, order_id: str | None, client_id: int | None
    ) -> TriggerOrder | None:
        """A pending or triggered order by id or client id."""
        for trigger in self.all(account_id, symbol):
            if trigger.status in (PENDING, TRIGGERED) and (
                trigger.order_id == order_id
                or (client_id is not None and trigger.request.client_id == client_id)
            ):
                return trigger
        return None

    def due(self, symbol: str, trigger_by: str, price: Decimal) -> list[TriggerOrder]:
        """Pending orders on ``symbol`` whose ``trigger_by`` reference price ``price`` reached."""
        return [
            trigger
            for trigger in self._orders.values()
            if trigger.status == PENDING
            and trigger.symbol == symbol
            and trigger.trigger_by == trigger_by
            and (price >= trigger.trigger_price if trigger.rises else price <= trigger.trigger_price)
        ]

    def close(self, trigger: TriggerOrder, status: str, *, now_ms: int | None = None) -> TriggerOrder:
        """Set ``status`` (``Cancelled``, ``Triggered``, ``TriggerFailed``); a copy for the answer."""
        trigger.status = status
        if status == TRIGGERED:
            trigger.triggered_ms = now_ms
        return dataclasses.replace(trigger)

    def clear(self) -> None:
        self._orders.clear()
