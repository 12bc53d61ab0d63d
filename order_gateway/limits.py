"""Pre-trade limits and rate buckets of the order gateway (pure: no I/O, time passed in).

Every ``place`` passes ``check_place`` before it reaches the venue: the trading
state set by the guardian, the gateway's order rate, the largest order value,
and the worst-case position (position plus every resting order on the side
plus the new order).  A refusal is a ``Refusal`` with a fixed ``RejectReason``
and a sentence for the log and the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.wire import OrderType, Place, RejectReason, Side, TradingState
from venues.precision import fmt

MAX_CLIENT_ID = 2**32 - 1
# The guardian places its own orders straight on the venue with client ids in the top half.
GUARDIAN_CLIENT_ID_MIN = 2**31


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RejectReason
    message: str


class TokenBucket:
    """``rate_per_s`` tokens a second, holding at most ``burst``; starts full."""

    def __init__(self, *, rate_per_s: float, burst: float, now_s: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._at_s = now_s

    def _refill(self, now_s: float) -> None:
        if now_s > self._at_s:
            self._tokens = min(self.burst, self._tokens + (now_s - self._at_s) * self.rate_per_s)
            self._at_s = now_s

    def try_take(self, *, now_s: float, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if they are there now."""
        self._refill(now_s)
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    def wait_s(self, *, now_s: float, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` are there (0: now); takes nothing."""
        self._refill(now_s)
        return max(0.0, (tokens - self._tokens) / self.rate_per_s)

    def take(self, *, now_s: float, tokens: float = 1.0) -> float:
        """Take ``tokens``, going into debt if needed; returns the seconds to wait before using them."""
        self._refill(now_s)
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s

    def drain(self, *, now_s: float, pause_s: float) -> None:
        """Empty the bucket so nothing is taken for ``pause_s`` (the venue said: slow down)."""
        self._refill(now_s)
        self._tokens = min(self._tokens, -pause_s * self.rate_per_s)


def effective_state(
    state: TradingState | None,
    *,
    state_age_s: float | None,
    heartbeat_age_s: float | None,
    timeout_s: float = 3.0,
) -> tuple[TradingState, str]:
    """The trading state to enforce: the guardian's, or HALTED while it is unknown or silent."""
    if state is None or state_age_s is None:
        return TradingState.HALTED, "no trading state from the risk guardian yet"
    if state_age_s > timeout_s:
        return TradingState.HALTED, f"no trading state from the risk guardian for {state_age_s:.1f} s"
    if heartbeat_age_s is None or heartbeat_age_s > timeout_s:
        shown = "ever" if heartbeat_age_s is None else f"for {heartbeat_age_s:.1f} s"
        return TradingState.HALTED, f"no heartbeat from the risk guardian {shown}"
    return state, ""


@dataclass(frozen=True, slots=True)
class Exposure:
    """Signed position and the unfilled size of resting (and in-flight) orders that can add to it."""

    position: Decimal
    resting_buy: Decimal
    resting_sell: Decimal

    def worst_case(self, side: Side, quantity: Decimal) -> Decimal:
        """The position if every order on ``side``, plus ``quantity`` more, filled."""
        if side is Side.BUY:
            return self.position + self.resting_buy + quantity
        return self.position - self.resting_sell - quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    max_position: Decimal
    max_order_notional: Decimal = Decimal(0)  # 0: no limit


def check_client_id(client_id: int) -> Refusal | None:
    """Client ids are uint32, never 0, with the top bit clear (the guardian's own range)."""
    if not 0 < client_id <= MAX_CLIENT_ID:
        return Refusal(RejectReason.MALFORMED, f"client id {client_id} is not a uint32 above 0")
    if client_id >= GUARDIAN_CLIENT_ID_MIN:
        return Refusal(
            RejectReason.MALFORMED, f"client id {client_id} has the top bit set: the guardian's range"
        )
    return None


def is_guardian(client_id: int | None) -> bool:
    """True for the client ids the guardian gives its own orders."""
    return client_id is not None and client_id >= GUARDIAN_CLIENT_ID_MIN


def check_state(place: Place, *, state: TradingState, why: str) -> Refusal | None:
    """HALTED admits no order; REDUCING only reduce-only ones."""
    if state is TradingState.HALTED:
        return Refusal(RejectReason.TRADING_STATE, f"trading is HALTED ({why or 'by the risk guardian'})")
    if state is TradingState.REDUCING and not place.reduce_only:
        return Refusal(RejectReason.TRADING_STATE, "trading is REDUCING: only reduce-only orders")
    return None


def check_place(
    place: Place,
    *,
    limits: Limits,
    exposure: Exposure | None,
    reference_price: Decimal | None,
) -> Refusal | None:
    """The gateway's own limits on one order (the trading state and rate are checked apart)."""
    if place.quantity <= 0:
        return Refusal(RejectReason.BAD_QUANTITY, f"quantity {fmt(place.quantity)} is not positive")
    if place.order_type is OrderType.LIMIT and (place.price is None or place.price <= 0):
        return Refusal(RejectReason.BAD_PRICE, "a limit order needs a positive price")
    if limits.max_order_notional > 0:
        price = place.price if place.order_type is OrderType.LIMIT else reference_price
        if price is None:
            return Refusal(RejectReason.NOTIONAL_LIMIT, "no reference price yet to value a market order")
        notional = price * place.quantity
        if notional > limits.max_order_notional:
            return Refusal(
                RejectReason.NOTIONAL_LIMIT,
                f"order value {fmt(notional)} is above max-order-notional {fmt(limits.max_order_notional)}",
            )
    if place.reduce_only:
        return None
    if exposure is None:
        return Refusal(RejectReason.UNKNOWN_STATE, "the position is not known yet")
    worst = exposure.worst_case(place.side, place.quantity)
    # Directional: a sell from a long beyond the limit brings it back, so it is not refused.
    if worst * place.side.sign > limits.max_position:
        return Refusal(
            RejectReason.POSITION_LIMIT,
            f"worst-case position {fmt(worst)} (position {fmt(exposure.position)}, resting "
            f"{fmt(exposure.resting_buy if place.side is Side.BUY else exposure.resting_sell)} "
            f"{place.side.value}, this order {fmt(place.quantity)}) is beyond max-position "
            f"{fmt(limits.max_position)}",
        )
    return None
