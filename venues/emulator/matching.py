"""Book mechanics of the engine: matching, trade settlement, cancels and expiries.

A ``Matcher`` owns the books and accounts' trading state; each engine call
runs one ``Operation`` that collects the events it caused and which positions
it touched, so the engine can report positions and book changes once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from services.wire import OrderStatus, Side
from venues.emulator.accounts import Account, PositionState
from venues.emulator.book import OrderBook
from venues.emulator.events import BookEvent, Event, OrderEvent, OrderEventKind, TradeEvent
from venues.emulator.records import QUOTE_UNIT, ZERO, ExpiryReason, Fill, Order, SelfTradePrevention
from venues.emulator.stats import TradeStats
from venues.precision import MarketRules, floor_to

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeSchedule:
    maker_bps: Decimal = Decimal(2)
    taker_bps: Decimal = Decimal(5)

    def fee(self, notional: Decimal, *, is_maker: bool) -> Decimal:
        """Fee in quote currency, rounded up to the quote unit (a negative maker fee is a rebate)."""
        bps = self.maker_bps if is_maker else self.taker_bps
        return (notional * bps / _BPS).quantize(QUOTE_UNIT, rounding=ROUND_CEILING)


@dataclass(slots=True)
class IdSource:
    """Order, trade, position and book-update counters; kept across resets so ids never repeat."""

    last_order: int = 0
    last_trade: int = 0
    last_position: int = 0
    last_update: dict[str, int] = field(default_factory=dict)

    def order(self) -> str:
        self.last_order += 1
        return str(self.last_order)

    def trade(self) -> int:
        self.last_trade += 1
        return self.last_trade

    def position(self) -> str:
        self.last_position += 1
        return str(self.last_position)

    def update(self, symbol: str) -> int:
        self.last_update[symbol] = self.last_update.get(symbol, 0) + 1
        return self.last_update[symbol]


@dataclass(slots=True)
class Operation:
    """One engine call: its time, the events so far, and the positions it changed."""

    now_ms: int
    events: list[Event] = field(default_factory=list)
    touched: set[tuple[str, str]] = field(default_factory=set)
    previous: dict[tuple[str, str], Decimal] = field(default_factory=dict)


def crosses(side: Side, limit: Decimal, opposite_best: Decimal) -> bool:
    """Whether a ``side`` order at ``limit`` would trade against ``opposite_best``."""
    return limit >= opposite_best if side is Side.BUY else limit <= opposite_best


class Matcher:
    def __init__(
        self,
        *,
        markets: dict[str, MarketRules],
        accounts: dict[str, Account],
        fees: FeeSchedule,
        ids: IdSource,
    ) -> None:
        self.markets = markets
        self.accounts = accounts
        self.fees = fees
        self.ids = ids
        self.books = {symbol: OrderBook(symbol) for symbol in markets}
        self.stats = {symbol: TradeStats() for symbol in markets}

    def position(self, account: Account, symbol: str) -> PositionState:
        """The account's position state on ``symbol``, created flat on first use."""
        position = account.positions.get(symbol)
        if position is None:
            position = account.positions[symbol] = PositionState(position_id=self.ids.position())
        return position

    def can_fill_completely(self, order: Order) -> bool:
        """Whether the book holds enough crossing quantity, before any self-trade stop, to fill ``order``."""
        side = self.books[order.symbol].side(order.side.opposite)
        available = ZERO
        for price in side.prices():
            if order.price is not None and not crosses(order.side, order.price, price):
                break
            for maker in side.queue(price):
                if maker.account_id == order.account_id and order.stp is not SelfTradePrevention.ALLOW:
                    return False
                available += maker.remaining
                if available >= order.remaining:
                    return True
        return False

    def match(self, taker: Order, op: Operation) -> ExpiryReason | None:
        """Trade ``taker`` against the book; returns why it stopped early (self-trade), else None."""
        book = self.books[taker.symbol]
        opposite = book.side(taker.side.opposite)
        while True:
            best = opposite.best()
            if best is None or (taker.price is not None and not crosses(taker.side, taker.price, best)):
                return None
            maker = opposite.queue(best)[0]
            if maker.account_id == taker.account_id and taker.stp is not SelfTradePrevention.ALLOW:
                if taker.stp in (SelfTradePrevention.REJECT_MAKER, SelfTradePrevention.REJECT_BOTH):
                    self.expire(maker, ExpiryReason.SELF_TRADE_PREVENTION, op, resting=True)
                if taker.stp in (SelfTradePrevention.REJECT_TAKER, SelfTradePrevention.REJECT_BOTH):
                    return ExpiryReason.SELF_TRADE_PREVENTION
                continue
            quantity = min(maker.remaining, self._fillable(taker, best))
            if quantity <= 0:
                return None
            self._trade(taker, maker, quantity, best, op)

    def _fillable(self, order: Order, price: Decimal) -> Decimal:
        """How much more ``order`` may fill at ``price``: its remaining size, capped by any quote budget."""
        limit = order.remaining if order.quantity is not None else None
        if order.quote_quantity is not None:
            step = self.markets[order.symbol].step_size
            budget = floor_to((order.quote_quantity - order.filled_quote) / price, step)
            limit = budget if limit is None else min(limit, budget)
        assert limit is not None
        return limit

    def _trade(self, taker: Order, maker: Order, quantity: Decimal, price: Decimal, op: Operation) -> None:
        trade_id = self.ids.trade()
        book = self.books[taker.symbol]
        book.shrink(maker, quantity)
        for order, is_maker in ((maker, True), (taker, False)):
            self._settle(order, is_maker, trade_id, quantity, price, op)
        if maker.status is OrderStatus.FILLED:
            book.remove(maker)
            self.accounts[maker.account_id].record_closed(maker)
        if taker.status is OrderStatus.FILLED:
            self.accounts[taker.account_id].record_closed(taker)
        buy, sell = (taker, maker) if taker.side is Side.BUY else (maker, taker)
        self.stats[taker.symbol].add(price=price, quantity=quantity, ts_ms=op.now_ms)
        op.events.append(
            TradeEvent(
                symbol=taker.symbol,
                trade_id=trade_id,
                price=price,
                quantity=quantity,
                taker_side=taker.side,
                buy_order_id=buy.order_id,
                sell_order_id=sell.order_id,
                ts_ms=op.now_ms,
            )
        )

    def _settle(
        self, order: Order, is_maker: bool, trade_id: int, quantity: Decimal, price: Decimal, op: Operation
    ) -> None:
        """One side of a trade: fee, position, collateral, order progress, fill record and event."""
        account = self.accounts[order.account_id]
        position = self.position(account, order.symbol)
        op.previous.setdefault((account.account_id, order.symbol), position.quantity)
        notional = price * quantity
        fee = self.fees.fee(notional, is_maker=is_maker)
        realized = position.apply_fill(order.side, quantity, price)
        account.collateral += realized - fee
        order.filled_quantity += quantity
        order.filled_quote += notional
        done = order.quantity is not None and order.remaining == 0
        order.status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        fill = Fill(
            trade_id=trade_id,
            account_id=account.account_id,
            order_id=order.order_id,
            client_id=order.client_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=quantity,
            fee=fee,
            fee_asset=self.markets[order.symbol].quote_asset,
            is_maker=is_maker,
            ts_ms=op.now_ms,
        )
        account.record_fill(fill)
        op.touched.add((account.account_id, order.symbol))
        op.events.append(
            OrderEvent(kind=OrderEventKind.FILL, order=order.snapshot(), ts_ms=op.now_ms, fill=fill)
        )

    def rest(self, order: Order) -> None:
        self.books[order.symbol].add(order)

    def complete(self, order: Order) -> None:
        """A market order that spent its quote budget: filled."""
        order.status = OrderStatus.FILLED
        self.accounts[order.account_id].record_closed(order)

    def cancel(self, order: Order, op: Operation) -> None:
        self.books[order.symbol].remove(order)
        order.status = OrderStatus.CANCELLED
        self.accounts[order.account_id].record_closed(order)
        op.events.append(OrderEvent(kind=OrderEventKind.CANCELLED, order=order.snapshot(), ts_ms=op.now_ms))

    def expire(self, order: Order, reason: ExpiryReason, op: Operation, *, resting: bool) -> None:
        if resting:
            self.books[order.symbol].remove(order)
        order.status = OrderStatus.EXPIRED
        order.expiry_reason = reason
        self.accounts[order.account_id].record_closed(order)
        op.events.append(OrderEvent(kind=OrderEventKind.EXPIRED, order=order.snapshot(), ts_ms=op.now_ms))

    def enforce_reduce_only(self, account: Account, symbol: str, op: Operation) -> None:
        """Resting reduce-only orders never outgrow the position: shrink them, expire those that would add."""
        quantity = self.position(account, symbol).quantity
        for order in [o for o in account.open_orders.values() if o.symbol == symbol and o.reduce_only]:
            if quantity == 0 or (quantity > 0) == (order.side is Side.BUY):
                self.expire(order, ExpiryReason.REDUCE_ONLY_NOT_REDUCED, op, resting=True)
            elif order.remaining > abs(quantity):
                self.books[symbol].shrink(order, order.remaining - abs(quantity))
                order.quantity = order.filled_quantity + abs(quantity)
                op.events.append(
                    OrderEvent(kind=OrderEventKind.MODIFIED, order=order.snapshot(), ts_ms=op.now_ms)
                )

    def book_event(self, symbol: str, op: Operation) -> None:
        """Close the operation's book changes on ``symbol`` into one ``BookEvent`` with the next update id."""
        bids, asks = self.books[symbol].take_changes()
        if bids or asks:
            op.events.append(
                BookEvent(
                    symbol=symbol,
                    update_id=self.ids.update(symbol),
                    bids=tuple(bids),
                    asks=tuple(asks),
                    ts_ms=op.now_ms,
                )
            )
