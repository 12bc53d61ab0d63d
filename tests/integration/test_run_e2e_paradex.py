"""End to end on Paradex: ``run.py --exchange paradex --sim`` runs the four processes against the emulator.

run.py starts the emulator speaking Paradex (Starknet-signed JWT auth, signed
orders, the JSON-RPC stream), generates a Paradex account for it and runs
md_gateway, order_gateway, strategy and the guardian (which arms
cancel-on-disconnect) over it; the test watches the emulator's control API.
"""

from __future__ import annotations

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
from harness import ROOT, emulator_control, emulator_state, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYMBOL = "BTC-USD-PERP"
INTERVAL_S = 2.0
REPORT_HEADERS = ("=== 市場狀態 ===", "=== 價格計算 ===", "=== 本次執行總結 ===")


def _start(run_dir: Path, out_file: Path) -> subprocess.Popen[bytes]:
    args = [
        # The original's Paradex command line with --sim, sized for the emulator's 10 000 USDC account.
        "--exchange", "paradex", "--sim", "--market-type", "perp", "--symbol", SYMBOL,
        "--spread", "0.05", "--quantity", "0.005", "--max-orders", "2", "--target-position", "0",
        "--max-position", "0.15", "--position-threshold", "0.06", "--inventory-skew", "0.3",
        "--stop-loss", "-25", "--take-profit", "50", "--duration", "20", "--interval", str(INTERVAL_S),
        "--run-dir", str(run_dir / "r"), "--data-dir", str(run_dir / "d"),
        "--md-metrics-port", "0", "--orders-metrics-port", "0",
        "--strategy-metrics-port", "0", "--risk-metrics-port", "0",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERP_MM_", "PARADEX_", "RISK_"))}
    with out_file.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "run.py", *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )


def test_paradex_sim_run_quotes_fills_follows_the_price_and_leaves_no_order(run_dir: Path) -> None:
    out_file = run_dir / "run.out"
    proc = _start(run_dir, out_file)

    def output() -> str:
        return out_file.read_text(errors="replace")

    def emulator_url() -> str | None:
        if proc.poll() is not None:
            raise AssertionError(f"run.py exited with {proc.returncode}:\n{output()}")
        match = re.search(r"^emulator: (http://\S+)", output(), re.M)
        return match.group(1) if match else None

    def account() -> dict[str, Any]:
        accounts = emulator_state(url)["accounts"]
        assert len(accounts) == 1
        found: dict[str, Any] = next(iter(accounts.values()))
        return found

    def quotes() -> tuple[list[Decimal], list[Decimal]]:
        orders = account()["open_orders"]
        buys = [Decimal(o["price"]) for o in orders if o["side"] == "buy" and not o["reduce_only"]]
        sells = [Decimal(o["price"]) for o in orders if o["side"] == "sell" and not o["reduce_only"]]
        return buys, sells

    try:
        url = wait_for(emulator_url, 60, what="run.py to print the emulator's URL")
        # Start-up (four processes, the Starknet stack, the guardian arming) took 29 s once at load 10:
        # the deadline is generous; the run's --duration counts from the strategy's own start.
        wait_for(lambda: all(quotes()), 90, what="a bid and an ask of ours on the emulator's book")
        wait_for(lambda: account()["fills"], 30, what="a fill")

        fair = Decimal(emulator_state(url)["markets"][SYMBOL]["fair"])
        target = (fair * Decimal("1.01")).quantize(Decimal("0.1"))
        emulator_control(url, "price", {"symbol": SYMBOL, "jump_to": str(target)})
        moved_at = time.monotonic()

        def followed() -> bool:
            buys, sells = quotes()
            near = target * Decimal("0.003")
            return bool(buys and sells) and abs(max(buys) - target) < near and abs(min(sells) - target) < near

        wait_for(followed, INTERVAL_S + 1, what=f"quotes around the new price {target}")
        assert time.monotonic() - moved_at <= INTERVAL_S + 1

        code = proc.wait(timeout=90)
        text = output()
        assert code == 0, text
        for header in REPORT_HEADERS:
            assert header in text, text
        assert "手續費佔比:" in text and "USDC" in text
        assert f"orders left open on {SYMBOL} after stop: 0\n" in text, text
        assert "perp-mm stopped\n" in text
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
