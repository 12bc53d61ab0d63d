"""The standalone kill switch: ``watch`` guards a position with no other process, ``flatten`` closes it now.

Both talk to the venue with the guardian's own credentials and nothing else:
no bus, no order gateway, no strategy heartbeat expected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from risk.engine import GuardianEngine
from risk.model import ClosePosition, Lang, Reason
from risk.orders import ClientIds, close_order, describe
from risk.rules import Guardian
from risk.startup import GuardOptions, limits_of
from services.config import Config
from services.wire import Side
from venues.base import Venue, VenueError
from venues.precision import MarketRules, fmt

log = logging.getLogger("risk")


async def watch(cfg: Config, venue: Venue, rules: MarketRules, *, options: GuardOptions, lang: Lang) -> None:
    """Guard ``cfg.symbol`` (max position, stop-loss, take-profit) until SIGINT or SIGTERM."""
    limits = limits_of(cfg, options, watch_strategy=False, watch_feed=False)
    engine = GuardianEngine(venue, Guardian(limits, lang=lang), rules, options=options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "watching %s %s: max position %s, stop-loss %s, take-profit %s",
        cfg.exchange,
        cfg.symbol,
        fmt(cfg.max_position),
        fmt(cfg.stop_loss) if cfg.stop_loss is not None else "off",
        fmt(cfg.take_profit) if cfg.take_profit is not None else "off",
    )
    run = asyncio.create_task(engine.run(), name="risk-watch")
    stopped = asyncio.create_task(stop.wait(), name="risk-watch-stop")
    try:
        await asyncio.wait((run, stopped), return_when=asyncio.FIRST_COMPLETED)
        if run.done():
            run.result()
    finally:
        for task in (run, stopped):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("watch stopped")


@dataclass(frozen=True, slots=True)
class FlattenResult:
    """``ok`` once the venue showed the position flat and no open order; else why not."""

    ok: bool
    position: Decimal | None
    open_orders: int | None
    reason: str = ""


async def flatten(
    venue: Venue,
    rules: MarketRules,
    *,
    timeout_s: float = 30.0,
    retry_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
) -> FlattenResult:
    """Cancel all and close the position at market, round after round, until the venue shows both done."""
    symbol = rules.symbol
    ids = ClientIds()
    deadline = clock() + timeout_s
    position: Decimal | None = None
    orders: int | None = None
    reason = ""
    while True:
        try:
            async with asyncio.timeout(max(deadline - clock(), 0.0)):
                position, orders, reason = await _flatten_round(venue, rules, ids)
            if position == 0 and orders == 0:
                log.info("%s is flat with no open orders", symbol)
                return FlattenResult(True, position, orders)
        except VenueError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error("flatten round failed: %s", reason)
        except TimeoutError:
            reason = reason or f"the venue did not answer within {timeout_s:g} s"
        if clock() + retry_s > deadline:
            return FlattenResult(False, position, orders, reason)
        await asyncio.sleep(retry_s)


async def _flatten_round(venue: Venue, rules: MarketRules, ids: ClientIds) -> tuple[Decimal, int, str]:
    """Cancel all, close what is held, read back: the position, the open orders and what is left to do."""
    symbol = rules.symbol
    await venue.cancel_all(symbol)
    position = (await venue.position(symbol)).quantity
    reason = ""
    if position != 0:
        side = Side.SELL if position > 0 else Side.BUY
        action = ClosePosition(side, abs(position), Reason.FLATTEN, 0)
        order = close_order(action, symbol=symbol, position=position, rules=rules, client_id=ids.next())
        if order is None:
            reason = f"position {fmt(position)} is below the venue minimum {fmt(rules.min_quantity)}"
        else:
            update = await venue.place_order(order)
            log.warning("close sent: %s, %s", describe(order), update.status.value)
        position = (await venue.position(symbol)).quantity
    orders = len(await venue.open_orders(symbol))
    return position, orders, reason or f"position {fmt(position)}, {orders} open orders"
