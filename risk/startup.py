"""Before the guardian arms: the symbol exists, the limits make sense, the account can carry them.

Each failure is a ``StartupError`` whose message tells the trader what to
change; nothing has been sent to the venue by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from risk.arming import check_arming
from risk.model import Lang, Limits
from services.config import Config
from venues.base import Venue, VenueError
from venues.precision import MarketRules

MARK_STALE_POLLS = 3


class StartupError(Exception):
    """The guardian cannot arm; the message says why and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardOptions:
    """The guardian's own settings beyond the shared ``Config`` (times in seconds)."""

    margin_fraction_limit: Decimal | None = None
    leverage: Decimal | None = None
    poll_interval_s: float = 1.0
    near_poll_interval_s: float = 0.25
    # While the bus is live (fresh market data, the order gateway beating) the venue is asked less often.
    bus_poll_interval_s: float = 3.0
    # The strategy's reduce line (target + threshold): up to it the position is the strategy's by design.
    reduce_above: Decimal = Decimal(0)
    startup_grace_s: float = 30.0
    dead_man_timeout_s: float = 120.0
    check_margin: bool = True


def lang_of(cfg: Config) -> Lang:
    """The rules' language for the configured report language."""
    return "en" if cfg.lang == "en" else "zh"


def limits_of(cfg: Config, options: GuardOptions, *, watch_strategy: bool, watch_feed: bool) -> Limits:
    """The rules' limits from the configuration; ``StartupError`` when they make no sense."""
    try:
        return Limits(
            symbol=cfg.symbol,
            max_position=cfg.max_position,
            stop_loss=cfg.stop_loss,
            take_profit=cfg.take_profit,
            hang_timeout_s=cfg.hang_timeout,
            md_stale_s=cfg.md_stale,
            # The guardian's own poll must be allowed to be a little late before its mark counts as stale,
            # at the slower pace it keeps while the bus is live too (positions then come over the bus).
            mark_stale_s=max(
                cfg.md_stale, MARK_STALE_POLLS * max(options.poll_interval_s, options.bus_poll_interval_s)
            ),
            sl_cooldown_s=cfg.sl_cooldown,
            on_hang="flatten" if cfg.on_hang == "flatten" else "cancel",
            margin_fraction_limit=options.margin_fraction_limit,
            startup_grace_s=options.startup_grace_s,
            watch_strategy=watch_strategy,
            watch_feed=watch_feed,
        )
    except ValueError as exc:
        raise StartupError(str(exc)) from None


async def market_rules(venue: Venue, symbol: str) -> MarketRules:
    """The symbol's tick, step and minimums; ``StartupError`` when the venue does not list it."""
    try:
        markets = await venue.load_markets()
    except VenueError as exc:
        raise StartupError(f"cannot load the markets from {venue.name}: {exc}") from None
    if symbol not in markets:
        close = sorted(name for name in markets if symbol.split("_")[0].upper() in name)
        hint = f"; similar: {', '.join(close[:5])}" if close else ""
        raise StartupError(f"unknown symbol {symbol} on {venue.name}{hint}")
    return markets[symbol]


async def check_margin(venue: Venue, cfg: Config, options: GuardOptions, *, lang: Lang) -> None:
    """``StartupError`` when the maximum position at the current mark needs more than the account holds."""
    try:
        price = await venue.mark_price(cfg.symbol)
        balance = await venue.collateral()
        leverage = options.leverage or await venue.leverage(cfg.symbol) or Decimal(1)
    except VenueError as exc:
        raise StartupError(f"cannot read the account and mark price for the margin check: {exc}") from None
    refusal = check_arming(
        max_position=cfg.max_position, price=price, equity=balance.equity, leverage=leverage, lang=lang
    )
    if refusal is not None:
        raise StartupError(refusal)
