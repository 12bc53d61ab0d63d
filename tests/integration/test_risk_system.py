"""The guardian with every real process (both gateways and the strategy) against the emulator.

A killed strategy is caught by the hang watchdog and a new instance resumes
quoting; the strategy's threshold reduce and the guardian's max-position close
racing on one position never flip it (both are reduce-only).
"""

from __future__ import annotations

import asyncio
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from harness import (
    Children,
    Emulator,
    account_state,
    async_wait_for,
    child_env,
    emulator_control,
    emulator_state,
    process_log,
    read_config,
    wait_for,
    write_config,
)

from risk.control import ControlError, send_command
from risk.orders import is_guardian_id
from services.wire import TradingState

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]
SYM = "SOL_USDC_PERP"
HANG_TIMEOUT_S = 1.5


def quoting(emu: Emulator) -> bool:
    orders = account_state(emu)["open_orders"]
    return {o["side"] for o in orders} == {"buy", "sell"}


def position(emu: Emulator) -> Decimal:
    held = account_state(emu)["positions"].get(SYM)
    return Decimal(held["quantity"]) if held else Decimal(0)


def logs(config: Path) -> str:
    return "\n".join(
        f"--- {name} ---\n{process_log(config, name)}" for name in ("risk", "strategy", "order_gateway")
    )


async def state(config: Path) -> TradingState | None:
    try:
        return (await send_command(read_config(config), "status", timeout_s=1.0)).state
    except ControlError:
        return None


def start_all(children: Children, config: Path, emu: Emulator) -> dict[str, Any]:
    env = child_env(emu)
    names = ("risk", "md_gateway", "order_gateway", "strategy")
    return {name: children.start(name, config, env) for name in names}


async def test_a_killed_strategy_is_caught_and_a_new_instance_resumes(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    config = write_config(run_dir, max_orders=1, interval=300, duration=300, hang_timeout=HANG_TIMEOUT_S)
    # A still book: the strategy has no reason to replace its quotes, so they vanish only when cancelled.
    emulator_control(emulator.rest_url, "taker", {"pause": True})
    emulator_control(emulator.rest_url, "price", {"symbol": SYM, "volatility": "0"})
    procs = start_all(children, config, emulator)
    try:
        await async_wait_for(lambda: quoting(emulator), 60, what="quotes on both sides")
    except AssertionError:
        raise AssertionError(logs(config)) from None
    procs["strategy"].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: not account_state(emulator)["open_orders"], 10, interval_s=0.02, what="a cancel-all")
    took_s = time.monotonic() - killed
    # The guardian's bound, plus a little for polling the emulator.
    assert took_s <= HANG_TIMEOUT_S + 0.5 + 0.25, took_s
    assert await state(config) is TradingState.HALTED
    children.start("strategy", config, child_env(emulator))
    await async_wait_for(lambda: quoting(emulator), 60, what="quoting by the new strategy")
    assert "A new strategy instance is heartbeating" in process_log(config, "risk", lines=500) or (
        "偵測到新的策略實例" in process_log(config, "risk", lines=500)
    )


async def reason(config: Path) -> str | None:
    try:
        return (await send_command(read_config(config), "status", timeout_s=1.0)).reason
    except ControlError:
        return None


async def test_a_strategy_stopped_on_purpose_is_not_taken_for_a_hang(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    config = write_config(run_dir, max_orders=1, interval=300, duration=300, hang_timeout=HANG_TIMEOUT_S)
    procs = start_all(children, config, emulator)
    try:
        await async_wait_for(lambda: quoting(emulator), 60, what="quotes on both sides")
    except AssertionError:
        raise AssertionError(logs(config)) from None
    procs["strategy"].send_signal(signal.SIGTERM)
    assert procs["strategy"].wait(timeout=20) == 0, logs(config)
    assert await reason(config) == "strategy_done", logs(config)
    # Well past the hang timeout with no heartbeat: still a finished strategy, never a hang.
    deadline = time.monotonic() + 3 * HANG_TIMEOUT_S
    while time.monotonic() < deadline:
        assert await reason(config) == "strategy_done", logs(config)
    risk_log = process_log(config, "risk", lines=500)
    assert "heartbeat lost" not in risk_log and "策略心跳中斷" not in risk_log, risk_log
    assert not account_state(emulator)["open_orders"]
    children.start("strategy", config, child_env(emulator))
    await async_wait_for(lambda: quoting(emulator), 60, what="quoting by the new strategy")


async def test_the_guardian_polls_at_the_bus_pace_and_leaves_open_orders_alone_while_active(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    # While the bus is live (fresh market data, the order gateway beating) the guardian's own
    # polls slow to bus_poll_interval: positions and prices reach it over the bus meanwhile.
    config = write_config(run_dir, max_orders=1, interval=300, duration=300, bus_poll_interval=2)
    start_all(children, config, emulator)
    try:
        await async_wait_for(lambda: quoting(emulator), 60, what="quotes on both sides")
    except AssertionError:
        raise AssertionError(logs(config)) from None
    assert await state(config) is TradingState.ACTIVE
    before, started = emulator_state(emulator.rest_url)["requests"]["by_path"], time.monotonic()
    await asyncio.sleep(8.0)
    after, took_s = emulator_state(emulator.rest_url)["requests"]["by_path"], time.monotonic() - started
    rate = {path: (after.get(path, 0) - before.get(path, 0)) / took_s for path in after}
    # Position and mark every 2 s (only the guardian reads them in steady state); no open orders.
    assert 0.25 <= rate["/api/v1/position"] <= 0.75, rate
    assert 0.25 <= rate["/api/v1/markPrices"] <= 0.75, rate
    assert rate.get("/api/v1/orders", 0.0) <= 1 / took_s, rate


async def test_threshold_reduce_and_max_position_close_together_never_flip_the_position(
    run_dir: Path, emulator: Emulator, children: Children
) -> None:
    config = write_config(
        run_dir,
        max_orders=1,
        interval=2,
        duration=300,
        target_position="0",
        position_threshold="0.1",
        max_position="0.4",
        quantity="0.1",
    )
    emulator_control(emulator.rest_url, "taker", {"pause": True})
    start_all(children, config, emulator)
    await async_wait_for(lambda: quoting(emulator), 60, what="quotes on both sides")
    for held in ("0.6", "-0.9", "0.5"):
        sign = 1 if Decimal(held) > 0 else -1
        fair = emulator_state(emulator.rest_url)["markets"][SYM]["fair"]
        emulator_control(
            emulator.rest_url,
            "position",
            {"api_key": emulator.api_key, "symbol": SYM, "quantity": held, "entry_price": fair},
        )
        # Both the strategy (above target + threshold) and the guardian (above max) reduce at once.
        seen: list[Decimal] = []

        def settled(seen: list[Decimal] = seen) -> bool:
            seen.append(position(emulator))
            return abs(seen[-1]) <= Decimal("0.1")

        await async_wait_for(settled, 30, interval_s=0.02, what=f"the position {held} reduced")
        assert all(p * sign >= 0 for p in seen), (held, seen, logs(config))

    taker = [f for f in account_state(emulator)["fills"] if not f["is_maker"]]
    by_guardian = [f for f in taker if is_guardian_id(f["client_id"])]
    by_strategy = [f for f in taker if not is_guardian_id(f["client_id"])]
    assert by_guardian and by_strategy, (taker, logs(config))

    async def active() -> bool:
        return await state(config) is TradingState.ACTIVE

    deadline = time.monotonic() + 15
    while not await active():
        assert time.monotonic() < deadline, logs(config)
        await async_wait_for(lambda: True, 0.1)
