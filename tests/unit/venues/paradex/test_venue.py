"""ParadexVenue construction: key checks, nothing secret in a repr, the environment and the factory."""

from __future__ import annotations

import pytest

from services.config import parse_config
from services.secrets import Secret
from venues.base import AuthError, DeadManSwitch
from venues.factory import open_venue
from venues.paradex.venue import DEFAULT_API_URL, DEFAULT_WS_URL, ParadexVenue

ADDRESS = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"
KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"


async def test_a_keyed_venue_hides_its_key_and_is_a_dead_man_switch() -> None:
    venue = ParadexVenue(account_address=ADDRESS, l2_private_key=Secret(KEY))
    try:
        assert isinstance(venue, DeadManSwitch)
        assert KEY[2:] not in repr(venue) and KEY[2:] not in repr(venue.transport)
        assert ADDRESS in repr(venue)
        assert venue.transport.signer is not None and venue.transport.signer.account == int(ADDRESS, 16)
    finally:
        await venue.close()


async def test_a_public_venue_refuses_private_calls_at_once() -> None:
    venue = ParadexVenue(api_url="http://127.0.0.1:1/v1", ws_url="ws://127.0.0.1:1/v1")
    try:
        assert venue.transport.signer is None
        with pytest.raises(AuthError):
            venue.private_stream("BTC-USD-PERP")
        with pytest.raises(AuthError):
            await venue.open_orders("BTC-USD-PERP")
    finally:
        await venue.close()


@pytest.mark.parametrize(
    ("address", "key", "problem"),
    [
        (ADDRESS, None, "needs its L2 private key"),
        (None, KEY, "needs its account address"),
        ("nothex", KEY, "must be 0x hex"),
        (ADDRESS, "0x0", "out of the STARK curve"),
    ],
)
def test_bad_credentials_are_refused(address: str | None, key: str | None, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ParadexVenue(account_address=address, l2_private_key=key)


async def test_from_env_and_the_factory() -> None:
    env = {
        "PARADEX_API_URL": "http://127.0.0.1:9/v1",
        "PARADEX_WS_URL": "ws://127.0.0.1:9/v1",
        "PARADEX_ACCOUNT_ADDRESS": ADDRESS,
        "PARADEX_L2_PRIVATE_KEY": KEY,
    }
    venue = ParadexVenue.from_env(env)
    assert venue.transport.api_url == "http://127.0.0.1:9/v1" and venue.stream.ws_url == "ws://127.0.0.1:9/v1"
    await venue.close()
    argv = ["--exchange", "paradex", "--symbol", "BTC-USD-PERP", "--spread", "0.05", "--quantity", "0.01"]
    cfg, _ = parse_config(argv, env={})
    trading = open_venue(cfg, role="trading", env=env)
    public = open_venue(cfg, role="public", env={})
    try:
        assert isinstance(trading, ParadexVenue) and trading.transport.signer is not None
        assert isinstance(public, ParadexVenue) and public.transport.signer is None
        assert public.transport.api_url == DEFAULT_API_URL and public.stream.ws_url == DEFAULT_WS_URL
    finally:
        await trading.close()
        await public.close()
