"""The strategy's decisions: whether it may quote, when to requote, which orders to send or cancel.

Pure and clock-free: times are monotonic seconds passed in, orders are the
gateway's ``OrderUpdate``s.  ``strategy.runner`` feeds these from the bus and
sends what they return.

- ``gate``: the mode the inputs allow.  No guardian (no ``rk.state`` or
  ``hb.risk`` within ``guardian_timeout_s``), a market-data feed that is
  reconnecting or has neither updated the book nor reported itself live
  within ``md_stale_s``, an unsynced order stream or ``HALTED`` pull every
  order; ``REDUCING`` keeps only reduce-only orders; otherwise the strategy
  quotes.
- ``requote_due``: on an event (the ladder moved, a fill, a position or mode
  change) at once, else every ``interval_s``.
- ``plan_actions``: the cancels and places that turn the resting orders into
  the wanted ones, keeping every resting order that is still right.
- ``OrderPacer``: a token bucket that keeps the strategy under the order
  gateway's order rate limit instead of having its requests refused; its
  budget goes to ``plan_actions``, which spends it on the reduce and the
  innermost quotes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from services.wire import OrderType, OrderUpdate, Side, TradingState
from strategy.positions import PositionAction, ReduceAction
from strategy.quoter import Layer, QuotePlan, diff_orders

GUARDIAN_TIMEOUT_S = 1.0


class Mode(StrEnum):
    QUOTE = "quote"
    REDUCE_ONLY = "reduce_only"
    PULL = "pull"


class PullReason(StrEnum):
    """Why the strategy is not quoting (a fixed set: metric labels and log keys)."""

    NO_GUARDIAN = "no_guardian"
    MD_STALE = "md_stale"
    MD_DOWN = "md_down"
    EXEC_UNSYNCED = "exec_unsynced"
    HALTED = "halted"
    REDUCING = "reducing"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """When each input was last seen (monotonic seconds; None: never) and what it said."""

    md_seen_s: float | None
    md_connected: bool
    risk_state: TradingState | None
    risk_state_seen_s: float | None
    risk_heartbeat_seen_s: float | None
    exec_synced: bool


@dataclass(frozen=True, slots=True)
class Gate:
    mode: Mode
    reason: PullReason | None = None


def _fresh(seen_s: float | None, now_s: float, limit_s: float) -> bool:
    return seen_s is not None and now_s - seen_s <= limit_s


def gate(
    inputs: Inputs, *, now_s: float, md_stale_s: float, guardian_timeout_s: float = GUARDIAN_TIMEOUT_S
) -> Gate:
    """The mode the inputs allow now; the first failing check names the reason."""
    if not (
        inputs.risk_state is not None
        and _fresh(inputs.risk_state_seen_s, now_s, guardian_timeout_s)
        and _fresh(inputs.risk_heartbeat_seen_s, now_s, guardian_timeout_s)
    ):
        return Gate(Mode.PULL, PullReason.NO_GUARDIAN)
    if inputs.risk_state is TradingState.HALTED:
        return Gate(Mode.PULL, PullReason.HALTED)
    if not inputs.md_connected:
        return Gate(Mode.PULL, PullReason.MD_DOWN)
    if not _fresh(inputs.md_seen_s, now_s, md_stale_s):
        return Gate(Mode.PULL, PullReason.MD_STALE)
    if not inputs.exec_synced:
        return Gate(Mode.PULL, PullReason.EXEC_UNSYNCED)
    if inputs.risk_state is TradingState.REDUCING:
        return Gate(Mode.REDUCE_ONLY, PullReason.REDUCING)
    return Gate(Mode.QUOTE)


def requote_due(*, now_s: float, last_requote_s: float | None, interval_s: float, event: bool) -> bool:
    """True on an event, before the first requote, or when ``interval_s`` passed since the last one."""
    return event or last_requote_s is None or now_s - last_requote_s >= interval_s


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """An order to send; the runner gives it a client id.  ``price`` None is a market order."""

    side: Side
    quantity: Decimal
    price: Decimal | None
    post_only: bool
    reduce_only: bool

    @property
    def order_type(self) -> OrderType:
        return OrderType.MARKET if self.price is None else OrderType.LIMIT


@dataclass(frozen=True, slots=True)
class Actions:
    """The cancels and places of one requote (``sequence_requests`` orders them).

    ``deferred`` counts the quotes left for a later requote because the order
    budget ran short.
    """

    cancel: tuple[OrderUpdate, ...] = ()
    quotes: tuple[OrderIntent, ...] = ()
    reduce: OrderIntent | None = None
    deferred: int = 0

    @property
    def places(self) -> tuple[OrderIntent, ...]:
        return self.quotes if self.reduce is None else (*self.quotes, self.reduce)

    def __bool__(self) -> bool:
        return bool(self.cancel or self.quotes or self.reduce)


def _quote_intent(layer: Layer) -> OrderIntent:
    return OrderIntent(
        side=layer.side, quantity=layer.quantity, price=layer.price, post_only=True, reduce_only=False
    )


def plan_actions(
    *,
    mode: Mode,
    plan: QuotePlan | None,
    quotes: Sequence[OrderUpdate],
    reduces: Sequence[OrderUpdate],
    position_action: PositionAction,
    reduce_mode: str,
    reduce_blocked: bool,
    tick: Decimal,
    tolerance: Decimal | None = None,
    budget: int | None = None,
    best: tuple[Decimal, Decimal] | None = None,
) -> Actions:
    """The orders to cancel and place so that what rests matches what ``mode`` and the plan want.

    ``quotes`` and ``reduces`` are the strategy's own open orders by role.  A
    threshold reduce is a reduce-only market order (``reduce_mode`` "market"),
    or a post-only reduce-only order at the best price on its side ("maker"),
    kept while it is still at the best price.  A market reduce goes out with our
    quotes on the side it trades against cancelled (they come back on the next
    requote).  ``reduce_blocked`` holds back a new reduce while an earlier one
    has not yet shown in the position.  ``best`` is the venue's best bid and
    ask with our own orders in them, which a maker reduce joins (None: the
    plan's ``bid`` and ``ask``, the market without our orders).

    ``budget`` caps the places (None: no cap).  The reduce goes first, then
    quotes from the inside out, at each depth a missing quote before a wrong
    one and the wronger first; a wrong quote whose replacement does not fit
    stays resting rather than leave its side empty, and quotes beyond the new
    ladder are cancelled whatever the budget, so the worst case never exceeds
    the old or the new ladder.  A quote less than ``tolerance`` from its layer's
    price stays (``quoter.requote_tolerance``; None: only an exact match stays).
    """
    if mode is Mode.PULL:
        return Actions(cancel=(*_open(quotes), *_open(reduces)))
    reduce_cancel, reduce = _reduce_actions(
        plan=plan,
        best=best,
        reduces=reduces,
        position_action=position_action,
        reduce_mode=reduce_mode,
        reduce_blocked=reduce_blocked,
        tick=tick,
    )
    held = 0
    if reduce is not None and budget is not None and budget < 1:
        reduce, held = None, 1
    spare = None if budget is None else budget - (reduce is not None)
    if mode is not Mode.QUOTE or plan is None:
        return Actions(cancel=(*_open(quotes), *reduce_cancel), reduce=reduce, deferred=held)
    # A market reduce would meet our own quotes on the other side first, and the venue's
    # self-trade prevention cancels the taker: that side stays empty until the reduce is done.
    facing = reduce.side.opposite if reduce is not None and reduce.price is None else None
    cancel: list[OrderUpdate] = []
    ranked: list[tuple[int, int, Layer, OrderUpdate | None]] = []
    for side_rank, side in enumerate((Side.BUY, Side.SELL)):
        resting = [order for order in _open(quotes) if order.side is side]
        if side is facing:
            cancel += resting
            continue
        layers = [layer for layer in plan.layers if layer.side is side]
        surplus, pairs = _side_changes(layers, resting, tick=tick, tolerance=tolerance)
        cancel += surplus
        ranked += [(depth, side_rank, layer, old) for depth, (layer, old) in enumerate(pairs)]
    # Short of budget, an empty place in the ladder comes before a quote that is merely off, and the
    # most-off quote before the others, so one side moving every tick cannot starve the other.
    ranked.sort(key=lambda item: (item[0], *_urgency(item[2], item[3]), item[1]))
    chosen = ranked if spare is None else ranked[: max(0, spare)]
    cancel += [old for _, _, _, old in chosen if old is not None]
    return Actions(
        cancel=(*cancel, *reduce_cancel),
        quotes=tuple(_quote_intent(layer) for _, _, layer, _ in chosen),
        reduce=reduce,
        deferred=held + len(ranked) - len(chosen),
    )


def _urgency(layer: Layer, old: OrderUpdate | None) -> tuple[int, Decimal]:
    if old is None or old.price is None:
        return 0, Decimal(0)
    return 1, -abs(old.price - layer.price)


def _side_changes(
    layers: Sequence[Layer], resting: Sequence[OrderUpdate], *, tick: Decimal, tolerance: Decimal | None
) -> tuple[list[OrderUpdate], list[tuple[Layer, OrderUpdate | None]]]:
    """One side's (orders to cancel in any case, [(layer to place, the wrong order it replaces)]).

    Wrong orders pair with missing layers from the inside out; wrong orders
    beyond the missing layers, or larger than a layer, are cancelled in any case.
    """
    stale, missing = diff_orders(layers, resting, tick=tick, tolerance=tolerance)
    size = layers[0].quantity if layers else Decimal(0)
    surplus = [order for order in stale if order.remaining > size]
    pairable = sorted(
        (order for order in stale if order.remaining <= size),
        key=lambda order: -order.side.sign * (order.price or Decimal(0)),
    )
    surplus += pairable[len(missing) :]
    pairs = [(layer, pairable[i] if i < len(pairable) else None) for i, layer in enumerate(missing)]
    return surplus, pairs


def _reduce_actions(
    *,
    plan: QuotePlan | None,
    best: tuple[Decimal, Decimal] | None,
    reduces: Sequence[OrderUpdate],
    position_action: PositionAction,
    reduce_mode: str,
    reduce_blocked: bool,
    tick: Decimal,
) -> tuple[list[OrderUpdate], OrderIntent | None]:
    resting = _open(reduces)
    if not isinstance(position_action, ReduceAction):
        return resting, None
    side, quantity = position_action.side, position_action.quantity
    if reduce_blocked:
        # The position does not show the last reduce yet: sizing another now could reduce twice.
        return [], None
    if reduce_mode != "maker":
        if resting:
            return [], None
        return [], OrderIntent(side=side, quantity=quantity, price=None, post_only=False, reduce_only=True)
    if plan is None or not plan.bid < plan.ask:
        return resting, None
    # Joining the best price on our own side rests at once and is first to fill among new orders.
    bid, ask = best if best is not None else (plan.bid, plan.ask)
    price = ask if side is Side.SELL else bid
    stale, missing = diff_orders([Layer(side, price, quantity)], resting, tick=tick)
    intent = None
    if missing:
        intent = OrderIntent(side=side, quantity=quantity, price=price, post_only=True, reduce_only=True)
    return stale, intent


@dataclass(frozen=True, slots=True)
class Batches:
    """One requote's requests in the order they go out.

    ``urgent`` cancels, ``early`` places and the other ``cancels`` go out
    together, in that order; the ``late`` places once every cancel is done.
    """

    urgent: tuple[OrderUpdate, ...] = ()
    early: tuple[OrderIntent, ...] = ()
    cancels: tuple[OrderUpdate, ...] = ()
    late: tuple[OrderIntent, ...] = ()


def sequence_requests(
    actions: Actions, *, resting: Sequence[OrderUpdate], position: Decimal, max_position: Decimal
) -> Batches:
    """Which places need not wait for the cancels, and which cancels come first.

    Waiting for the cancels costs a round trip to the venue on every requote.
    A quote goes out with the cancels when it cannot trade against any of our
    resting orders (one being cancelled may still be live, and a post-only
    order that would cross it is refused) and the worst case, every resting
    order and every early quote filled, keeps the position within
    ``max_position``.  The reduce always waits: a market reduce needs the
    quotes facing it gone.  A cancel goes before the early quotes unless an
    early quote on its side is priced better than it: an old quote the market
    moved towards is the one a taker can still hit.
    """
    live = _open(resting)
    facing: dict[Side, list[Decimal | None]] = {Side.BUY: [], Side.SELL: []}
    worst = {Side.BUY: position, Side.SELL: position}
    for order in live:
        facing[order.side].append(order.price)
        worst[order.side] += order.side.sign * order.remaining
    early: list[OrderIntent] = []
    late: list[OrderIntent] = []
    for intent in actions.quotes:
        price = intent.price
        crosses = price is None or any(
            other is None or intent.side.sign * (price - other) >= 0 for other in facing[intent.side.opposite]
        )
        after = worst[intent.side] + intent.side.sign * intent.quantity
        if crosses or intent.side.sign * after > max_position:
            late.append(intent)
        else:
            early.append(intent)
            worst[intent.side] = after
    if actions.reduce is not None:
        late.append(actions.reduce)

    def shielded(order: OrderUpdate) -> bool:
        return order.price is not None and any(
            intent.side is order.side
            and intent.price is not None
            and order.side.sign * (intent.price - order.price) > 0
            for intent in early
        )

    return Batches(
        urgent=tuple(order for order in actions.cancel if not shielded(order)),
        early=tuple(early),
        cancels=tuple(order for order in actions.cancel if shielded(order)),
        late=tuple(late),
    )


def _open(orders: Sequence[OrderUpdate]) -> list[OrderUpdate]:
    return [order for order in orders if order.status.is_open]


class OrderPacer:
    """Token bucket for order placements: ``rate_per_s`` refill, at most ``burst`` saved up."""

    def __init__(self, *, rate_per_s: float, burst: float, now_s: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._updated_s = now_s

    def _refill(self, now_s: float) -> None:
        elapsed = max(0.0, now_s - self._updated_s)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
        self._updated_s = max(self._updated_s, now_s)

    def available(self, *, now_s: float) -> int:
        """Whole placements that fit now."""
        self._refill(now_s)
        return max(0, int(self._tokens))

    def wait_s(self, *, now_s: float) -> float:
        """Seconds until the next whole placement fits (0: one fits now)."""
        self._refill(now_s)
        return max(0.0, (1.0 - self._tokens) / self.rate_per_s)

    def take(self, count: int, *, now_s: float) -> None:
        """Spend ``count`` placements."""
        self._refill(now_s)
        self._tokens -= count
