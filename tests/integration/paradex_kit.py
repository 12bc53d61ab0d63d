"""The Paradex emulator and a connector on it, for the Paradex integration tests.

This directory is on ``sys.path`` (conftest), so a test module does ``from paradex_kit import ...``.
"""

from __future__ import annotations

from venues.emulator.credentials import AccountSpec
from venues.emulator.paradex_accounts import generate_paradex_account
from venues.emulator.server import EmulatorServer
from venues.paradex.venue import ParadexVenue

SYMBOL = "BTC-USD-PERP"


async def paradex_emulator(*, seed: int, **options: object) -> tuple[EmulatorServer, AccountSpec]:
    """A started Paradex emulator quoting ``SYMBOL`` with one funded account (stop it yourself)."""
    account = generate_paradex_account()
    emu = EmulatorServer(venue="paradex", symbols=[SYMBOL], accounts=[account], seed=seed, **options)  # type: ignore[arg-type]
    await emu.start()
    return emu, account


def paradex_venue(emu: EmulatorServer, account: AccountSpec, **options: object) -> ParadexVenue:
    """The connector on ``emu`` as ``account``; quick to reconnect unless ``options`` say otherwise."""
    settings: dict[str, object] = {"reconnect_base_s": 0.05, "reconnect_cap_s": 0.2, **options}
    return ParadexVenue(
        api_url=emu.rest_url + "/v1",
        ws_url=emu.ws_url + "v1",
        account_address=account.api_key,
        l2_private_key=account.secret,
        **settings,  # type: ignore[arg-type]
    )
