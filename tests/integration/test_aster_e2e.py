"""Aster end to end: the original's Aster command line with ``--sim``, and the guardian's dead-man switch.

The first test runs ``run.py --exchange aster --sim`` for 20 s (emulator,
supervisord and the four processes) and watches the emulator.  The second
runs the guardian alone against an Aster emulator, kills it with SIGKILL and
checks that the venue's ``countdownCancelAll`` (armed and re-armed by the
guardian) cancels the resting orders with no request from anyone.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from harness import (
    ROOT,
    Children,
    account_state,
    emulator_state,
    process_log,
    read_config,
    start_emulator,
    wait_for,
    write_config,
)

from risk.control import ControlError, send_command
from services.secrets import AsterV3Credentials, Secret, credentials_env
from services.wire import Place, Side, TradingState
from venues.aster.venue import AsterVenue

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(150)]

SYMBOL = "SOLUSDT"
PEER = Path(__file__).with_name("risk_peer.py")
DEAD_MAN_TIMEOUT_S = 2.0


def _clean_env() -> dict[str, str]:
    prefixes = ("PERP_MM_", "BACKPACK_", "RISK_", "ASTER_", "PARADEX_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)} | {"PYTHONUNBUFFERED": "1"}


async def _state(config: Path) -> TradingState | None:
    try:
        return (await send_command(read_config(config), "status", timeout_s=1.0)).state
    except ControlError:
        return None


async def _rest_orders(venue: AsterVenue, count: int) -> None:
    """``count`` bids resting well below the market, placed directly on the venue (no gateway)."""
    try:
        price = (await venue.mark_price(SYMBOL) * Decimal("0.9")).quantize(Decimal("0.01"))
        for i in range(count):
            order = Place(
                client_id=500 + i, symbol=SYMBOL, side=Side.BUY, quantity=Decimal("0.1"), price=price - i
            )
            await venue.place_order(order)
    finally:
        await venue.close()


def test_original_aster_command_line_with_sim_quotes_fills_and_leaves_no_order(run_dir: Path) -> None:
    out_file = run_dir / "run.out"
    args = [
        # The original's Aster command line (perp market, USDT symbol), with --sim and a short run.
        "--exchange", "aster", "--market-type", "perp", "--symbol", SYMBOL, "--spread", "0.05",
        "--quantity", "0.1", "--max-orders", "2", "--target-position", "0", "--max-position", "5",
        "--position-threshold", "2", "--inventory-skew", "0.3", "--stop-loss", "-25",
        "--take-profit", "50", "--duration", "20", "--interval", "2", "--sim",
        "--run-dir", str(run_dir / "r"), "--data-dir", str(run_dir / "d"),
        "--md-metrics-port", "0", "--orders-metrics-port", "0",
        "--strategy-metrics-port", "0", "--risk-metrics-port", "0",
    ]  # fmt: skip
    with out_file.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "run.py", *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
        )
    try:

        def output() -> str:
            return out_file.read_text(errors="replace")

        def emulator_url() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"run.py exited with {proc.returncode}:\n{output()}")
            found = re.search(r"^emulator: (http://\S+)", output(), re.M)
            return found.group(1) if found else None

        url = wait_for(emulator_url, 60, what="run.py to print the emulator's URL")

        def account() -> dict[str, Any]:
            try:
                state = emulator_state(url)
            except OSError:  # the run, and its emulator, ended before what the test waits for
                proc.wait(timeout=60)
                raise AssertionError(f"run.py ended (exit {proc.returncode}) first:\n{output()}") from None
            (only,) = state["accounts"].values()
            return dict(only)

        def both_sides() -> bool:
            sides = {o["side"] for o in account()["open_orders"] if not o["reduce_only"]}
            return sides == {"buy", "sell"}

        wait_for(both_sides, 30, what="a bid and an ask of ours on the emulator's SOLUSDT book")
        wait_for(lambda: account()["fills"], 30, what="a fill")
        orders = account()["open_orders"]
        # Every quote is a post-only GTX order that meets Aster's minimum notional.
        assert all(o["post_only"] and Decimal(o["price"]) * Decimal(o["quantity"]) >= 5 for o in orders), (
            orders
        )
        code = proc.wait(timeout=90)
        text = output()
        assert code == 0, text
        for header in ("=== 市場狀態 ===", "=== 價格計算 ===", "=== 本次執行總結 ==="):
            assert header in text, text
        assert "USDT" in text
        assert f"orders left open on {SYMBOL} after stop: 0\n" in text, text
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_countdown_cancels_resting_orders_when_the_guardian_is_killed(
    run_dir: Path, children: Children
) -> None:
    emu = start_emulator(run_dir, symbol=SYMBOL, venue="aster")
    try:
        spec = emu.accounts[0]
        creds = AsterV3Credentials(spec["user"], spec["signer"], Secret(spec["signer_private_key"]))
        env = (
            _clean_env()
            | {"ASTER_API_URL": emu.rest_url, "ASTER_WS_URL": emu.ws_url}
            | credentials_env(creds)
        )
        # A generous hang timeout: this test is about the venue's timer, not the heartbeat watchdog.
        config = write_config(run_dir, exchange="aster", symbol=SYMBOL, max_position="5", hang_timeout=20)
        for kind in ("md", "strategy"):
            peer = subprocess.Popen(
                [sys.executable, str(PEER), kind, str(config)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            children.procs.append(peer)
        guardian = children.start("risk", config, env, args=["--dead-man-timeout", str(DEAD_MAN_TIMEOUT_S)])

        def countdown_calls() -> int:
            return int(
                emulator_state(emu.rest_url)["requests"]["by_path"].get("/fapi/v3/countdownCancelAll", 0)
            )

        wait_for(
            lambda: asyncio.run(_state(config)) is TradingState.ACTIVE,
            30,
            what=f"the guardian to be ACTIVE\n{process_log(config, 'risk')}",
        )
        wait_for(
            lambda: countdown_calls() >= 2,
            30,
            what=f"the guardian arming the countdown\n{process_log(config, 'risk')}",
        )
        asyncio.run(_rest_orders(AsterVenue(api_url=emu.rest_url, ws_url=emu.ws_url, credentials=creds), 3))
        user = spec["user"].lower()
        # Re-armed while the guardian lives: the orders outlast several countdowns.
        time.sleep(DEAD_MAN_TIMEOUT_S * 2)
        assert len(account_state(emu, api_key=user)["open_orders"]) == 3, process_log(config, "risk")
        by_path = emulator_state(emu.rest_url)["requests"]["by_path"]
        cancels_before = sum(int(by_path.get(p, 0)) for p in ("/fapi/v3/order", "/fapi/v3/allOpenOrders"))

        guardian.send_signal(signal.SIGKILL)
        guardian.wait(timeout=10)
        killed_at = time.monotonic()
        wait_for(
            lambda: not account_state(emu, api_key=user)["open_orders"],
            DEAD_MAN_TIMEOUT_S + 3,
            what="the venue's countdown to cancel the orders",
        )
        assert time.monotonic() - killed_at <= DEAD_MAN_TIMEOUT_S + 1.0
        by_path = emulator_state(emu.rest_url)["requests"]["by_path"]
        cancels_after = sum(int(by_path.get(p, 0)) for p in ("/fapi/v3/order", "/fapi/v3/allOpenOrders"))
        # The place requests counted on /fapi/v3/order happened before; nobody sent a cancel since.
        assert cancels_after == cancels_before
    finally:
        emu.stop()
