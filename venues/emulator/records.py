"""The emulator engine's records: orders, fills, funding rows, and why an order is refused.

Venue-neutral: front ends translate these into each venue's field names,
status words and error codes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from services.wire import OrderStatus, OrderType, RejectReason, Side, TimeInForce

ZERO = Decimal(0)
UINT32_MAX = 2**32 - 1
QUOTE_UNIT = Decimal("0.000001")  # USDC has 6 decimals: fees, realized PnL and funding settle to it


class SelfTradePrevention(StrEnum):
    """What happens when an order would trade with its own account's resting order."""

    REJECT_TAKER = "reject_taker"
    REJECT_MAKER = "reject_maker"
    REJECT_BOTH = "reject_both"
    ALLOW = "allow"


class ExpiryReason(StrEnum):
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
    FILL_OR_KILL = "fill_or_kill"
    SELF_TRADE_PREVENTION = "self_trade_prevention"
    INSUFFICIENT_LIQUIDITY = "insufficient_liquidity"
    REDUCE_ONLY_NOT_REDUCED = "reduce_only_not_reduced"
    POST_ONLY_TAKER = "post_only_taker"  # accepted, then expired: it would have taken (Aster's GTX)


class RejectDetail(StrEnum):
    """The precise cause of a refusal, so front ends can give the venue's own text."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    UNKNOWN_ACCOUNT = "unknown_account"
    PRICE_MISSING = "price_missing"
    PRICE_NOT_POSITIVE = "price_not_positive"
    PRICE_TICK = "price_tick"
    QUANTITY_MISSING = "quantity_missing"
    QUANTITY_NOT_POSITIVE = "quantity_not_positive"
    QUANTITY_STEP = "quantity_step"
    QUANTITY_MIN = "quantity_min"
    CLIENT_ID = "client_id"
    POST_ONLY_MARKET = "post_only_market"
    POST_ONLY_TAKER = "post_only_taker"
    REDUCE_ONLY_NOT_REDUCING = "reduce_only_not_reducing"
    INSUFFICIENT_MARGIN = "insufficient_margin"


class OrderRejected(Exception):
    """The engine refused an order; nothing was created."""

    def __init__(self, reason: RejectReason, detail: RejectDetail, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.detail = detail


class OrderNotFound(Exception):
    """No open order matches the id or client id given."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """A new order as a front end hands it to the engine.

    Market orders give ``quantity`` or ``quote_quantity`` (spend at most that
    much quote currency); limit orders give ``quantity`` and ``price``.
    """

    symbol: str
    side: Side
    order_type: OrderType = OrderType.LIMIT
    quantity: Decimal | None = None
    price: Decimal | None = None
    quote_quantity: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    fill_or_kill: bool = False
    post_only: bool = False
    reduce_only: bool = False
    client_id: int | None = None
    stp: SelfTradePrevention = SelfTradePrevention.REJECT_TAKER


@dataclass(slots=True, kw_only=True)
class Order:
    """An order's full state; the engine mutates it, events carry copies."""

    order_id: str
    account_id: str
    symbol: str
    side: Side
    order_type: OrderType
    price: Decimal | None
    quantity: Decimal | None
    quote_quantity: Decimal | None
    tif: TimeInForce
    fill_or_kill: bool
    post_only: bool
    reduce_only: bool
    client_id: int | None
    stp: SelfTradePrevention
    created_ms: int
    filled_quantity: Decimal = ZERO
    filled_quote: Decimal = ZERO
    status: OrderStatus = OrderStatus.NEW
    expiry_reason: ExpiryReason | None = None
    # When the venue request that placed it reached the emulator (None: the simulator's own order).
    received_ns: int | None = None

    @property
    def remaining(self) -> Decimal:
        """Base quantity still to fill (zero for quote-quantity market orders, which never rest)."""
        if self.quantity is None:
            return ZERO
        return self.quantity - self.filled_quantity

    def snapshot(self) -> Order:
        return replace(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One account's side of one trade; ``fee`` is in ``fee_asset`` and was taken from collateral."""

    trade_id: int
    account_id: str
    order_id: str
    client_id: int | None
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    ts_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingRow:
    """Funding settled on one position at the end of one interval; ``amount`` > 0 is received."""

    symbol: str
    amount: Decimal
    rate: Decimal
    position_quantity: Decimal
    mark: Decimal
    interval_end_ms: int
