"""The design being replaced, as a benchmark reference: one process that polls and re-quotes blindly.

    python -m bench.reference_loop --config FILE.toml   (credentials and URLs from the environment)

Every cycle: sleep ``--interval``, GET the position, GET the order book, cancel
every order, place the quotes again (one REST call each).  It prices with the
same quoter as the strategy (``strategy.quoter.plan_quotes``) on the same
connector, so a comparison with the real stack measures the architecture
(polling and cancel-all against streams and kept orders), not the pricing.
It runs for ``--duration`` seconds or until SIGTERM, then cancels everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import signal
import sys
import time
from typing import Protocol

from services.config import Config, ConfigError, load_config
from services.wire import OrderType, OrderUpdate, Place, Position
from strategy.quoter import QuoteParams, QuotePlan, plan_quotes, quote_params
from venues.base import DepthSnapshot, VenueError
from venues.factory import open_venue
from venues.precision import MarketRules

log = logging.getLogger("bench.reference_loop")


class Trading(Protocol):
    """The part of a ``Venue`` the loop trades through."""

    async def position(self, symbol: str) -> Position: ...

    async def cancel_all(self, symbol: str) -> int: ...

    async def place_order(self, order: Place) -> OrderUpdate: ...

    async def depth(self, symbol: str) -> DepthSnapshot: ...


async def cycle(
    venue: Trading, *, rules: MarketRules, params: QuoteParams, ids: itertools.count[int]
) -> QuotePlan | None:
    """One pass of the old loop: position, book, cancel all, place; the plan it quoted (None: no book)."""
    symbol = rules.symbol
    position = await venue.position(symbol)
    depth = await venue.depth(symbol)
    await venue.cancel_all(symbol)
    if not depth.bids or not depth.asks:
        return None
    # Backpack lists REST bids lowest first: the best of each side is its extreme, whatever the order.
    best_bid = max(price for price, _ in depth.bids)
    best_ask = min(price for price, _ in depth.asks)
    plan = plan_quotes(bid=best_bid, ask=best_ask, rules=rules, params=params, position=position.quantity)
    for layer in plan.layers:
        order = Place(
            client_id=next(ids),
            symbol=symbol,
            side=layer.side,
            quantity=layer.quantity,
            price=layer.price,
            order_type=OrderType.LIMIT,
            post_only=True,
        )
        try:
            await venue.place_order(order)
        except VenueError as exc:
            log.warning("place %s %s @ %s failed: %s", layer.side.value, layer.quantity, layer.price, exc)
    return plan


async def run(cfg: Config) -> None:
    venue = open_venue(cfg, role="trading")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ids = itertools.count(random.randrange(1, 2**31))
    params = quote_params(cfg)
    end_s = time.monotonic() + cfg.duration
    try:
        rules = (await venue.load_markets())[cfg.symbol]
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(cfg.interval, end_s - time.monotonic()))):
                    await stop.wait()
            if stop.is_set() or time.monotonic() >= end_s:
                break
            try:
                plan = await cycle(venue, rules=rules, params=params, ids=ids)
            except VenueError as exc:
                log.warning("cycle failed: %s", exc)
                continue
            if plan is not None:
                log.info("quoted bid %s ask %s", plan.bid_price, plan.ask_price)
    finally:
        with contextlib.suppress(VenueError):
            await venue.cancel_all(cfg.symbol)
        await venue.close()


def main(argv: list[str] | None = None) -> int:
    cfg = load_config(argv, prog="python -m bench.reference_loop", description=__doc__.splitlines()[0])
    logging.basicConfig(level=cfg.log_level, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(run(cfg))
    except (ConfigError, KeyError) as exc:
        print(f"reference loop: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
