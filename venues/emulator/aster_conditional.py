"""Aster's conditional orders over the emulator (pure, time and prices passed in).

``STOP``, ``STOP_MARKET``, ``TAKE_PROFIT``, ``TAKE_PROFIT_MARKET`` and
``TRAILING_STOP_MARKET`` rest off the book until triggered, as the venue's
"New Order" documents: a stop buys when the working price (``CONTRACT_PRICE``,
the last trade, or ``MARK_PRICE``) rises to ``stopPrice`` and sells when it
falls to it; a take-profit the other way round; a trailing stop once the
price has passed ``activationPrice`` and turned back by ``callbackRate``
percent from its extreme.  Triggered, the order becomes a ``LIMIT`` (STOP,
TAKE_PROFIT) or ``MARKET`` order under the same order id on the book; its
original type stays in ``origType``/``ot``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.wire import Side

STOP_TYPES = ("STOP", "STOP_MARKET")
TAKE_PROFIT_TYPES = ("TAKE_PROFIT", "TAKE_PROFIT_MARKET")
TRAILING = "TRAILING_STOP_MARKET"
CONDITIONAL_TYPES = (*STOP_TYPES, *TAKE_PROFIT_TYPES, TRAILING)
LIQUIDATION = "LIQUIDATION"
WORKING_TYPES = ("CONTRACT_PRICE", "MARK_PRICE")


@dataclass(slots=True, kw_only=True)
class Conditional:
    """One conditional order waiting for its trigger (``quantity`` None: ``closePosition``)."""

    order_id: str
    account_id: str
    symbol: str
    side: Side
    kind: str
    quantity: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    activation_price: Decimal | None
    callback_rate: Decimal | None
    working_type: str
    time_in_force: str
    reduce_only: bool
    close_position: bool
    created_ms: int
    extreme: Decimal | None = None  # trailing stops: the best price since activation

    @property
    def limit(self) -> bool:
        """Triggered, it becomes a limit order (else a market order)."""
        return self.kind in ("STOP", "TAKE_PROFIT")

    def triggered(self, price: Decimal) -> bool:
        """Whether ``price`` (its working price) fires it; a trailing stop tracks its extreme."""
        buy = self.side is Side.BUY
        if self.kind in STOP_TYPES:
            assert self.stop_price is not None
            return price >= self.stop_price if buy else price <= self.stop_price
        if self.kind in TAKE_PROFIT_TYPES:
            assert self.stop_price is not None
            return price <= self.stop_price if buy else price >= self.stop_price
        assert self.callback_rate is not None
        activated = self.extreme is not None or (
            self.activation_price is None
            or (price <= self.activation_price if buy else price >= self.activation_price)
        )
        if not activated:
            return False
        if self.extreme is None:
            self.extreme = price
        self.extreme = min(self.extreme, price) if buy else max(self.extreme, price)
        turn = self.callback_rate / 100
        return price >= self.extreme * (1 + turn) if buy else price <= self.extreme * (1 - turn)


class ConditionalBook:
    """The conditional orders of every account, oldest first; the original type of triggered ones."""

    def __init__(self, *, max_triggered: int = 10_000) -> None:
        self.max_triggered = max_triggered
        self._waiting: dict[str, Conditional] = {}
        self._triggered: dict[str, str] = {}  # order id -> original type, oldest first

    def add(self, order: Conditional) -> None:
        self._waiting[order.order_id] = order

    def get(self, order_id: str) -> Conditional | None:
        return self._waiting.get(order_id)

    def remove(self, order_id: str) -> Conditional | None:
        return self._waiting.pop(order_id, None)

    def waiting(self, account_id: str, symbol: str | None = None) -> list[Conditional]:
        return [
            o
            for o in self._waiting.values()
            if o.account_id == account_id and (symbol is None or o.symbol == symbol)
        ]

    def waiting_on(self, symbol: str) -> bool:
        return any(o.symbol == symbol for o in self._waiting.values())

    def fire(self, symbol: str, *, last: Decimal | None, mark: Decimal | None) -> list[Conditional]:
        """Remove and return the orders on ``symbol`` that these prices trigger."""
        fired = []
        for order in [o for o in self._waiting.values() if o.symbol == symbol]:
            price = mark if order.working_type == "MARK_PRICE" else last
            if price is not None and order.triggered(price):
                fired.append(self._waiting.pop(order.order_id))
                self.name(order.order_id, order.kind)
        return fired

    def name(self, order_id: str, kind: str) -> None:
        """Record the venue's own type of an order on the book: triggered, or placed by the venue itself."""
        self._triggered[order_id] = kind
        while len(self._triggered) > self.max_triggered:
            del self._triggered[next(iter(self._triggered))]

    def original_type(self, order_id: str) -> str | None:
        """The conditional type a triggered order was placed as (None for plain orders)."""
        return self._triggered.get(order_id)

    def clear(self) -> None:
        self._waiting.clear()
        self._triggered.clear()
