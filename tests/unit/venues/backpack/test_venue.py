"""BackpackVenue: configuration from the environment, secrets kept out of sight, delegation."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from services.logs import redact
from services.secrets import Secret
from venues.backpack.signing import Signer
from venues.backpack.venue import DEFAULT_API_URL, DEFAULT_WS_URL, BackpackVenue
from venues.base import AuthError, Venue

SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
API_KEY = Signer(SECRET).api_key


def test_from_env_reads_the_four_variables() -> None:
    env = {
        "BACKPACK_API_URL": "http://127.0.0.1:9/",
        "BACKPACK_WS_URL": "ws://127.0.0.1:9",
        "BACKPACK_API_KEY": API_KEY,
        "BACKPACK_SECRET_KEY": SECRET,
    }
    venue = BackpackVenue.from_env(env, window_ms=10_000)
    assert isinstance(venue, Venue) and venue.name == "backpack"
    assert venue.transport.api_url == "http://127.0.0.1:9"
    assert venue.stream.ws_url == "ws://127.0.0.1:9"
    assert venue.api_key == API_KEY and venue.transport.window_ms == 10_000


def test_from_env_defaults_to_the_real_venue_without_credentials() -> None:
    venue = BackpackVenue.from_env({})
    assert venue.transport.api_url == DEFAULT_API_URL and venue.stream.ws_url == DEFAULT_WS_URL
    assert venue.api_key is None
    with pytest.raises(AuthError):
        venue.private_stream("SOL_USDC_PERP")


def test_the_secret_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    venue = BackpackVenue(secret=SECRET)
    assert SECRET not in repr(venue) and API_KEY in repr(venue)
    assert SECRET not in repr(venue.transport) and SECRET not in repr(venue.transport.signer)
    assert SECRET not in redact(f"oops {SECRET}")
    caplog.set_level(logging.DEBUG)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_a_key_that_does_not_match_the_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="public key"):
        BackpackVenue(api_key="x" * 44, secret=SECRET)
    with pytest.raises(ValueError, match="secret"):
        BackpackVenue(api_key=API_KEY)
    assert BackpackVenue(secret=Signer(SECRET), api_key=API_KEY).api_key == API_KEY
    assert BackpackVenue(secret=Secret(SECRET), api_key=API_KEY).api_key == API_KEY


async def test_calls_reach_the_venue(fake: Any) -> None:
    async def markets(call: Any) -> web.StreamResponse:
        return web.json_response(
            [
                {
                    "symbol": "SOL_USDC_PERP",
                    "baseSymbol": "SOL",
                    "quoteSymbol": "USDC",
                    "marketType": "PERP",
                    "filters": {
                        "price": {"tickSize": "0.01"},
                        "quantity": {"stepSize": "0.1", "minQuantity": "0.1"},
                    },
                }
            ]
        )

    async def mark(call: Any) -> web.StreamResponse:
        return web.json_response([{"symbol": "SOL_USDC_PERP", "markPrice": "150.25"}])

    fake.on("GET", "/api/v1/markets", markets)
    fake.on("GET", "/api/v1/markPrices", mark)
    venue = BackpackVenue(api_url=fake.url, secret=SECRET)
    try:
        rules = await venue.load_markets()
        assert rules["SOL_USDC_PERP"].step_size == Decimal("0.1")
        assert await venue.mark_price("SOL_USDC_PERP") == Decimal("150.25")
        assert abs(await venue.server_time_ms() - fake.now_ms()) < 1000
    finally:
        await venue.close()
