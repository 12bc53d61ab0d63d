"""Aster with a foreign stop order resting: the whole system quotes around it, and flatten still flattens.

The trader's stop-market is placed on the emulator with a signed request of
its own, as the venue's web app would.  Then md_gateway, order_gateway,
strategy and the guardian run against the emulator and must quote both sides
with the stop resting; after they stop, ``python -m risk flatten`` must leave
the position at 0 and no order open, the stop included.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from harness import (
    ROOT,
    Children,
    Emulator,
    account_state,
    emulator_control,
    process_log,
    start_emulator,
    wait_for,
    write_config,
)

from services.secrets import AsterV3Credentials, Secret, credentials_env
from venues.aster.signing import Eip712Signer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

SYMBOL = "SOLUSDT"
PROCESSES = ("md_gateway", "order_gateway", "strategy", "risk")


def _clean_env() -> dict[str, str]:
    prefixes = ("PERP_MM_", "BACKPACK_", "RISK_", "ASTER_", "PARADEX_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


class WebApp:
    """The trader's own signed requests, as the venue's web app sends them (not the connector)."""

    def __init__(self, emulator: Emulator) -> None:
        spec = emulator.accounts[0]
        self.url = emulator.rest_url
        self.signer = Eip712Signer(
            user=spec["user"], signer=spec["signer"], private_key=spec["signer_private_key"]
        )

    async def _call(self, method: str, path: str, params: list[tuple[str, str]]) -> Any:
        # Nonces of its own, clear of the system's (which sign with "now").
        text = self.signer.sign(params, now_ms=int(time.time() * 1000) - 5000)
        async with aiohttp.ClientSession() as session:
            if method == "GET":
                request = session.get(f"{self.url}{path}?{text}")
            else:
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                request = session.request(method, f"{self.url}{path}", data=text, headers=headers)
            async with request as response:
                body = await response.json()
                assert response.status == 200, body
                return body

    def call(self, method: str, path: str, **params: str) -> Any:
        return asyncio.run(self._call(method, path, [("symbol", SYMBOL), *params.items()]))

    def open_orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = self.call("GET", "/fapi/v3/openOrders")
        return orders

    def position(self) -> Decimal:
        rows = self.call("GET", "/fapi/v3/positionRisk")
        return sum((Decimal(row["positionAmt"]) for row in rows if row["symbol"] == SYMBOL), Decimal(0))


def test_a_foreign_stop_rests_while_the_system_quotes_and_flatten_leaves_nothing(
    run_dir: Path, children: Children
) -> None:
    emu = start_emulator(run_dir, symbol=SYMBOL, venue="aster")
    try:
        spec = emu.accounts[0]
        web = WebApp(emu)
        mark = Decimal(web.call("GET", "/fapi/v1/premiumIndex")["markPrice"])
        emulator_control(
            emu.rest_url,
            "position",
            {"api_key": spec["user"].lower(), "symbol": SYMBOL, "quantity": "0.5", "entry_price": str(mark)},
        )
        stop_price = str((mark * Decimal("0.8")).quantize(Decimal("0.01")))
        stop = web.call(
            "POST",
            "/fapi/v3/order",
            side="SELL",
            type="STOP_MARKET",
            stopPrice=stop_price,
            quantity="0.5",
            reduceOnly="true",
        )
        assert stop["status"] == "NEW"

        creds = AsterV3Credentials(spec["user"], spec["signer"], Secret(spec["signer_private_key"]))
        env = (
            _clean_env()
            | {"PYTHONUNBUFFERED": "1", "ASTER_API_URL": emu.rest_url, "ASTER_WS_URL": emu.ws_url}
            | credentials_env(creds)
        )
        # A generous hang timeout: a slow start on a loaded machine must not fire the kill switch here.
        config = write_config(run_dir, exchange="aster", symbol=SYMBOL, max_position="5", hang_timeout=30)
        for name in PROCESSES:
            children.start(name, config, env)

        def logs() -> str:
            return "\n".join(f"--- {name}\n{process_log(config, name)}" for name in PROCESSES)

        def quoting() -> bool:
            ours = account_state(emu, api_key=spec["user"].lower())["open_orders"]
            return {o["side"] for o in ours if not o["reduce_only"]} == {"buy", "sell"}

        wait_for(quoting, 60, what=f"a bid and an ask of ours beside the foreign stop\n{logs()}")
        kinds = {o["type"] for o in web.open_orders()}
        assert kinds == {"LIMIT", "STOP_MARKET"}, kinds  # the stop rests beside the quotes
        children.close()

        done = subprocess.run(
            [sys.executable, "-m", "risk", "flatten", "--config", str(config)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert web.position() == 0
        assert web.open_orders() == []  # the kill switch cancels the foreign stop too
    finally:
        emu.stop()
