"""The strategy process with the real gateways against the emulator, and a fake guardian the test drives.

The taker flow and random walk are paused so the only fills are the ones a test
causes; with the stream quiet, the market-data gateway serves REST snapshots
after ``md_stale`` (2 s here; it polls every second), which keep the strategy's book fresh.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from harness import (
    Children,
    Emulator,
    FakeGuardian,
    account_state,
    async_wait_for,
    child_env,
    emulator_control,
    emulator_state,
    process_log,
    write_config,
)

from services.wire import TradingState

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYMBOL = "SOL_USDC_PERP"


def sides(emulator: Emulator) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    orders = account_state(emulator)["open_orders"]
    return [o for o in orders if o["side"] == "buy"], [o for o in orders if o["side"] == "sell"]


def quoting(emulator: Emulator) -> bool:
    buys, sells = sides(emulator)
    return bool(buys and sells)


def no_orders(emulator: Emulator) -> bool:
    return not account_state(emulator)["open_orders"]


def position(emulator: Emulator) -> Decimal:
    positions = account_state(emulator)["positions"]
    return Decimal(positions[SYMBOL]["quantity"]) if SYMBOL in positions else Decimal(0)


def start_all(children: Children, config: Path, emulator: Emulator) -> None:
    env = child_env(emulator)
    for name in ("md_gateway", "order_gateway", "strategy"):
        children.start(name, config, env)


async def wait(predicate: Any, timeout_s: float, what: str, config: Path) -> Any:
    try:
        return await async_wait_for(predicate, timeout_s, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- strategy log ---\n{process_log(config, 'strategy')}") from None


def set_position(emulator: Emulator, quantity: str) -> None:
    fair = emulator_state(emulator.rest_url)["markets"][SYMBOL]["fair"]
    body = {"api_key": emulator.api_key, "symbol": SYMBOL, "quantity": quantity, "entry_price": fair}
    emulator_control(emulator.rest_url, "position", body)


async def test_quotes_follow_the_guardian_and_the_trading_state(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    config = write_config(run_dir, max_orders=1, interval=2, duration=300, md_stale=2)
    emulator_control(emulator.rest_url, "taker", {"pause": True})
    async with FakeGuardian(config) as guardian:
        start_all(children, config, emulator)
        await wait(lambda: quoting(emulator), 40, "quotes on both sides", config)

        guardian.silent = True
        silent_at = time.monotonic()
        await wait(lambda: no_orders(emulator), 5, "quotes pulled without a guardian", config)
        # No rk.state/hb.risk for 1 s means no guardian; the strategy's loop ticks every 0.1 s.
        assert time.monotonic() - silent_at < 2.5
        guardian.silent = False
        await wait(lambda: quoting(emulator), 10, "quotes back with the guardian", config)

        guardian.state = TradingState.HALTED
        await wait(lambda: no_orders(emulator), 5, "quotes pulled while HALTED", config)
        guardian.state = TradingState.REDUCING
        await asyncio.sleep(1.0)
        assert no_orders(emulator), "a flat position gives nothing to reduce: no order while REDUCING"
        guardian.state = TradingState.ACTIVE
        await wait(lambda: quoting(emulator), 10, "quotes back when ACTIVE", config)


async def test_quotes_are_pulled_while_market_data_is_stale(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    config = write_config(run_dir, max_orders=1, interval=2, duration=300, md_stale=2)
    emulator_control(emulator.rest_url, "taker", {"pause": True})
    async with FakeGuardian(config):
        start_all(children, config, emulator)
        await wait(lambda: quoting(emulator), 40, "quotes on both sides", config)
        md_gateway = children.procs[0]
        os.kill(md_gateway.pid, signal.SIGSTOP)
        try:
            await wait(lambda: no_orders(emulator), 5, "quotes pulled on stale market data", config)
        finally:
            os.kill(md_gateway.pid, signal.SIGCONT)
        await wait(lambda: quoting(emulator), 15, "quotes back with fresh market data", config)


@pytest.mark.parametrize("reduce_mode", ["market", "maker"])
async def test_threshold_reduce(
    run_dir: Path, emulator: Emulator, children: Children, reduce_mode: str
) -> None:
    config = write_config(
        run_dir,
        max_orders=1,
        interval=2,
        duration=300,
        md_stale=2,
        target_position="0",
        position_threshold="0.5",
        max_position="5",
        reduce_mode=reduce_mode,
    )
    emulator_control(emulator.rest_url, "taker", {"pause": True})
    async with FakeGuardian(config):
        start_all(children, config, emulator)
        await wait(lambda: quoting(emulator), 40, "quotes on both sides", config)
        set_position(emulator, "1.5")
        if reduce_mode == "market":
            await wait(lambda: position(emulator) == Decimal("0.5"), 10, "a reduce to the band", config)
            reduces = [f for f in account_state(emulator)["fills"] if not f["is_maker"]]
            assert [(f["side"], Decimal(f["quantity"])) for f in reduces] == [("sell", Decimal(1))]
            await asyncio.sleep(1.0)
            assert position(emulator) == Decimal("0.5"), "the reduce must not be sent twice"
        else:

            def resting_reduce() -> dict[str, Any] | None:
                _, sells = sides(emulator)
                return next((o for o in sells if o["reduce_only"]), None)

            order = await wait(resting_reduce, 10, "a post-only reduce at the best ask", config)
            assert Decimal(order["quantity"]) == Decimal(1) and order["post_only"]
            best_ask = Decimal(emulator_state(emulator.rest_url)["markets"][SYMBOL]["ask"])
            assert Decimal(order["price"]) == best_ask
            assert position(emulator) == Decimal("1.5")


async def test_duration_end_cancels_everything_and_closes_on_exit(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    config = write_config(run_dir, max_orders=2, interval=2, duration=12, md_stale=2, close_on_exit=True)
    emulator_control(emulator.rest_url, "taker", {"pause": True})
    async with FakeGuardian(config):
        start_all(children, config, emulator)
        await wait(lambda: quoting(emulator), 40, "quotes on both sides", config)
        set_position(emulator, "-0.3")
        strategy = children.procs[-1]
        code = await wait(
            lambda: strategy.poll() is not None and (strategy.returncode,), 40, "the end", config
        )
        assert code == (0,), process_log(config, "strategy")
        assert no_orders(emulator)
        assert position(emulator) == 0
        log = process_log(config, "strategy", lines=400)
        assert "duration of 12 s reached" in log
        assert "every order cancelled" in log
