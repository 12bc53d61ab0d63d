"""End to end: ``run.py --sim`` with the original's flags runs the four processes against the emulator.

Each test starts run.py as a real subprocess (which starts the emulator and
supervisord) and watches the emulator's control API.  run.py prints the
emulator's URL first, and "orders left open ... after stop: N" at the end,
from its own check at the venue before it stops the emulator.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT, Emulator, child_env, emulator_control, emulator_state, wait_for

from services.supervise import Supervisor
from venues.backpack.signing import Signer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYMBOL = "SOL_USDC_PERP"
INTERVAL_S = 2.0
HANG_TIMEOUT_S = 1.5
REPORT_HEADERS = ("=== 市場狀態 ===", "=== 價格計算 ===", "=== 本次執行總結 ===")


class Run:
    """One ``run.py`` subprocess with its output in a file."""

    def __init__(self, run_dir: Path, *, duration_s: float) -> None:
        self.run_dir = run_dir
        self.out_file = run_dir / "run.out"
        args = [
            # The original's --sim demo command line, with a short interval and duration.
            "--exchange", "backpack", "--sim", "--symbol", SYMBOL, "--spread", "0.05",
            "--quantity", "0.1", "--max-orders", "2", "--target-position", "0", "--max-position", "5",
            "--position-threshold", "2", "--inventory-skew", "0.3", "--stop-loss", "-25",
            "--take-profit", "50", "--duration", str(duration_s), "--interval", str(INTERVAL_S),
            # Private, short paths and no fixed ports, so runs never collide.
            "--run-dir", str(run_dir / "r"), "--data-dir", str(run_dir / "d"),
            "--md-metrics-port", "0", "--orders-metrics-port", "0",
            "--strategy-metrics-port", "0", "--risk-metrics-port", "0",
            "--hang-timeout", str(HANG_TIMEOUT_S),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PERP_MM_", "BACKPACK_", "RISK_"))}
        with self.out_file.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "run.py", *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**env, "PYTHONUNBUFFERED": "1"},
            )
        match = wait_for(self._emulator_line, 60, what="run.py to print the emulator's URL")
        self.url = match.group(1)

    def _emulator_line(self) -> re.Match[str] | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"run.py exited with {self.proc.returncode}:\n{self.output()}")
        return re.search(r"^emulator: (http://\S+)", self.output(), re.M)

    def output(self) -> str:
        return self.out_file.read_text(errors="replace")

    def account(self) -> dict[str, Any]:
        accounts = emulator_state(self.url)["accounts"]
        assert len(accounts) == 1
        account: dict[str, Any] = next(iter(accounts.values()))
        return account

    def quotes(self) -> tuple[list[Decimal], list[Decimal]]:
        orders = self.account()["open_orders"]
        buys = [Decimal(o["price"]) for o in orders if o["side"] == "buy" and not o["reduce_only"]]
        sells = [Decimal(o["price"]) for o in orders if o["side"] == "sell" and not o["reduce_only"]]
        return buys, sells

    def both_sides_rest(self) -> bool:
        buys, sells = self.quotes()
        return bool(buys and sells)

    def wait_exit(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"run.py still running after {timeout_s} s:\n{self.output()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_sim_run_quotes_both_sides_fills_follows_the_price_and_leaves_no_order(run_dir: Path) -> None:
    run = Run(run_dir, duration_s=20)
    try:
        wait_for(run.both_sides_rest, 30, what="a bid and an ask of ours on the emulator's book")
        wait_for(lambda: run.account()["fills"], 30, what="a fill")

        fair = Decimal(emulator_state(run.url)["markets"][SYMBOL]["fair"])
        target = (fair * Decimal("1.01")).quantize(Decimal("0.01"))
        emulator_control(run.url, "price", {"symbol": SYMBOL, "jump_to": str(target)})
        moved_at = time.monotonic()

        def followed() -> bool:
            buys, sells = run.quotes()
            near = target * Decimal("0.003")
            return bool(buys and sells) and abs(max(buys) - target) < near and abs(min(sells) - target) < near

        try:
            wait_for(followed, INTERVAL_S, what=f"quotes around the new price {target}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; quotes now {run.quotes()}\n{run.output()[-3000:]}") from None
        assert time.monotonic() - moved_at <= INTERVAL_S

        code = run.wait_exit(90)
        output = run.output()
        assert code == 0, output
        for header in REPORT_HEADERS:
            assert header in output, output
        assert "成交率:" in output and "手續費佔比:" in output and "累計資金費:" in output
        assert f"orders left open on {SYMBOL} after stop: 0\n" in output, output
        assert "perp-mm stopped\n" in output
    finally:
        run.kill()


def test_sigstopped_strategy_is_caught_by_the_guardian_and_quoting_resumes(run_dir: Path) -> None:
    run = Run(run_dir, duration_s=60)
    try:
        wait_for(run.both_sides_rest, 30, what="a bid and an ask of ours on the emulator's book")
        supervisor = Supervisor(run_dir / "r" / "supervisor.sock")
        pid = supervisor.info("strategy")["pid"]
        assert pid > 0
        os.kill(pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            wait_for(lambda: not run.account()["open_orders"], 10, interval_s=0.02, what="a cancel-all")
            cancelled_after_s = time.monotonic() - stopped_at
        finally:
            os.kill(pid, signal.SIGCONT)
        # The bound is the guardian's: hang timeout + 0.5 s; polling the emulator adds a little.
        assert cancelled_after_s <= HANG_TIMEOUT_S + 0.5 + 0.25, cancelled_after_s

        wait_for(run.both_sides_rest, 40, what="quoting to resume")
        run.proc.send_signal(signal.SIGTERM)
        code = run.wait_exit(90)
        output = run.output()
        assert code == 0, output
        assert f"orders left open on {SYMBOL} after stop: 0\n" in output, output
    finally:
        run.kill()


# ---------------------------------------------------------------- refusals before anything starts


def run_once(run_dir: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """run.py against the test's emulator as if it were the venue (no --sim); returns at once."""
    args = [
        "--exchange", "backpack", "--symbol", SYMBOL, "--spread", "0.05", "--quantity", "0.1",
        "--run-dir", str(run_dir / "r"), "--data-dir", str(run_dir / "d"),
        "--md-metrics-port", "0", "--orders-metrics-port", "0",
        "--strategy-metrics-port", "0", "--risk-metrics-port", "0", *extra,
    ]  # fmt: skip
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_refuses_a_key_the_venue_does_not_know(run_dir: Path, emulator: Emulator) -> None:
    seed = base64.b64encode(os.urandom(32)).decode()
    env = child_env(emulator, BACKPACK_API_KEY=Signer(seed).api_key, BACKPACK_SECRET_KEY=seed)
    done = run_once(run_dir, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "backpack refused the API key" in done.stderr
    assert "BACKPACK_API_KEY" in done.stderr
    assert "starting" not in done.stdout


def test_refuses_an_unknown_symbol_and_suggests_the_close_one(run_dir: Path, emulator: Emulator) -> None:
    done = run_once(run_dir, child_env(emulator), "--symbol", "SOL_USD_PERP")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unknown symbol SOL_USD_PERP on backpack; did you mean SOL_USDC_PERP" in done.stderr


def test_refuses_a_metrics_port_that_is_taken(run_dir: Path, emulator: Emulator) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = run_once(run_dir, child_env(emulator), "--strategy-metrics-port", str(port))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {port} (strategy-metrics-port) is taken" in done.stderr
