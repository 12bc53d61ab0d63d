"""The market's rules (tick, step, minimums, asset names) from the venue's public REST, before quoting."""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections.abc import Iterable, Mapping

from services.config import Config
from venues.base import RateLimited, Unavailable, VenueError
from venues.factory import open_venue
from venues.precision import MarketRules

log = logging.getLogger(__name__)


class MarketError(Exception):
    """The market cannot be traded: unknown symbol or venue unreachable (the message says which)."""


def unknown_symbol_message(symbol: str, known: Iterable[str], *, exchange: str) -> str:
    """A sentence naming the unknown symbol and the closest listed ones."""
    listed = sorted(known)
    close = difflib.get_close_matches(symbol.upper(), listed, n=3, cutoff=0.5)
    if close:
        hint = f"; did you mean {', '.join(close)}?"
    else:
        hint = f"; {exchange} lists {len(listed)} perp markets"
    return f"unknown symbol {symbol} on {exchange}{hint}"


async def load_rules(
    cfg: Config, *, env: Mapping[str, str] | None = None, attempts: int = 3, retry_s: float = 1.0
) -> MarketRules:
    """The rules of ``cfg.symbol``; ``MarketError`` for an unknown symbol or an unreachable venue."""
    venue = open_venue(cfg, role="public", env=env)
    try:
        for attempt in range(1, attempts + 1):
            try:
                markets = await venue.load_markets()
                break
            except (Unavailable, RateLimited) as exc:
                if attempt == attempts:
                    raise MarketError(f"cannot load {cfg.exchange} markets: {exc}") from None
                log.warning("loading markets failed (%s); retrying in %g s", exc, retry_s)
                await asyncio.sleep(retry_s)
            except VenueError as exc:
                raise MarketError(f"cannot load {cfg.exchange} markets: {exc}") from None
    finally:
        await venue.close()
    rules = markets.get(cfg.symbol)
    if rules is None:
        raise MarketError(unknown_symbol_message(cfg.symbol, markets, exchange=cfg.exchange))
    return rules
