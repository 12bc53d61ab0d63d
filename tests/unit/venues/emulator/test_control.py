from __future__ import annotations

from decimal import Decimal

import pytest

from venues.emulator.catalog import select_markets
from venues.emulator.control import ControlApi, ControlError
from venues.emulator.core import EmulatorConfig, EmulatorCore
from venues.emulator.credentials import AccountSpec

SOL = "SOL_USDC_PERP"
WALLET = "0xabcdef0123456789abcdef0123456789abcdef01"  # an Aster v3 account is its wallet, lower case


class NoConnections:
    def drop_connections(self) -> None:
        pass


def control() -> ControlApi:
    accounts = (AccountSpec(api_key=WALLET, collateral=Decimal(1000)),)
    core = EmulatorCore(EmulatorConfig(profiles=tuple(select_markets([SOL])), accounts=accounts))
    return ControlApi(core, NoConnections())


async def test_position_finds_the_account_by_its_state_name_in_any_letter_case() -> None:
    api = control()
    body = {"symbol": SOL, "quantity": "1.5", "entry_price": "150"}
    assert await api.position({**body, "account": WALLET.upper().replace("0X", "0x")}) == {"ok": True}
    state = await api.state({})
    assert state["accounts"][WALLET]["positions"][SOL]["quantity"] == "1.5"
    assert await api.position({**body, "api_key": WALLET, "quantity": "0"}) == {"ok": True}
    assert (await api.state({}))["accounts"][WALLET]["positions"].get(SOL, {"quantity": "0"})[
        "quantity"
    ] == "0"


async def test_an_unknown_account_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ControlError, match=f"unknown account 'nobody'; accounts: {WALLET}"):
        await control().position({"account": "nobody", "symbol": SOL, "quantity": "1", "entry_price": "1"})


async def test_state_lists_the_book_levels_best_first() -> None:
    api = control()
    api.core.step()  # the simulator lays out the house ladder
    market = (await api.state({}))["markets"][SOL]
    bids, asks = market["bids"], market["asks"]
    assert bids and asks and len(bids) <= 10 and len(asks) <= 10
    assert [Decimal(p) for p, _ in bids] == sorted((Decimal(p) for p, _ in bids), reverse=True)
    assert [Decimal(p) for p, _ in asks] == sorted(Decimal(p) for p, _ in asks)
    assert (market["bid"], market["ask"]) == (bids[0][0], asks[0][0])
