"""Foreign orders on Paradex: a stop the trader set in the web app, against the emulator's real signed API.

The stop is placed the way the web app places it (a Starknet-signed
``STOP_MARKET`` with a ``trigger_price`` over REST) and rests ``UNTRIGGERED``.
The connector lists and streams it as a ``CONDITIONAL`` order; the whole stack
quotes around it and its end-of-run cancel leaves it; ``python -m risk
flatten`` cancels it (and says so) and leaves the position at 0.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import aclosing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from harness import (
    ROOT,
    Emulator,
    account_state,
    async_wait_for,
    child_env,
    emulator_control,
    emulator_state,
    start_emulator,
    stop_process,
    wait_for,
)

from services.wire import OrderStatus, OrderType, OrderUpdate, Place, Side
from venues.emulator.launch import sim_env
from venues.paradex.signing import order_hash, order_message, signature_json
from venues.paradex.venue import ParadexVenue
from venues.precision import fmt

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SYMBOL = "BTC-USD-PERP"


def _env(emu: Emulator) -> dict[str, str]:
    return child_env(None, **sim_env("paradex", emu.accounts[0], rest_url=emu.rest_url, ws_url=emu.ws_url))


def _venue(emu: Emulator) -> ParadexVenue:
    return ParadexVenue(
        api_url=emu.rest_url.rstrip("/") + "/v1",
        ws_url=emu.ws_url.rstrip("/") + "/v1",
        account_address=emu.api_key,
        l2_private_key=emu.secret,
    )


async def place_stop(
    venue: ParadexVenue, *, kind: str, side: Side, size: str, trigger: Decimal, reduce_only: bool
) -> str:
    """A conditional order placed as the web app places it: signed with its own type, no client id of ours."""
    transport = venue.transport
    signer = await transport.ready_to_sign()
    chain_id = await transport.chain_id()
    stamp_ms = transport.now_ms()
    venue_side = "BUY" if side is Side.BUY else "SELL"
    message = order_message(
        timestamp_ms=stamp_ms, market=SYMBOL, side=venue_side, order_type=kind, size=Decimal(size), price=None
    )
    body: dict[str, Any] = {
        "market": SYMBOL,
        "side": venue_side,
        "type": kind,
        "size": size,
        "trigger_price": fmt(trigger),
        "instruction": "GTC",
        "client_id": "web-app-7f3a",
        "flags": ["REDUCE_ONLY"] if reduce_only else [],
        "signature": signature_json(signer.sign(order_hash(chain_id, signer.account, message))),
        "signature_timestamp": stamp_ms,
    }
    raw = await transport.call("POST", "/orders", body=body, private=True, idempotent=False)
    assert raw["status"] == "NEW" and raw["type"] == kind
    return str(raw["id"])


def mark(emu: Emulator) -> Decimal:
    return Decimal(emulator_state(emu.rest_url)["markets"][SYMBOL]["mark"])


def position(emu: Emulator) -> Decimal:
    held = account_state(emu)["positions"].get(SYMBOL)
    return Decimal(held["quantity"]) if held else Decimal(0)


@pytest.fixture
def paradex(run_dir: Path) -> Iterator[Emulator]:
    emu = start_emulator(run_dir, venue="paradex", symbol=SYMBOL, seed=5)
    try:
        yield emu
    finally:
        emu.stop()


async def test_a_foreign_stop_is_listed_streamed_cancelled_and_triggered(paradex: Emulator) -> None:
    venue = _venue(paradex)
    try:
        below = (mark(paradex) * Decimal("0.9")).quantize(Decimal("0.1"))
        async with aclosing(venue.private_stream(SYMBOL)) as stream:
            stop_id = await place_stop(
                venue, kind="STOP_MARKET", side=Side.SELL, size="0.01", trigger=below, reduce_only=True
            )

            async def streamed() -> OrderUpdate:
                async for event in stream:
                    if isinstance(event.msg, OrderUpdate) and event.msg.order_id == stop_id:
                        return event.msg
                raise AssertionError("stream ended")

            seen = await asyncio.wait_for(streamed(), 30)
        assert (seen.order_type, seen.venue_type, seen.status) == (
            OrderType.CONDITIONAL,
            "STOP_MARKET",
            OrderStatus.NEW,
        )
        [listed] = await venue.open_orders(SYMBOL)
        assert (listed.order_id, listed.order_type, listed.venue_type) == (
            stop_id,
            OrderType.CONDITIONAL,
            "STOP_MARKET",
        )
        assert listed.client_id is None and listed.reduce_only and listed.price is None
        quote = Place(client_id=11, symbol=SYMBOL, side=Side.BUY, quantity=Decimal("0.01"), price=below)
        await venue.place_order(quote)
        # DELETE /orders may leave untriggered orders: the connector's cancel-all still removes every one.
        assert await venue.cancel_all(SYMBOL) == 2
        assert await venue.open_orders(SYMBOL) == []
        gone = await venue.get_order(SYMBOL, order_id=stop_id)
        assert gone is not None and gone.status is OrderStatus.CANCELLED

        # A buy stop above the market rests until the mark crosses its trigger, then trades under its own id.
        above = (mark(paradex) * Decimal("1.01")).quantize(Decimal("0.1"))
        entry_id = await place_stop(
            venue, kind="STOP_MARKET", side=Side.BUY, size="0.01", trigger=above, reduce_only=False
        )
        assert position(paradex) == 0
        emulator_control(
            paradex.rest_url, "price", {"symbol": SYMBOL, "jump_to": str(above * Decimal("1.01"))}
        )
        await async_wait_for(
            lambda: position(paradex) == Decimal("0.01"), 30, what="the stop triggered and filled"
        )
        done = await venue.get_order(SYMBOL, order_id=entry_id)
        assert done is not None and done.status is OrderStatus.FILLED and done.venue_type == "STOP_MARKET"
    finally:
        await venue.close()


def _run(run_dir: Path, emu: Emulator, *, duration_s: int) -> subprocess.Popen[bytes]:
    args = [
        # The seed's Paradex command line, sized for the emulator's 10 000 USDC account, without --sim:
        # the emulator already runs, with the trader's stop on it.
        "--exchange", "paradex", "--market-type", "perp", "--symbol", SYMBOL,
        "--spread", "0.05", "--quantity", "0.005", "--max-orders", "2", "--target-position", "0",
        "--max-position", "0.15", "--position-threshold", "0.06", "--inventory-skew", "0.3",
        "--stop-loss", "-25", "--take-profit", "50", "--duration", str(duration_s), "--interval", "2",
        "--run-dir", str(run_dir / "r"), "--data-dir", str(run_dir / "d"),
        "--md-metrics-port", "0", "--orders-metrics-port", "0",
        "--strategy-metrics-port", "0", "--risk-metrics-port", "0",
    ]  # fmt: skip
    out = (run_dir / "run.out").open("wb")
    return subprocess.Popen(
        [sys.executable, "run.py", *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=_env(emu)
    )


async def test_quoting_the_end_of_run_and_flatten_with_a_foreign_stop_resting(
    run_dir: Path, paradex: Emulator
) -> None:
    venue = _venue(paradex)
    try:
        stop_trigger = (mark(paradex) * Decimal("0.8")).quantize(Decimal("0.1"))
        stop_id = await place_stop(
            venue, kind="STOP_MARKET", side=Side.SELL, size="0.01", trigger=stop_trigger, reduce_only=True
        )
        proc = _run(run_dir, paradex, duration_s=25)
        try:

            def quoting() -> bool:
                if proc.poll() is not None:
                    raise AssertionError((run_dir / "run.out").read_text(errors="replace"))
                orders = account_state(paradex)["open_orders"]
                return {o["side"] for o in orders if not o["reduce_only"]} == {"buy", "sell"}

            wait_for(quoting, 90, what="a bid and an ask of ours beside the trader's stop")
            assert stop_id in {o.order_id for o in await venue.open_orders(SYMBOL)}
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                stop_process(proc, timeout_s=60)
        text = (run_dir / "run.out").read_text(errors="replace")
        assert code == 0, text
        assert (
            f"orders left open on {SYMBOL} after stop: 0; 1 foreign order(s) stay (1 STOP_MARKET): "
            "perp-mm did not place them\n"
        ) in text, text
        # The strategy's cancel-all and the guardian's stop left the trader's stop where it was.
        assert [o.order_id for o in await venue.open_orders(SYMBOL)] == [stop_id]
        gateway_logs = (run_dir / "d" / "logs").glob("order_gateway*")
        assert any("was not placed by perp-mm" in p.read_text(errors="replace") for p in gateway_logs)

        emulator_control(
            paradex.rest_url,
            "position",
            {
                "api_key": paradex.api_key,
                "symbol": SYMBOL,
                "quantity": "0.02",
                "entry_price": str(mark(paradex)),
            },
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "risk", "flatten", "--exchange", "paradex", "--symbol", SYMBOL],
            cwd=ROOT,
            env=_env(paradex),
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        assert f"{SYMBOL}: flat, no open orders" in done.stdout
        assert "1 of them foreign (1 STOP_MARKET: not placed by perp-mm)" in done.stdout, done.stdout
        assert time.monotonic() - started < 90
        assert position(paradex) == 0
        assert await venue.open_orders(SYMBOL) == []
        gone = await venue.get_order(SYMBOL, order_id=stop_id)
        assert gone is not None and gone.status is OrderStatus.CANCELLED
    finally:
        await venue.close()
