"""Backpack foreign orders: a stop set in the venue's web app rests on the symbol perp-mm trades.

The stop is placed as the web app would, a signed ``orderExecute`` with
``triggerPrice``.  The connector reads it (and a triggered one) as a
``CONDITIONAL`` order wherever it appears; with it resting, the whole system
quotes, and ``python -m risk flatten`` cancels everything and leaves the
position flat.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
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
    child_env,
    emulator_control,
    emulator_state,
    wait_for,
    write_config,
)

from services.wire import OrderStatus, OrderType, OrderUpdate
from venues.backpack.signing import Signer, signing_string
from venues.backpack.venue import BackpackVenue
from venues.emulator.credentials import AccountSpec, generate_account
from venues.emulator.server import EmulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SOL = "SOL_USDC_PERP"


async def web_app_order(rest_url: str, api_key: str, secret: str, body: dict[str, Any]) -> dict[str, Any]:
    """A signed ``POST /api/v1/order``, as the venue's web app sends one."""
    timestamp_ms = int(time.time() * 1000)
    text = signing_string("orderExecute", body, timestamp_ms=timestamp_ms, window_ms=5000)
    headers = {
        "X-API-Key": api_key,
        "X-Signature": Signer(secret).sign(text),
        "X-Timestamp": str(timestamp_ms),
        "X-Window": "5000",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{rest_url}/api/v1/order", json=body, headers=headers) as answer,
    ):
        reply: dict[str, Any] = await answer.json()
        assert answer.status == 200, reply
        return reply


def stop_loss(trigger_price: Decimal, *, quantity: str = "1") -> dict[str, Any]:
    """A reduce-only market stop, triggered by the mark price."""
    return {
        "symbol": SOL,
        "side": "Ask",
        "orderType": "Market",
        "triggerPrice": str(trigger_price),
        "triggerBy": "MarkPrice",
        "quantity": quantity,
        "reduceOnly": True,
    }


@pytest.fixture
async def emu() -> AsyncIterator[tuple[EmulatorServer, AccountSpec]]:
    account = generate_account()
    async with EmulatorServer(venue="backpack", seed=8, symbols=[SOL], accounts=[account]) as server:
        yield server, account


async def test_the_connector_reads_stops_and_triggered_orders_as_conditional(
    emu: tuple[EmulatorServer, AccountSpec],
) -> None:
    server, account = emu
    assert account.secret is not None
    venue = BackpackVenue(
        api_url=server.rest_url, ws_url=server.ws_url, api_key=account.api_key, secret=account.secret
    )
    events = venue.private_stream(SOL)
    try:
        async for _ in events:
            break  # subscribed: LIVE
        mark = server.engine.mark_state(SOL).mark
        assert mark is not None
        placed = await web_app_order(
            server.rest_url,
            account.api_key,
            account.secret,
            stop_loss((mark * Decimal("0.5")).quantize(Decimal("0.01"))),
        )
        assert placed["status"] == "TriggerPending"
        async with asyncio.timeout(15):
            async for event in events:
                if isinstance(event.msg, OrderUpdate) and event.msg.order_id == placed["id"]:
                    streamed = event.msg
                    break
        assert streamed.order_type is OrderType.CONDITIONAL and streamed.status is OrderStatus.NEW
        assert streamed.venue_type == "Market TriggerPending"
        # A stop-limit the market then runs through: Triggered, and listed while its limit order rests.
        best_bid, _ = server.engine.top(SOL)
        assert best_bid is not None
        far_bid = (best_bid[0] * Decimal("0.8")).quantize(Decimal("0.01"))
        stop_limit = {
            **stop_loss((mark * Decimal("1.005")).quantize(Decimal("0.01"))),
            **{"side": "Bid", "orderType": "Limit", "price": str(far_bid), "reduceOnly": False},
        }
        triggered = await web_app_order(server.rest_url, account.api_key, account.secret, stop_limit)
        async with aiohttp.ClientSession() as http:
            jump = {"symbol": SOL, "jump_to": str((mark * Decimal("1.02")).quantize(Decimal("0.01")))}
            async with http.post(f"{server.rest_url}/_emulator/price", json=jump) as answer:
                assert answer.status == 200
        (stop,) = [o for o in await venue.open_orders(SOL) if o.order_id == placed["id"]]
        assert stop.order_type is OrderType.CONDITIONAL and stop.venue_type == "Market TriggerPending"
        assert stop.quantity == 1 and stop.price is None and stop.status is OrderStatus.NEW
        fired = await venue.get_order(SOL, order_id=triggered["id"])
        async with asyncio.timeout(15):
            while fired is None or fired.venue_type != "Limit Triggered":
                await asyncio.sleep(0.1)
                fired = await venue.get_order(SOL, order_id=triggered["id"])
        assert fired.order_type is OrderType.CONDITIONAL and fired.status is OrderStatus.NEW
        kinds = sorted(o.order_type for o in await venue.open_orders(SOL))
        assert kinds == [OrderType.CONDITIONAL, OrderType.CONDITIONAL, OrderType.LIMIT]
        assert await venue.cancel_all(SOL) == 3
        assert await venue.open_orders(SOL) == []
    finally:
        await events.aclose()
        await venue.close()


def place_stop(emulator: Emulator) -> str:
    """A stop-loss far below the market, from the web app; its order id."""
    mark = Decimal(emulator_state(emulator.rest_url)["markets"][SOL]["mark"])
    body = stop_loss((mark * Decimal("0.5")).quantize(Decimal("0.01")))
    placed = asyncio.run(web_app_order(emulator.rest_url, emulator.api_key, emulator.secret, body))
    return str(placed["id"])


def test_with_a_foreign_stop_resting_the_system_quotes_and_leaves_it(
    emulator: Emulator, children: Children, run_dir: Path
) -> None:
    stop_id = place_stop(emulator)
    config = write_config(run_dir, max_position="2")
    env = child_env(emulator)
    for name in ("risk", "md_gateway", "order_gateway", "strategy"):
        children.start(name, config, env)
    wait_for(
        lambda: {o["side"] for o in account_state(emulator)["open_orders"]} == {"buy", "sell"},
        60,
        what="quotes on both sides",
    )
    assert stop_id in {o.order_id for o in asyncio.run(venue_orders(emulator))}


def test_with_a_foreign_stop_resting_flatten_cancels_all_and_leaves_the_position_flat(
    emulator: Emulator,
) -> None:
    place_stop(emulator)
    mark = emulator_state(emulator.rest_url)["markets"][SOL]["mark"]
    position = {"api_key": emulator.api_key, "symbol": SOL, "quantity": "0.3", "entry_price": str(mark)}
    emulator_control(emulator.rest_url, "position", position)
    done = subprocess.run(
        [sys.executable, "-m", "risk", "flatten", "--exchange", "backpack", "--symbol", SOL],
        cwd=ROOT,
        env=child_env(emulator),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Market TriggerPending" in done.stdout + done.stderr  # flatten names the stop it cancelled
    held = account_state(emulator)["positions"].get(SOL)
    assert held is None or Decimal(held["quantity"]) == 0
    assert asyncio.run(venue_orders(emulator)) == []


async def venue_orders(emulator: Emulator) -> list[OrderUpdate]:
    """Every open order on the venue, trigger orders included, as the connector reads them."""
    venue = BackpackVenue(
        api_url=emulator.rest_url, ws_url=emulator.ws_url, api_key=emulator.api_key, secret=emulator.secret
    )
    try:
        return await venue.open_orders(SOL)
    finally:
        await venue.close()
