"""Paradex's dead-man switch under the real processes: it covers every quote, and a clean stop still cancels.

Cancel-on-disconnect is scoped to the connection (the emulator as documented:
it covers only orders placed over the armed WebSocket and fires when that
connection is lost without a close handshake).  With the order gateway and
the guardian killed (kill -9) while quotes rest, nothing is left to cancel
them but the switch: the venue must have no open order of ours at once.  A
clean stop closes the connection cleanly, so the switch does not fire and the
normal path (the strategy's cancel-all through the gateway) removes the quotes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from faultstack import Stack, paradex_stack
from harness import (
    Children,
    Emulator,
    account_state,
    async_wait_for,
    start_emulator,
    stop_process,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]
SYMBOL = "BTC-USD-PERP"
# The venue cancels as it sees the connection drop; polling the emulator's state adds its slack.
SWITCH_REACTION_S = 3.0


async def wait(stack: Stack, predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    try:
        await async_wait_for(predicate, timeout_s, what=what, interval_s=0.05)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


def open_orders(emulator: Emulator) -> list[dict[str, object]]:
    orders: list[dict[str, object]] = account_state(emulator)["open_orders"]
    return orders


def quoting(emulator: Emulator) -> bool:
    return {o["side"] for o in open_orders(emulator)} == {"buy", "sell"}


async def test_killed_gateway_and_guardian_leave_no_quote_and_a_clean_stop_cancels(
    run_dir: Path, children: Children
) -> None:
    emu = start_emulator(run_dir, symbol=SYMBOL, venue="paradex")
    try:
        stack = paradex_stack(
            run_dir,
            emu,
            children,
            symbol=SYMBOL,
            quantity="0.005",
            max_position="0.15",
            max_orders=2,
            order_rate_limit=40,
        )
        for name in ("risk", "md_gateway", "order_gateway", "strategy"):
            stack.start(name)
        await wait(stack, lambda: quoting(emu), 90, "quotes on both sides")

        # A clean stop: the strategy cancels through the gateway, then the gateway closes its session.
        stop_process(stack.procs["strategy"], timeout_s=30)
        stop_process(stack.procs["order_gateway"], timeout_s=30)
        assert open_orders(emu) == [], stack.logs()
        assert "cancelled all" in stack.log("order_gateway"), stack.log("order_gateway")

        stack.start("order_gateway")
        stack.start("strategy")
        await wait(stack, lambda: quoting(emu), 90, "quotes on both sides again")
        stack.kill("order_gateway")
        stack.kill("risk")
        killed_at = time.monotonic()
        await wait(stack, lambda: open_orders(emu) == [], 30, "no open order after the kills")
        took_s = time.monotonic() - killed_at
        assert took_s <= SWITCH_REACTION_S, f"the switch took {took_s:.2f} s\n{stack.logs()}"
    finally:
        emu.stop()
