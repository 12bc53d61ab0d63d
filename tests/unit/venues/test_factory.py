from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("exchange", "symbol", "absent"),
    [
        ("backpack", "SOL_USDC_PERP", ["venues.aster.venue", "venues.paradex.venue", "starknet_py"]),
        ("aster", "SOLUSDT", ["venues.backpack.venue", "venues.paradex.venue", "starknet_py"]),
        ("paradex", "BTC-USD-PERP", ["venues.backpack.venue", "venues.aster.venue"]),
    ],
)
def test_only_the_chosen_connector_is_imported(exchange: str, symbol: str, absent: list[str]) -> None:
    # A fresh interpreter: what one process loads, Paradex's Starknet stack being the heavy one.
    code = (
        "import sys\n"
        "from services.config import load_config\n"
        "from venues.factory import open_venue\n"
        f"argv = ['--exchange', '{exchange}', '--symbol', '{symbol}', '--spread', '1', '--quantity', '1']\n"
        "cfg = load_config(argv, env={})\n"
        "venue = open_venue(cfg, role='public', env={})\n"
        "print(type(venue).__name__)\n"
        f"print(','.join(name for name in {absent!r} if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    name, loaded = done.stdout.splitlines()
    assert name.lower().startswith(exchange)
    assert loaded == ""
