"""The unmodified third-party ``bpx-py`` client trades against the emulator.

bpx-py builds its URLs from a class attribute (``BPX_API_URL`` for accounts,
``BASE_URL`` for public data); the test sets it on the instances to the
emulator's loopback URL.  Its signing and requests are used as shipped, so a
difference between the emulator and Backpack's wire rules shows up here.
bpx-py is synchronous: its calls run in a worker thread beside the emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from bpx.account import Account
from bpx.constants.enums import OrderTypeEnum, TimeInForceEnum
from bpx.public import Public

from venues.emulator import AccountSpec, EmulatorServer
from venues.emulator.credentials import generate_account

SOL = "SOL_USDC_PERP"
T = TypeVar("T")


async def run(call: Callable[..., T], /, **kwargs: Any) -> T:
    return await asyncio.to_thread(call, **kwargs)


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[EmulatorServer, AccountSpec, AccountSpec]]:
    maker, taker = generate_account(), generate_account()
    async with EmulatorServer(venue="backpack", seed=5, symbols=[SOL], accounts=[maker, taker]) as emu:
        yield emu, maker, taker


def client(emu: EmulatorServer, spec: AccountSpec) -> Account:
    assert spec.secret is not None
    account = Account(spec.api_key, spec.secret, window=10_000)
    account.BPX_API_URL = f"{emu.rest_url}/"
    return account


async def test_bpx_py_places_lists_and_cancels(
    emulator: tuple[EmulatorServer, AccountSpec, AccountSpec],
) -> None:
    emu, maker, _ = emulator
    public = Public()
    public.BASE_URL = f"{emu.rest_url}/"
    markets = await run(public.get_markets)
    assert [m["symbol"] for m in markets] == [SOL]
    depth = await run(public.get_depth, symbol=SOL)
    far_bid = (Decimal(depth["bids"][-1][0]) * Decimal("0.9")).quantize(Decimal("0.01"))

    account = client(emu, maker)
    placed = await run(
        account.execute_order,
        symbol=SOL,
        side="Bid",
        order_type=OrderTypeEnum.LIMIT,
        quantity="0.5",
        price=str(far_bid),
        time_in_force=TimeInForceEnum.GTC,
        post_only=True,
        client_id=77,
        auto_lend_redeem=True,
    )
    assert placed["status"] == "New" and placed["clientId"] == 77 and placed["price"] == str(far_bid)
    second = await run(
        account.execute_order,
        symbol=SOL,
        side="Bid",
        order_type=OrderTypeEnum.LIMIT,
        quantity="0.25",
        price=str(far_bid - 1),
        client_id=78,
    )
    assert second["status"] == "New"

    listed = await run(account.get_open_orders, symbol=SOL)
    assert sorted(o["clientId"] for o in listed) == [77, 78]
    found = await run(account.get_open_order, symbol=SOL, client_id=77)
    assert found["id"] == placed["id"]

    cancelled = await run(account.cancel_order, symbol=SOL, order_id=placed["id"])
    assert cancelled["status"] == "Cancelled" and cancelled["id"] == placed["id"]
    missing = await run(account.get_open_order, symbol=SOL, order_id=placed["id"])
    assert missing == {"code": "RESOURCE_NOT_FOUND", "message": "Order not found"}

    all_cancelled = await run(account.cancel_all_orders, symbol=SOL)
    assert [o["clientId"] for o in all_cancelled] == [78]
    assert await run(account.get_open_orders, symbol=SOL) == []


async def test_bpx_py_fills_positions_and_balances(
    emulator: tuple[EmulatorServer, AccountSpec, AccountSpec],
) -> None:
    emu, maker, taker = emulator
    emu.simulator.set_paused(True)
    account, counterparty = client(emu, maker), client(emu, taker)
    (bid, _), (ask, _) = emu.engine.top(SOL)  # type: ignore[misc]
    price = bid + Decimal("0.01")
    assert price < ask
    refused = await run(
        account.execute_order,
        symbol=SOL,
        side="Bid",
        order_type=OrderTypeEnum.LIMIT,
        quantity="1",
        price=str(ask),
        post_only=True,
    )
    assert refused == {"code": "INVALID_ORDER", "message": "Order would immediately match and take"}
    resting = await run(
        account.execute_order,
        symbol=SOL,
        side="Bid",
        order_type=OrderTypeEnum.LIMIT,
        quantity="1",
        price=str(price),
        post_only=True,
    )
    taken = await run(
        counterparty.execute_order, symbol=SOL, side="Ask", order_type=OrderTypeEnum.MARKET, quantity="1"
    )
    assert taken["status"] == "Filled"

    fills = await run(account.get_fill_history, symbol=SOL)
    assert [(f["orderId"], f["isMaker"], f["quantity"]) for f in fills] == [(resting["id"], True, "1")]
    positions = await run(account.get_open_positions)
    assert [(p["symbol"], p["netQuantity"]) for p in positions] == [(SOL, "1")]
    balances = await run(account.get_balances)
    assert set(balances) == {"USDC"} and Decimal(balances["USDC"]["available"]) > 0
    collateral = await run(account.get_collateral)
    assert Decimal(collateral["netEquity"]) > 0
    settings = await run(account.get_account)
    assert settings["futuresTakerFee"] == "5"
    assert await run(account.get_funding_payments, symbol=SOL) == []
