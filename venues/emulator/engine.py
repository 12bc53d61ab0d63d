"""The emulator's matching engine: pure, no I/O, time passed in as ``now_ms``.

One price-time priority book per symbol; limit and market orders, GTC, IOC
and fill-or-kill; post-only refused when it would take; reduce-only never
increases or flips a position (shrunk to the position, refused when flat or on
the same side, and resting ones shrunk or expired as the position changes);
self-trade prevention; accounts with collateral, positions with average entry
and realized PnL; maker/taker fees in quote currency; a mark price per symbol;
funding settled every interval (longs pay shorts when the rate is positive);
an initial-margin check on new orders.  Every call returns the events it
caused, in order, for the front ends' streams.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from services.wire import Level, OrderType, Side, TimeInForce
from venues.emulator.accounts import Account, MarginView, PositionView, margin_view
from venues.emulator.events import Event, FundingEvent, MarkEvent, OrderEvent, OrderEventKind, PositionEvent
from venues.emulator.matching import FeeSchedule, IdSource, Matcher, Operation, crosses
from venues.emulator.records import (
    QUOTE_UNIT,
    ZERO,
    ExpiryReason,
    FundingRow,
    Order,
    OrderNotFound,
    OrderRequest,
)
from venues.emulator.stats import TradeStats
from venues.emulator.validation import (
    check_request,
    margin_rejection,
    post_only_rejection,
    reduce_only_rejection,
)
from venues.precision import MarketRules

DEFAULT_FUNDING_INTERVAL_MS = 8 * 3600 * 1000

__all__ = ["DEFAULT_FUNDING_INTERVAL_MS", "Engine", "FeeSchedule", "IdSource", "MarkState"]


@dataclass(slots=True)
class MarkState:
    """A symbol's mark, index and funding: the rate applies at ``next_funding_ms``."""

    mark: Decimal | None = None
    index: Decimal | None = None
    funding_rate: Decimal = ZERO
    next_funding_ms: int = 0
    history: deque[tuple[int, Decimal]] = field(default_factory=lambda: deque(maxlen=1000))


class Engine:
    def __init__(
        self,
        *,
        markets: Mapping[str, MarketRules],
        now_ms: int,
        fees: FeeSchedule | None = None,
        leverage: Decimal = Decimal(10),
        funding_interval_ms: int = DEFAULT_FUNDING_INTERVAL_MS,
        ids: IdSource | None = None,
        history_limit: int = 50_000,
    ) -> None:
        if funding_interval_ms <= 0:
            raise ValueError("funding interval must be positive")
        self.markets = dict(markets)
        self.fees = fees or FeeSchedule()
        self.leverage = leverage
        self.initial_margin_fraction = 1 / leverage
        self.maintenance_margin_fraction = self.initial_margin_fraction / 2
        self.funding_interval_ms = funding_interval_ms
        self.ids = ids or IdSource()
        self.history_limit = history_limit
        self._accounts: dict[str, Account] = {}
        self._matcher = Matcher(markets=self.markets, accounts=self._accounts, fees=self.fees, ids=self.ids)
        first_funding_ms = (now_ms // funding_interval_ms + 1) * funding_interval_ms
        self._marks = {symbol: MarkState(next_funding_ms=first_funding_ms) for symbol in self.markets}

    # ------------------------------------------------------------ accounts and state

    def add_account(self, account_id: str, *, collateral: Decimal, house: bool = False) -> Account:
        account = Account(account_id, collateral, house=house, history_limit=self.history_limit)
        self._accounts[account_id] = account
        return account

    def account(self, account_id: str) -> Account:
        return self._accounts[account_id]

    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def mark_state(self, symbol: str) -> MarkState:
        return self._marks[symbol]

    def stats(self, symbol: str) -> TradeStats:
        return self._matcher.stats[symbol]

    def position(self, account_id: str, symbol: str) -> PositionView:
        return self._view(self._accounts[account_id], symbol)

    def positions(self, account_id: str) -> list[PositionView]:
        """Every position the account has held (flat ones included), by symbol."""
        account = self._accounts[account_id]
        return [self._view(account, symbol) for symbol in sorted(account.positions)]

    def top(self, symbol: str) -> tuple[Level | None, Level | None]:
        """Best bid and best ask as (price, quantity), None for an empty side."""
        book = self._matcher.books[symbol]
        bids, asks = book.bids.levels(1), book.asks.levels(1)
        return (bids[0] if bids else None), (asks[0] if asks else None)

    def depth(self, symbol: str, *, limit: int | None = None) -> tuple[list[Level], list[Level], int]:
        """Bids and asks best first, and the update id of the last change they include."""
        book = self._matcher.books[symbol]
        return book.bids.levels(limit), book.asks.levels(limit), self.ids.last_update.get(symbol, 0)

    def margin(self, account_id: str) -> MarginView:
        return self._margin(self._accounts[account_id])

    def open_orders(self, account_id: str, symbol: str | None = None) -> list[Order]:
        account = self._accounts.get(account_id)
        if account is None:
            return []
        return [o for o in account.open_orders.values() if symbol is None or o.symbol == symbol]

    def find_open(
        self, account_id: str, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> Order | None:
        account = self._accounts.get(account_id)
        return account.find_open(symbol, order_id=order_id, client_id=client_id) if account else None

    # ------------------------------------------------------------ orders

    def place(
        self,
        account_id: str,
        request: OrderRequest,
        *,
        now_ms: int,
        received_ns: int | None = None,
        order_id: str | None = None,
        post_only_expires: bool = False,
    ) -> tuple[Order, list[Event]]:
        """Accept and match a new order; raises ``OrderRejected`` (nothing created) when refused.

        ``received_ns``: when the venue request carrying it reached the emulator (``arrival_ns``).
        ``order_id``: an id the front end took from ``ids`` before (a triggered conditional order).
        ``post_only_expires``: a post-only order that would take is accepted and expires at once
        (Aster's GTX) instead of being refused.
        """
        account = self._accounts.get(account_id)
        check_request(request, self.markets.get(request.symbol), known_account=account is not None)
        assert account is not None
        quantity = request.quantity
        if request.reduce_only:
            quantity = self._reduce_only_quantity(account, request)
        post_only_taker = False
        if request.post_only and request.price is not None:
            best = self._matcher.books[request.symbol].side(request.side.opposite).best()
            if best is not None and crosses(request.side, request.price, best):
                if not post_only_expires:
                    raise post_only_rejection()
                post_only_taker = True
        if not account.house and not request.reduce_only:
            self._check_margin(account, request)
        order = Order(
            order_id=order_id or self.ids.order(),
            account_id=account_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            price=request.price,
            quantity=quantity,
            quote_quantity=request.quote_quantity,
            tif=request.tif,
            fill_or_kill=request.fill_or_kill,
            post_only=request.post_only,
            reduce_only=request.reduce_only,
            client_id=request.client_id,
            stp=request.stp,
            created_ms=now_ms,
            received_ns=received_ns,
        )
        account.orders_placed += 1
        account.open_orders[order.order_id] = order
        op = Operation(now_ms)
        op.events.append(OrderEvent(kind=OrderEventKind.ACCEPTED, order=order.snapshot(), ts_ms=now_ms))
        stop: ExpiryReason | None = None
        if post_only_taker:
            stop = ExpiryReason.POST_ONLY_TAKER
        elif order.fill_or_kill and not self._matcher.can_fill_completely(order):
            stop = ExpiryReason.FILL_OR_KILL
        else:
            stop = self._matcher.match(order, op)
        if order.status.is_open:
            if stop is not None:
                self._matcher.expire(order, stop, op, resting=False)
            elif order.quote_quantity is not None and order.filled_quantity > 0:
                self._matcher.complete(order)
            elif order.order_type is OrderType.LIMIT and order.tif is TimeInForce.GTC:
                self._matcher.rest(order)
            else:
                market = order.order_type is OrderType.MARKET
                reason = ExpiryReason.INSUFFICIENT_LIQUIDITY if market else ExpiryReason.IMMEDIATE_OR_CANCEL
                self._matcher.expire(order, reason, op, resting=False)
        self._finish(request.symbol, op)
        return order, op.events

    def cancel(
        self,
        account_id: str,
        symbol: str,
        *,
        order_id: str | None = None,
        client_id: int | None = None,
        now_ms: int,
    ) -> tuple[Order, list[Event]]:
        """Cancel one open order by venue id or client id; raises ``OrderNotFound``."""
        order = self.find_open(account_id, symbol, order_id=order_id, client_id=client_id)
        if order is None:
            raise OrderNotFound(
                f"no open order {order_id if order_id is not None else client_id} on {symbol}"
            )
        op = Operation(now_ms)
        self._matcher.cancel(order, op)
        self._matcher.book_event(symbol, op)
        return order, op.events

    def cancel_all(self, account_id: str, symbol: str, *, now_ms: int) -> tuple[list[Order], list[Event]]:
        """Cancel every open order of the account on ``symbol``, oldest first."""
        orders = self.open_orders(account_id, symbol)
        op = Operation(now_ms)
        for order in orders:
            self._matcher.cancel(order, op)
        self._matcher.book_event(symbol, op)
        return orders, op.events

    # ------------------------------------------------------------ marks, funding, direct position

    def set_mark(
        self, symbol: str, *, mark: Decimal, index: Decimal, funding_rate: Decimal, now_ms: int
    ) -> list[Event]:
        """Set the mark, index and current funding rate; one ``MarkEvent`` when anything changed."""
        state = self._marks[symbol]
        if (state.mark, state.index, state.funding_rate) == (mark, index, funding_rate):
            return []
        state.mark, state.index, state.funding_rate = mark, index, funding_rate
        return [
            MarkEvent(
                symbol=symbol,
                mark=mark,
                index=index,
                funding_rate=funding_rate,
                next_funding_ms=state.next_funding_ms,
                ts_ms=now_ms,
            )
        ]

    def advance(self, now_ms: int) -> list[Event]:
        """Settle every funding interval that ended at or before ``now_ms``."""
        events: list[Event] = []
        for symbol, state in self._marks.items():
            while state.next_funding_ms <= now_ms:
                self._settle_funding(symbol, state, events)
                state.next_funding_ms += self.funding_interval_ms
        return events

    def set_position(
        self, account_id: str, symbol: str, *, quantity: Decimal, entry_price: Decimal, now_ms: int
    ) -> list[Event]:
        """Overwrite a position (test control); collateral is untouched."""
        if symbol not in self.markets:
            raise KeyError(symbol)
        account = self._accounts[account_id]
        position = self._matcher.position(account, symbol)
        op = Operation(now_ms)
        op.previous[(account_id, symbol)] = position.quantity
        op.touched.add((account_id, symbol))
        position.quantity = quantity
        position.entry_price = entry_price if quantity != 0 else ZERO
        self._finish(symbol, op)
        return op.events

    # ------------------------------------------------------------ internals

    def _finish(self, symbol: str, op: Operation) -> None:
        """Bring resting reduce-only orders in line, then report positions and the book change."""
        for account_id, touched_symbol in sorted(op.touched):
            account = self._accounts[account_id]
            self._matcher.enforce_reduce_only(account, touched_symbol, op)
            if not account.house:
                op.events.append(
                    PositionEvent(
                        account_id=account_id,
                        position=self._view(account, touched_symbol),
                        previous_quantity=op.previous.get((account_id, touched_symbol), ZERO),
                        ts_ms=op.now_ms,
                    )
                )
        self._matcher.book_event(symbol, op)

    def _view(self, account: Account, symbol: str) -> PositionView:
        position = account.positions.get(symbol)
        return PositionView(
            symbol=symbol,
            position_id=position.position_id if position else "",
            quantity=position.quantity if position else ZERO,
            entry_price=position.entry_price if position else ZERO,
            realized_pnl=position.realized_pnl if position else ZERO,
            funding=position.funding if position else ZERO,
            mark=self._marks[symbol].mark,
        )

    def _reduce_only_quantity(self, account: Account, request: OrderRequest) -> Decimal:
        position = account.positions.get(request.symbol)
        current = position.quantity if position else ZERO
        if current == 0 or (current > 0) == (request.side is Side.BUY):
            raise reduce_only_rejection()
        if request.quantity is None:  # a quote-budget market order: also capped at the position
            return abs(current)
        return min(request.quantity, abs(current))

    def _margin(
        self, account: Account, extra: tuple[str, Side, Decimal, Decimal] | None = None
    ) -> MarginView:
        return margin_view(
            account,
            marks={symbol: state.mark for symbol, state in self._marks.items()},
            initial_fraction=self.initial_margin_fraction,
            extra=extra,
        )

    def _check_margin(self, account: Account, request: OrderRequest) -> None:
        """Refuse an order that raises the initial margin beyond the account's equity."""
        price = request.price or self._marks[request.symbol].mark
        if price is None:
            return
        quantity = request.quantity
        if quantity is None:
            assert request.quote_quantity is not None
            quantity = request.quote_quantity / price
        before = self._margin(account)
        after = self._margin(account, (request.symbol, request.side, quantity, price))
        if after.initial_margin > after.equity and after.initial_margin > before.initial_margin:
            raise margin_rejection(required=after.initial_margin, equity=after.equity)

    def _settle_funding(self, symbol: str, state: MarkState, events: list[Event]) -> None:
        end_ms = state.next_funding_ms
        state.history.append((end_ms, state.funding_rate))
        if state.mark is None:
            return
        for account in self._accounts.values():
            position = account.positions.get(symbol)
            if position is None or position.quantity == 0:
                continue
            payment = -position.quantity * state.mark * state.funding_rate
            amount = payment.quantize(QUOTE_UNIT, rounding=ROUND_HALF_EVEN)
            account.collateral += amount
            position.funding += amount
            row = FundingRow(
                symbol=symbol,
                amount=amount,
                rate=state.funding_rate,
                position_quantity=position.quantity,
                mark=state.mark,
                interval_end_ms=end_ms,
            )
            account.record_funding(row)
            if not account.house:
                events.append(FundingEvent(account_id=account.account_id, row=row, ts_ms=end_ms))
