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
from dataclasses import dataclass, field
from decimal import Decimal

from risk.engine import GuardianEngine
from risk.model import ClosePosition, Lang, Reason
from risk.orders import ClientIds, close_order, describe
from risk.rules import Guardian
from risk.startup import GuardOptions, limits_of
from risk.sweep import Swept, cancel_everything
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
    """``ok`` once the venue showed the position flat and no open order; else why not.

    ``swept`` counts the orders cancelled on the way, foreign ones (stops and take-profits
    set on the venue, which flatten cancels too) named apart.
    """

    ok: bool
    position: Decimal | None
    open_orders: int | None
    reason: str = ""
    swept: Swept = field(default_factory=lambda: Swept(0))


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
    swept: list[Swept] = []
    while True:
        try:
            async with asyncio.timeout(max(deadline - clock(), 0.0)):
                position, orders, reason = await _flatten_round(venue, rules, ids, swept)
            if position == 0 and orders == 0:
                log.info("%s is flat with no open orders", symbol)
                return FlattenResult(True, position, orders, swept=_total(swept))
        except VenueError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error("flatten round failed: %s", reason)
        except TimeoutError:
            reason = reason or f"the venue did not answer within {timeout_s:g} s"
        if clock() + retry_s > deadline:
            return FlattenResult(False, position, orders, reason, swept=_total(swept))
        await asyncio.sleep(retry_s)


def _total(rounds: list[Swept]) -> Swept:
    foreign = {order.order_id: order for swept in rounds for order in swept.foreign}
    return Swept(sum(swept.cancelled for swept in rounds), tuple(foreign.values()))


async def _flatten_round(
    venue: Venue, rules: MarketRules, ids: ClientIds, swept: list[Swept]
) -> tuple[Decimal, int, str]:
    """Cancel everything (foreign orders too), close what is held; the position, open orders, what is left."""
    symbol = rules.symbol
    # The orders are read before the cancel-all so the output names every foreign order it removes.
    done = await cancel_everything(venue, symbol, list_first=True)
    swept.append(done)
    if done.foreign:
        log.warning("cancelled %s on %s", done.describe(), symbol)
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
