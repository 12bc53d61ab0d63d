"""The seed's three command lines, exactly as the original README gives them, with ``--sim``: each arms,
quotes both sides and fills on the emulator's paper account (the guardian's margin check included).

Only ``--sim``, a longer ``--duration`` (the run is stopped by SIGTERM once it has filled), private
directories and free metrics ports are added; later flags win in argparse, nothing else changes.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT, emulator_state, wait_for

from bench.rest_calls import SEED_LINES, seed_args

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

# Long enough never to end before the first fill; the test stops the run as soon as it has one.
DURATION_S = 300


@pytest.mark.parametrize("exchange", list(SEED_LINES))
def test_the_seed_command_line_arms_quotes_and_fills_with_sim(exchange: str, run_dir: Path) -> None:
    words = shlex.split(SEED_LINES[exchange])
    symbol = words[words.index("--symbol") + 1]
    args = seed_args(exchange, tmp=run_dir, duration_s=DURATION_S)
    out_file = run_dir / "run.out"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PERP_MM_", "RISK_", exchange.upper() + "_"))
    }
    with out_file.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "run.py", *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )

    def output() -> str:
        return out_file.read_text(errors="replace")

    def emulator_url() -> str | None:
        if proc.poll() is not None:
            raise AssertionError(f"run.py exited with {proc.returncode}:\n{output()}")
        match = re.search(r"^emulator: (http://\S+)", output(), re.M)
        return match.group(1) if match else None

    def account() -> dict[str, Any]:
        if proc.poll() is not None:
            raise AssertionError(f"run.py exited with {proc.returncode}:\n{output()}")
        try:
            state = emulator_state(url)
        except OSError as exc:  # the run is stopping (the emulator goes first): say why it stopped
            proc.wait(timeout=60)
            raise AssertionError(f"the emulator went away ({exc}); run.py said:\n{output()}") from None
        found: dict[str, Any] = next(iter(state["accounts"].values()))
        return found

    def quoting() -> bool:
        sides = {
            o["side"] for o in account()["open_orders"] if o["symbol"] == symbol and not o["reduce_only"]
        }
        return sides == {"buy", "sell"}

    try:
        url = wait_for(emulator_url, 60, what="run.py to print the emulator's URL")
        wait_for(quoting, 90, what=f"a bid and an ask of ours on {exchange}")
        wait_for(lambda: account()["fills"], 120, what=f"a fill on {exchange}")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        text = output()
        assert code == 0, text
        assert "not armed" not in text, text
        assert f"orders left open on {symbol} after stop: 0\n" in text, text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
