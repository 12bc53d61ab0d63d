"""Every message on the bus, one dataclass each, and the enums they share.

The venue connectors yield these same types (``Bbo``, ``OrderUpdate``, ``Fill``
...), so a gateway publishes what its venue gives it without a translation
layer.  The frame format and validation live in ``services.codec``.
"""

from __future__ import annotations

from dataclasses import field
from decimal import Decimal
from enum import StrEnum

from services.codec import Envelope, Message, WireError, decode, encode, message, message_types

__all__ = ["Envelope", "Message", "WireError", "decode", "encode", "idempotency_key", "message_types"]


# ---------------------------------------------------------------- enums


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    # Any order perp-mm never places: a stop, take-profit, trailing stop or liquidation order set
    # on the venue (its web app, another program), or a type the connector does not know.  The
    # venue's own name is in ``OrderUpdate.venue_type``.  Such an order is foreign: the strategy
    # never cancels it; the kill switch and flatten do.
    CONDITIONAL = "conditional"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"


class OrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class FeedState(StrEnum):
    LIVE = "live"
    STALE = "stale"
    RECONNECTING = "reconnecting"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class RejectReason(StrEnum):
    """Normalized reasons an order request is refused (a fixed set: metric labels)."""

    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    REDUCE_ONLY = "reduce_only"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    BAD_PRICE = "bad_price"
    BAD_QUANTITY = "bad_quantity"
    MIN_NOTIONAL = "min_notional"
    UNKNOWN_ORDER = "unknown_order"
    RATE_LIMITED = "rate_limited"
    TRADING_STATE = "trading_state"
    POSITION_LIMIT = "position_limit"
    NOTIONAL_LIMIT = "notional_limit"
    AUTH = "auth"
    UNAVAILABLE = "unavailable"
    UNKNOWN_STATE = "unknown_state"
    MALFORMED = "malformed"
    OTHER = "other"


Level = tuple[Decimal, Decimal]

# ---------------------------------------------------------------- market data


@message
class Bbo(Message):
    TYPE = "bbo"
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    update_id: int = 0

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@message
class Book(Message):
    """Top levels of the book, best first; ``update_id`` is the venue's sequence."""

    TYPE = "book"
    symbol: str
    bids: list[Level]
    asks: list[Level]
    update_id: int = 0


@message
class Trade(Message):
    TYPE = "trade"
    symbol: str
    trade_id: str
    price: Decimal
    quantity: Decimal
    taker_side: Side


@message
class Mark(Message):
    TYPE = "mark"
    symbol: str
    mark: Decimal
    index: Decimal | None = None
    funding_rate: Decimal | None = None
    next_funding_ms: int = 0


@message
class MdStatus(Message):
    TYPE = "md_status"
    state: FeedState
    symbol: str = ""
    reason: str = ""


# ---------------------------------------------------------------- execution


@message
class OrderUpdate(Message):
    """An order's state as the venue last reported it."""

    TYPE = "order"
    symbol: str
    order_id: str
    client_id: int | None
    side: Side
    order_type: OrderType
    price: Decimal | None
    quantity: Decimal
    filled_quantity: Decimal
    status: OrderStatus
    post_only: bool = False
    reduce_only: bool = False
    reason: str = ""
    venue_type: str = ""  # the venue's own type (and status) name for a CONDITIONAL order
    # Set by the order gateway: not placed through perp-mm (not in its journal, not the guardian's).
    # The strategy leaves it alone; the worst-case position counts it unless it is reduce-only.
    foreign: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity


@message
class Fill(Message):
    TYPE = "fill"
    symbol: str
    trade_id: str
    order_id: str
    client_id: int | None
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool


@message
class Position(Message):
    """Net position; ``quantity`` is signed (long > 0)."""

    TYPE = "position"
    symbol: str
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None


@message
class Balance(Message):
    TYPE = "balance"
    asset: str
    equity: Decimal
    available: Decimal
    margin_fraction: Decimal | None = None


@message
class FundingPayment(Message):
    """Funding settled on a position; ``amount`` > 0 is received, < 0 paid (quote currency)."""

    TYPE = "funding"
    symbol: str
    payment_id: str
    amount: Decimal
    rate: Decimal | None = None


@message
class ExStatus(Message):
    TYPE = "ex_status"
    state: FeedState
    reason: str = ""


# ---------------------------------------------------------------- order requests and replies


@message
class Place(Message):
    """Place an order; ``client_id`` (uint32) is the idempotency key end to end."""

    TYPE = "place"
    client_id: int
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal | None = None
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False


@message
class Cancel(Message):
    TYPE = "cancel"
    symbol: str
    client_id: int | None = None
    order_id: str | None = None


@message
class CancelAll(Message):
    TYPE = "cancel_all"
    symbol: str


@message
class SnapshotRequest(Message):
    TYPE = "snapshot"
    symbol: str


@message
class Ping(Message):
    TYPE = "ping"


@message
class Pong(Message):
    TYPE = "pong"
    process: str
    state: TradingState = TradingState.ACTIVE


@message
class OrderReply(Message):
    """Answer to ``place`` and ``cancel``: the order as it stands, or the reason it was refused."""

    TYPE = "order_reply"
    ok: bool
    order: OrderUpdate | None = None
    reason: RejectReason | None = None
    message: str = ""


@message
class CancelAllReply(Message):
    TYPE = "cancel_all_reply"
    ok: bool
    cancelled: int = 0
    reason: RejectReason | None = None
    message: str = ""


@message
class Snapshot(Message):
    """Open orders, position and balances, with the ``exec`` publisher's seq at the time taken."""

    TYPE = "snapshot_reply"
    symbol: str
    exec_seq: int
    exec_src: str
    orders: list[OrderUpdate] = field(default_factory=list)
    position: Position | None = None
    balances: list[Balance] = field(default_factory=list)
    state: TradingState = TradingState.ACTIVE


@message
class ErrorReply(Message):
    TYPE = "error"
    reason: RejectReason
    message: str = ""


# ---------------------------------------------------------------- liveness, risk, strategy


@message
class Heartbeat(Message):
    TYPE = "heartbeat"
    process: str
    instance: str
    loop_count: int


@message
class RiskState(Message):
    TYPE = "risk_state"
    state: TradingState
    reason: str = ""
    symbol: str = ""


@message
class RiskEvent(Message):
    TYPE = "risk_event"
    action: str
    reason: str
    symbol: str = ""
    quantity: Decimal | None = None
    message: str = ""


@message
class RiskCommand(Message):
    """Risk control: ``status``, ``halt``, ``resume`` or ``flatten``."""

    TYPE = "risk_command"
    action: str
    reason: str = ""


@message
class RiskStatus(Message):
    TYPE = "risk_status"
    state: TradingState
    reason: str
    symbol: str
    position: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    heartbeat_ages_s: dict[str, float] = field(default_factory=dict)


@message
class StrategyDone(Message):
    """On ``st.status``: this strategy instance ended on purpose (``--duration``, a stop), orders cancelled.

    Sent before its last heartbeat, so the guardian tells a finished strategy from a hung one.
    """

    TYPE = "strategy_done"
    instance: str
    symbol: str = ""
    reason: str = ""


@message
class Quotes(Message):
    TYPE = "quotes"
    symbol: str
    bids: list[Level]
    asks: list[Level]
    mid: Decimal | None = None


@message
class PnlReport(Message):
    TYPE = "pnl"
    symbol: str
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    funding: Decimal
    volume_base: Decimal
    position: Decimal


def idempotency_key(msg: Message) -> str | None:
    """The key under which a request's first answer is cached (None: never cached)."""
    if isinstance(msg, Place):
        return f"place:{msg.client_id}"
    if isinstance(msg, Cancel):
        ref = msg.client_id if msg.client_id is not None else msg.order_id
        return f"cancel:{msg.symbol}:{ref}"
    return None
