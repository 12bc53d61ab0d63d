"""What the guardian knows, merged from the bus and from its own REST polling; a pure core.

Every input is stamped with the caller's monotonic clock: a bus message with
when it was true at its origin, a poll answer with the time its request was
*sent*, so an answer that was in flight while a newer bus message arrived
never overwrites it.
The newest price of any source (mark, BBO mid, the venue's position mark)
marks the position to market: on a fast move the book leads the mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from risk.model import Limits, Observation
from services.wire import (
    Balance,
    Bbo,
    Book,
    FeedState,
    Mark,
    MdStatus,
    Message,
    Position,
    StrategyDone,
    Trade,
    TradingState,
)


@dataclass(frozen=True, slots=True)
class Stamped:
    """A value and the monotonic time it describes the venue at."""

    value: Decimal
    as_of_s: float


class Inputs:
    """The newest position, price, open-order count and margin for one symbol."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.position: Decimal = Decimal(0)
        self.entry_price: Decimal = Decimal(0)
        self.venue_unrealized_pnl: Decimal | None = None
        self.position_as_of_s: float | None = None
        self.price: Stamped | None = None
        self.feed_seen_s: float | None = None
        self.open_orders: int | None = None
        self.open_orders_as_of_s: float | None = None
        self.margin_fraction: Decimal | None = None
        self.strategy_finished: str | None = None

    # ------------------------------------------------------------ the bus

    def on_bus(self, topic: str, msg: Message, *, as_of_s: float) -> bool:
        """Take one bus message, true as of ``as_of_s``; True when it changed what the rules see."""
        if isinstance(msg, MdStatus):
            # Only a live feed refreshes the feed's age; a stale one lets it grow.
            if msg.state is FeedState.LIVE and msg.symbol in ("", self.symbol):
                self._feed(as_of_s)
            return False
        if isinstance(msg, StrategyDone):
            changed = msg.symbol in ("", self.symbol) and msg.instance != self.strategy_finished
            if changed:
                self.strategy_finished = msg.instance
            return changed
        if isinstance(msg, Balance):
            self.margin_fraction = msg.margin_fraction
            return False
        if getattr(msg, "symbol", None) != self.symbol:
            return False
        if isinstance(msg, Bbo | Book | Trade):
            self._feed(as_of_s)
            if isinstance(msg, Bbo) and msg.bid > 0 and msg.ask >= msg.bid:
                return self._price(msg.mid, as_of_s)
            return False
        if isinstance(msg, Mark):
            self._feed(as_of_s)
            return self._price(msg.mark, as_of_s)
        if isinstance(msg, Position):
            changed = self._position(msg, as_of_s)
            if msg.mark_price is not None:
                changed = self._price(msg.mark_price, as_of_s) or changed
            return changed
        return False

    # ------------------------------------------------------------ polling

    def on_poll_position(self, position: Position, *, sent_s: float) -> bool:
        """A polled position, sent at ``sent_s``; ignored when the bus told something newer."""
        changed = self._position(position, sent_s)
        if position.mark_price is not None:
            changed = self._price(position.mark_price, sent_s) or changed
        return changed

    def on_poll_mark(self, mark: Decimal, *, sent_s: float) -> bool:
        return self._price(mark, sent_s)

    def on_poll_open_orders(self, count: int, *, sent_s: float) -> None:
        if self.open_orders_as_of_s is None or sent_s >= self.open_orders_as_of_s:
            self.open_orders, self.open_orders_as_of_s = count, sent_s

    def on_cancelled_all(self, *, sent_s: float) -> None:
        """A cancel-all went through: nothing rests any more, as of when it was sent."""
        self.on_poll_open_orders(0, sent_s=sent_s)

    def on_poll_balance(self, balance: Balance) -> None:
        self.margin_fraction = balance.margin_fraction

    # ------------------------------------------------------------ the rules' view

    def observation(
        self,
        *,
        now_s: float,
        strategy_heartbeat_age_s: float | None = None,
        strategy_instance: str | None = None,
    ) -> Observation:
        """Everything known at ``now_s`` as the rules take it."""
        return Observation(
            now_s=now_s,
            position=self.position,
            entry_price=self.entry_price,
            mark_price=self.price.value if self.price is not None else None,
            md_age_s=now_s - self.price.as_of_s if self.price is not None else None,
            strategy_heartbeat_age_s=strategy_heartbeat_age_s,
            strategy_instance=strategy_instance,
            venue_unrealized_pnl=self.venue_unrealized_pnl,
            margin_fraction=self.margin_fraction if self.position != 0 else None,
            open_orders=self.open_orders,
            feed_age_s=now_s - self.feed_seen_s if self.feed_seen_s is not None else None,
            position_age_s=now_s - self.position_as_of_s if self.position_as_of_s is not None else None,
            strategy_finished=self.strategy_finished,
        )

    def _position(self, position: Position, as_of_s: float) -> bool:
        if self.position_as_of_s is not None and as_of_s < self.position_as_of_s:
            return False
        changed = (position.quantity, position.entry_price) != (self.position, self.entry_price)
        self.position, self.entry_price = position.quantity, position.entry_price
        self.venue_unrealized_pnl = position.unrealized_pnl
        self.position_as_of_s = as_of_s
        return changed

    def _feed(self, as_of_s: float) -> None:
        if self.feed_seen_s is None or as_of_s > self.feed_seen_s:
            self.feed_seen_s = as_of_s

    def _price(self, price: Decimal, as_of_s: float) -> bool:
        if price <= 0 or (self.price is not None and as_of_s < self.price.as_of_s):
            return False
        changed = self.price is None or self.price.value != price
        self.price = Stamped(price, as_of_s)
        # A new price matters to the rules only while there is a position to mark.
        return changed and self.position != 0


def poll_interval_s(
    obs: Observation,
    limits: Limits,
    *,
    base_s: float,
    near_s: float,
    reduce_above: Decimal = Decimal(0),
    near_fraction: Decimal = Decimal("0.5"),
    bus_s: float | None = None,
) -> float:
    """``near_s`` while a position is open within ``near_fraction`` of a limit, else ``bus_s`` when
    given (the caller gives it while the bus is live), else ``base_s``.

    Near means: the position at ``near_fraction`` of the maximum or more and past
    ``reduce_above`` (the strategy's own reduce line, target plus threshold: a
    position the strategy holds by design is not near anything), or the
    unrealized PnL past that fraction of the stop-loss or of the take-profit.
    Without a mark nothing is near: a venue that fails to answer is not helped by
    being asked four times as often.
    """
    if _near(obs, limits, reduce_above=reduce_above, near_fraction=near_fraction):
        return near_s
    return bus_s if bus_s is not None else base_s


def _near(obs: Observation, limits: Limits, *, reduce_above: Decimal, near_fraction: Decimal) -> bool:
    if obs.position == 0:
        return False
    size = abs(obs.position)
    if size >= limits.max_position * near_fraction and size > reduce_above:
        return True
    if obs.mark_price is None:
        return False
    upnl = (obs.mark_price - obs.entry_price) * obs.position
    if limits.stop_loss is not None and upnl <= limits.stop_loss * near_fraction:
        return True
    return limits.take_profit is not None and upnl >= limits.take_profit * near_fraction


def bus_live(obs: Observation, *, gateway_age_s: float | None, fresh_s: float) -> bool:
    """Market data and the order gateway's heartbeat both at most ``fresh_s`` old: positions and
    prices reach the guardian over the bus, and its own polls may slow down."""
    feed_fresh = obs.feed_age_s is not None and obs.feed_age_s <= fresh_s
    return feed_fresh and gateway_age_s is not None and gateway_age_s <= fresh_s


def open_orders_due(state: TradingState) -> bool:
    """Whether a poll reads the open orders: only HALTED acts on them (cancelling again while any rest)."""
    return state is TradingState.HALTED
