"""The guardian's vocabulary: limits, observations, the actions its rules return, and the texts it logs.

``risk.rules.Guardian.decide`` takes an ``Observation`` and returns a
``Decision`` whose ``actions`` the guardian process executes in order.  The
reason and log-key strings are stable: they become metric labels and
``rk.state`` / ``rk.event`` reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from services.wire import Side, TradingState

Lang = Literal["zh", "en"]
LogLevel = Literal["info", "warning", "error"]


_POSITIVE_TIMES = (
    "hang_timeout_s",
    "startup_grace_s",
    "restart_interval_s",
    "md_stale_s",
    "close_timeout_s",
    "cancel_retry_s",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """One symbol's risk limits; money in the quote currency, times in seconds.

    ``stop_loss`` (negative) and ``take_profit`` apply to unrealized PnL; None
    disables them.  A strategy counts as hung when its newest heartbeat is older
    than ``hang_timeout_s`` (or none came within ``startup_grace_s`` of the first
    observation) and as recovered after ``hang_settle_s`` of fresh heartbeats
    from one instance; a still-hung strategy is restarted every
    ``restart_interval_s``.  ``margin_fraction_limit`` is the lowest
    ``Observation.margin_fraction`` (equity over position notional, as the
    venues report it) that keeps the state ACTIVE; None disables the rule.
    ``watch_strategy`` False turns the hang watchdog off (the standalone kill
    switch guards with no strategy running); ``watch_feed`` True also halts when
    the market-data feed the strategy quotes from (``Observation.feed_age_s``)
    is older than ``md_stale_s``.  The mark itself may be ``mark_stale_s`` old
    (None: ``md_stale_s``), which must cover the guardian's own poll interval.
    A close not settled within ``close_timeout_s`` is sent again; orders still
    open while HALTED are cancelled again every ``cancel_retry_s``.
    """

    symbol: str
    max_position: Decimal
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    hang_timeout_s: float = 1.5
    hang_settle_s: float = 1.0
    startup_grace_s: float = 30.0
    restart_interval_s: float = 30.0
    md_stale_s: float = 5.0
    sl_cooldown_s: float = 0.0
    on_hang: Literal["cancel", "flatten"] = "cancel"
    margin_fraction_limit: Decimal | None = None
    pnl_disagreement_tolerance: Decimal = Decimal(1)
    close_timeout_s: float = 10.0
    cancel_retry_s: float = 2.0
    watch_strategy: bool = True
    watch_feed: bool = False
    mark_stale_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_position <= 0:
            raise ValueError(f"max_position must be positive, got {self.max_position}")
        if self.stop_loss is not None and self.stop_loss >= 0:
            raise ValueError(f"stop_loss is a loss and must be negative (e.g. -25), got {self.stop_loss}")
        if self.take_profit is not None and self.take_profit <= 0:
            raise ValueError(f"take_profit must be positive, got {self.take_profit}")
        if self.on_hang not in ("cancel", "flatten"):
            raise ValueError(f"on_hang must be 'cancel' or 'flatten', got {self.on_hang!r}")
        if self.margin_fraction_limit is not None and self.margin_fraction_limit <= 0:
            raise ValueError(f"margin_fraction_limit must be positive, got {self.margin_fraction_limit}")
        if self.pnl_disagreement_tolerance < 0:
            raise ValueError("pnl_disagreement_tolerance must not be negative")
        for name in _POSITIVE_TIMES:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.mark_stale_s is not None and self.mark_stale_s <= 0:
            raise ValueError("mark_stale_s must be positive")
        if self.hang_settle_s < 0 or self.sl_cooldown_s < 0:
            raise ValueError("hang_settle_s and sl_cooldown_s must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What the guardian knows at ``now_s``; ages are seconds since the newest update (None: never seen).

    ``md_age_s`` is the age of ``mark_price``; ``feed_age_s`` that of the newest
    message from the market-data feed (read only with ``Limits.watch_feed``).
    ``margin_fraction`` is the account's equity over its position notional (None
    without a position).  ``open_orders`` None means unknown.  ``position_age_s``
    is how old ``position`` is (None: never read), held to the mark's age limit.
    ``strategy_finished`` is the newest strategy instance that announced a clean end.
    """

    now_s: float
    position: Decimal
    entry_price: Decimal
    mark_price: Decimal | None
    md_age_s: float | None
    strategy_heartbeat_age_s: float | None
    strategy_instance: str | None = None
    venue_unrealized_pnl: Decimal | None = None
    margin_fraction: Decimal | None = None
    open_orders: int | None = None
    feed_age_s: float | None = None
    position_age_s: float | None = 0.0
    strategy_finished: str | None = None


class Reason(StrEnum):
    """Why the trading state is what it is (ACTIVE carries ``NONE``)."""

    NONE = ""
    STARTUP = "startup"
    MANUAL = "manual"
    STRATEGY_HANG = "strategy_hang"
    STRATEGY_DONE = "strategy_done"
    MD_STALE = "md_stale"
    POSITION_UNKNOWN = "position_unknown"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    FLATTEN = "flatten"
    MAX_POSITION = "max_position"
    MARGIN = "margin"


@dataclass(frozen=True, slots=True)
class SetState:
    """Publish the new trading state on ``rk.state``."""

    state: TradingState
    reason: Reason


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every open order on the guarded symbol."""

    reason: Reason


@dataclass(frozen=True, slots=True)
class ClosePosition:
    """Send a reduce-only market order; report its outcome with ``Guardian.close_result(close_id, ...)``."""

    side: Side
    quantity: Decimal
    reason: Reason
    close_id: int


@dataclass(frozen=True, slots=True)
class RestartStrategy:
    """Restart the strategy process (the guardian does it only under supervisord)."""

    reason: Reason


@dataclass(frozen=True, slots=True)
class Log:
    """A log line: ``key`` is stable, ``message`` in the operator's language, ``detail`` the figures."""

    key: str
    message: str
    level: LogLevel = "warning"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AlertMismatch:
    """Our mark-to-market unrealized PnL and the venue's differ by more than the tolerance."""

    ours: Decimal
    venue: Decimal
    difference: Decimal
    message: str


Action = SetState | CancelAll | ClosePosition | RestartStrategy | Log | AlertMismatch


@dataclass(frozen=True, slots=True)
class Decision:
    """The state after an observation, the actions to execute in order, and our mark-to-market PnL."""

    state: TradingState
    reason: Reason
    actions: tuple[Action, ...]
    unrealized_pnl: Decimal | None


_TEXTS: dict[str, tuple[str, str]] = {
    # key: (Traditional Chinese, English); the stop-loss and take-profit lines are the seed's own.
    "stop_loss": ("止損觸發，已以市價平倉", "Stop-loss triggered, position closed at market"),
    "take_profit": ("止盈觸發，已鎖定利潤", "Take-profit triggered, profit locked in"),
    "exit_done": ("倉位已平，恢復報價", "Position flat, quoting resumes"),
    "max_position": ("超過最大倉位，風控平倉超出部分", "Position above the maximum, closing the excess"),
    "strategy_hang": (
        "策略心跳中斷，已撤銷所有掛單並停止交易",
        "Strategy heartbeat lost: orders cancelled, trading halted",
    ),
    "strategy_recovered": ("策略心跳恢復穩定", "Strategy heartbeats steady again"),
    "strategy_instance": ("偵測到新的策略實例", "A new strategy instance is heartbeating"),
    "strategy_done": (
        "策略已正常結束，停止交易直到新的策略啟動",
        "Strategy finished its run: trading halted until a new strategy starts",
    ),
    "md_stale": (
        "行情數據過期，已撤銷所有掛單並停止交易",
        "Market data stale: orders cancelled, trading halted",
    ),
    "md_recovered": ("行情數據恢復", "Market data fresh again"),
    "position_unknown": (
        "無法取得倉位，已撤銷所有掛單並停止交易",
        "Position unknown: orders cancelled, trading halted",
    ),
    "position_recovered": ("倉位數據恢復", "Position known again"),
    "margin": ("保證金率低於下限，只允許減倉", "Margin fraction below the limit: reduce-only"),
    "manual_halt": ("已手動停止交易", "Trading halted by the operator"),
    "manual_resume": ("已手動恢復交易", "Trading resumed by the operator"),
    "flatten": (
        "手動平倉：撤銷所有掛單並以市價平倉",
        "Flatten requested: cancelling orders, closing at market",
    ),
    "close_failed": ("平倉單失敗，將重試", "Close order failed, will retry"),
    "close_timeout": ("平倉單逾時未確認，將重試", "Close order not confirmed in time, retrying"),
    "cancel_retry": ("停止交易中仍有掛單，重新撤單", "Orders still open while halted, cancelling again"),
    "pnl_mismatch": ("未實現盈虧與交易所數據不一致", "Unrealized PnL disagrees with the venue's figure"),
    "pnl_mismatch_cleared": ("未實現盈虧與交易所數據恢復一致", "Unrealized PnL agrees with the venue again"),
}

LOG_KEYS = frozenset(_TEXTS)


def age_text(age_s: float | None) -> str:
    """An age for a log line's detail: seconds to the millisecond, or "never"."""
    return "never" if age_s is None else f"{age_s:.3f}"


def text(key: str, lang: Lang) -> str:
    """The operator-facing text for a log key in ``lang`` ("zh" or "en")."""
    zh, en = _TEXTS[key]
    return en if lang == "en" else zh


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The guardian's view for a status answer."""

    state: TradingState
    reason: Reason
    position: Decimal
    unrealized_pnl: Decimal | None
