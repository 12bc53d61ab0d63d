"""The top-level supervisord.conf, run by a real supervisord against the emulator.

The stack quotes, a ``kill -9`` of the strategy is repaired (supervisord
restarts it, the guardian cancels the dead strategy's orders meanwhile), and
``supervisorctl stop all`` leaves no order on the venue with the guardian the
last program down.  Switched to paper trading, the stack trades on the
emulator program with its generated account, whatever real keys are set, and
a SIGTERM to supervisord (systemctl stop) keeps the same stop order.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import ROOT, Emulator, account_state, emulator_state, free_port, wait_for
from supervised import CONF, PROGRAMS, SupervisedStack

from venues.emulator.credentials import load_accounts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CANCEL_ON_HANG = re.compile(
    r'^mm_risk_actions_total\{action="cancel_all",reason="strategy_hang"\} ([0-9.]+)$', re.M
)


@pytest.fixture
def stack(run_dir: Path, emulator: Emulator) -> Iterator[SupervisedStack]:
    running = SupervisedStack.start(
        run_dir,
        emulator,
        spread="0.05",
        quantity="0.1",
        max_orders=2,
        max_position="5",
        position_threshold="2",
        interval=2,
        duration=3600,
        hang_timeout=1.0,
    )
    try:
        yield running
    finally:
        running.close()


def _open_orders(emulator: Emulator) -> list[object]:
    orders: list[object] = account_state(emulator)["open_orders"]
    return orders


def _cancels_on_hang(stack: SupervisedStack) -> float:
    found = CANCEL_ON_HANG.search(stack.metrics("risk"))
    return float(found.group(1)) if found else 0.0


def test_supervised_stack_survives_a_killed_strategy_and_stops_clean(
    stack: SupervisedStack, emulator: Emulator
) -> None:
    pids = stack.wait_running()
    states = stack.states()
    assert states["emulator"] == "STOPPED", "the paper-trading emulator must be off by default"
    wait_for(lambda: len(_open_orders(emulator)) >= 2, 30, what="the strategy's quotes on the venue")

    # kill -9: no clean-up by the strategy at all.
    os.kill(pids["strategy"], signal.SIGKILL)

    def restarted() -> int | None:
        info = stack.info("strategy")
        return info["pid"] if info["statename"] == "RUNNING" and info["pid"] != pids["strategy"] else None

    wait_for(restarted, 40, interval_s=0.2, what=f"supervisord restarting the strategy\n{stack.logs()}")
    wait_for(lambda: _cancels_on_hang(stack) >= 1, 20, what=f"the guardian's cancel-all\n{stack.log('risk')}")
    assert stack.info("risk")["pid"] == pids["risk"], "the guardian must not have restarted"
    # The new strategy instance quotes again.
    wait_for(lambda: len(_open_orders(emulator)) >= 2, 30, what="quotes from the restarted strategy")

    result = stack.ctl("stop", "all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(stack.info(p)["statename"] == "STOPPED" for p in PROGRAMS), stack.states()
    # Each stopped on its own terms: the strategy's last cancel-all was answered (the gateway waited).
    assert {p: stack.info(p)["exitstatus"] for p in PROGRAMS} == dict.fromkeys(PROGRAMS, 0), stack.logs()
    assert _open_orders(emulator) == [], f"orders left on the venue\n{stack.logs()}"
    order = [name for name in stack.stop_order() if name in PROGRAMS]
    assert sorted(order[-4:]) == sorted(PROGRAMS), order
    assert order[-1] == "risk", f"stop order {order}\n{stack.log()}"


def test_supervisord_refuses_to_start_without_its_environment(run_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERP_MM_", "MM_"))}
    result = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(CONF)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # It names the variable it misses, and nothing was started.
    assert result.returncode != 0
    assert re.search(r"contains names \('ENV_(PERP_MM|MM)_\w+'\)", result.stderr), result.stderr
    assert not (run_dir / "supervisor.sock").exists()


def test_paper_switch_trades_on_the_emulator_program_only(run_dir: Path) -> None:
    port = free_port()
    stack = SupervisedStack.start(
        run_dir,
        None,
        paper_port=port,
        spread="0.05",
        quantity="0.1",
        max_position="5",
        interval=2,
        duration=3600,
        # Real-looking keys and URL: paper programs must never use them.
        extra_env={"BACKPACK_API_KEY": "not-a-key", "BACKPACK_API_URL": "https://api.backpack.exchange"},
    )
    try:
        stack.wait_running()
        assert stack.info("emulator")["statename"] == "RUNNING"
        accounts_file = run_dir / "paper-accounts.json"
        wait_for(accounts_file.exists, 30, what=f"the emulator's paper account\n{stack.log('emulator')}")
        account = load_accounts(accounts_file)[0]
        url = f"http://127.0.0.1:{port}"

        def quoting() -> bool:
            accounts = emulator_state(url)["accounts"]
            return len(accounts.get(account.api_key, {}).get("open_orders", [])) >= 2

        wait_for(quoting, 40, what=f"quotes on the paper account\n{stack.logs()}")

        # The systemd way (systemctl stop signals supervisord): supervisord stops the whole group at once
        # and stops answering XML-RPC, and the order still holds.
        stack.proc.send_signal(signal.SIGTERM)
        assert stack.proc.wait(timeout=120) == 0, stack.log()
        order = stack.stop_order()
        assert order.index("strategy") < order.index("order_gateway") < order.index("risk"), order
        # The venue goes last, after the guardian's sweep, which reached it.
        assert order[-2:] == ["risk", "emulator"], f"{order}\n{stack.log()}"
        assert re.search(r"stopping: (no order left|cancelled \d+ order)", stack.log("risk")), stack.log(
            "risk"
        )
    finally:
        stack.close()
