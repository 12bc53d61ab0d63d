"""Venue sessions lapsing mid-run: Aster's listen key and Paradex's JWT, under the real gateways and strategy.

Each test quotes, lets the session lapse, then proves the private stream and
order placement work again without a restart: a fill made afterwards is
journaled, and the strategy follows a price move with new orders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from faultstack import Stack, make_stack, paradex_stack
from harness import (
    Children,
    Emulator,
    FakeGuardian,
    account_state,
    async_wait_for,
    child_env,
    emulator_control,
    emulator_state,
    journal_rows,
    start_emulator,
)

from services.secrets import AsterV3Credentials, Secret, credentials_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(150)]


async def wait(stack: Stack, predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    try:
        await async_wait_for(predicate, timeout_s, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


def quoting(emulator: Emulator, account: str) -> bool:
    orders = account_state(emulator, api_key=account)["open_orders"]
    return {o["side"] for o in orders} == {"buy", "sell"}


async def trades_on(stack: Stack, emulator: Emulator, account: str, symbol: str) -> None:
    """A price move is followed by new quotes, and a taker fill of ours reaches the journal."""
    placed = orders_placed_by(emulator, account)
    fair = float(emulator_state(emulator.rest_url)["markets"][symbol]["fair"])
    emulator_control(emulator.rest_url, "price", {"symbol": symbol, "jump_to": f"{fair * 1.01:.1f}"})
    await wait(stack, lambda: orders_placed_by(emulator, account) > placed, 30, "new quotes after the move")
    fills_before = len(account_state(emulator, api_key=account)["fills"])
    emulator_control(emulator.rest_url, "taker", {"symbol": symbol, "rate_per_s": 5, "pause": False})
    await wait(
        stack,
        lambda: len(account_state(emulator, api_key=account)["fills"]) > fills_before,
        30,
        "a fill of ours",
    )
    emulator_control(emulator.rest_url, "taker", {"pause": True})

    def journaled() -> bool:
        venue = {str(f["trade_id"]) for f in account_state(emulator, api_key=account)["fills"]}
        return venue <= {str(row[0]) for row in journal_rows(stack.config, "SELECT trade_id FROM fills")}

    await wait(stack, journaled, 20, "every fill journaled")


def auths(emulator: Emulator) -> int:
    """How many times the venue has issued a token (``POST .../auth``)."""
    by_path = emulator_state(emulator.rest_url)["requests"]["by_path"]
    return sum(n for path, n in by_path.items() if path.endswith("/auth"))


def orders_placed_by(emulator: Emulator, account: str) -> int:
    placed: int = account_state(emulator, api_key=account)["orders_placed"]
    return placed


async def test_an_expired_aster_listen_key_is_renewed_and_the_user_stream_delivers_again(
    run_dir: Path, children: Children
) -> None:
    symbol = "SOLUSDT"
    emu = start_emulator(run_dir, symbol=symbol, venue="aster")
    try:
        spec = emu.accounts[0]
        user = spec["user"].lower()
        creds = AsterV3Credentials(spec["user"], spec["signer"], Secret(spec["signer_private_key"]))
        env = child_env(None, ASTER_API_URL=emu.rest_url, ASTER_WS_URL=emu.ws_url, **credentials_env(creds))
        emulator_control(emu.rest_url, "taker", {"pause": True})
        stack = make_stack(run_dir, emu, children, env=env, exchange="aster", symbol=symbol)
        async with FakeGuardian(stack.config):
            for name in ("md_gateway", "order_gateway", "strategy"):
                stack.start(name)
            await wait(stack, lambda: quoting(emu, user), 60, "quotes on both sides")
            emulator_control(emu.rest_url, "faults", {"expire_listen_keys": True})
            await wait(stack, lambda: "listenKey expired" in stack.log("order_gateway"), 15, "the lapse seen")
            await wait(
                stack,
                lambda: stack.metric("order_gateway", "mm_exec_stream_state", state="live") == 1,
                30,
                "the user stream live again",
            )
            await trades_on(stack, emu, user, symbol)
            assert stack.alive(), stack.logs()
    finally:
        emu.stop()


async def test_paradex_jwts_expiring_every_two_seconds_never_stop_trading(
    run_dir: Path, children: Children
) -> None:
    symbol = "BTC-USD-PERP"
    lifetime_s = 2
    emu = start_emulator(
        run_dir, symbol=symbol, venue="paradex", extra_args=["--jwt-lifetime-s", str(lifetime_s)]
    )
    try:
        stack = paradex_stack(
            run_dir,
            emu,
            children,
            symbol=symbol,
            quantity="0.005",
            max_position="0.15",
            order_rate_limit=40,
        )
        async with FakeGuardian(stack.config):
            for name in ("md_gateway", "order_gateway", "strategy"):
                stack.start(name)
            await wait(stack, lambda: quoting(emu, emu.api_key), 60, "quotes on both sides")
            # Several tokens lapse meanwhile, the first one issued long gone: counted by the venue itself.
            await wait(stack, lambda: auths(emu) >= 3, 30, "three tokens issued")
            await trades_on(stack, emu, emu.api_key, symbol)
            assert stack.metric("order_gateway", "mm_exec_stream_state", state="live") == 1
            assert auths(emu) >= 3, emulator_state(emu.rest_url)["requests"]["by_path"]
            assert stack.alive(), stack.logs()
    finally:
        emu.stop()
