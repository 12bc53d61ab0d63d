"""Build the configured exchange connector for a process.

The market-data gateway opens a public-only venue (no credentials); the order
gateway uses the trading key and the guardian its own (``RISK_...``) key when
one is set.  REST and WebSocket URLs come from the environment, so the same
code reaches the embedded emulator or the exchange.  Each connector is imported
only when chosen: Paradex's Starknet stack alone is about 45 MB per process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from services.config import Config, ConfigError
from services.secrets import (
    AsterV1Credentials,
    AsterV3Credentials,
    BackpackCredentials,
    ParadexCredentials,
    load_credentials,
)
from venues.base import Venue

Role = Literal["public", "trading", "risk"]
SUPPORTED = ("backpack", "aster", "paradex")


def open_venue(cfg: Config, *, role: Role, env: Mapping[str, str] | None = None) -> Venue:
    """The connector for ``cfg.exchange``; raises ``ConfigError`` with what to set when it cannot."""
    env = os.environ if env is None else env
    if cfg.exchange not in SUPPORTED:
        raise ConfigError(
            [f"--exchange {cfg.exchange} is not yet supported; supported: {', '.join(SUPPORTED)}"]
        )
    if cfg.exchange == "aster":
        return _open_aster(cfg, role=role, env=env)
    if cfg.exchange == "paradex":
        return _open_paradex(cfg, role=role, env=env)
    return _open_backpack(cfg, role=role, env=env)


def _open_backpack(cfg: Config, *, role: Role, env: Mapping[str, str]) -> Venue:
    """Backpack from BACKPACK_API_URL, BACKPACK_WS_URL and the API key and secret."""
    from venues.backpack.venue import DEFAULT_API_URL, DEFAULT_WS_URL, BackpackVenue

    api_url = env.get("BACKPACK_API_URL") or DEFAULT_API_URL
    ws_url = env.get("BACKPACK_WS_URL") or DEFAULT_WS_URL
    if role == "public":
        return BackpackVenue(api_url=api_url, ws_url=ws_url)
    creds = load_credentials(cfg, role=role, env=env)
    if not isinstance(creds, BackpackCredentials):
        raise ConfigError(["no Backpack credentials: set BACKPACK_API_KEY and BACKPACK_SECRET_KEY"])
    return BackpackVenue(api_url=api_url, ws_url=ws_url, api_key=creds.api_key, secret=creds.secret_key)


def _open_aster(cfg: Config, *, role: Role, env: Mapping[str, str]) -> Venue:
    """Aster from ASTER_API_URL, ASTER_WS_URL, ASTER_CHAIN_ID (714: testnet) and ASTER_AUTH's credentials."""
    from venues.aster import venue as aster
    from venues.aster.signing import MAINNET_CHAIN_ID

    api_url = env.get("ASTER_API_URL") or aster.DEFAULT_API_URL
    ws_url = env.get("ASTER_WS_URL") or aster.DEFAULT_WS_URL
    chain_text = env.get("ASTER_CHAIN_ID") or str(MAINNET_CHAIN_ID)
    if not chain_text.isdigit():
        raise ConfigError([f"ASTER_CHAIN_ID {chain_text!r} is not a number (1666 mainnet, 714 testnet)"])
    if role == "public":
        return aster.AsterVenue(api_url=api_url, ws_url=ws_url)
    creds = load_credentials(cfg, role=role, env=env)
    if not isinstance(creds, AsterV3Credentials | AsterV1Credentials):
        raise ConfigError(
            [
                "no Aster credentials: set ASTER_USER, ASTER_SIGNER and ASTER_SIGNER_PRIVATE_KEY "
                "(or ASTER_AUTH=v1 with ASTER_API_KEY and ASTER_SECRET_KEY)"
            ]
        )
    return aster.AsterVenue(api_url=api_url, ws_url=ws_url, credentials=creds, chain_id=int(chain_text))


def _open_paradex(cfg: Config, *, role: Role, env: Mapping[str, str]) -> Venue:
    """Paradex from PARADEX_API_URL, PARADEX_WS_URL (both end in /v1) and the account address and L2 key."""
    from venues.paradex import venue as paradex

    api_url = env.get("PARADEX_API_URL") or paradex.DEFAULT_API_URL
    ws_url = env.get("PARADEX_WS_URL") or paradex.DEFAULT_WS_URL
    if role == "public":
        return paradex.ParadexVenue(api_url=api_url, ws_url=ws_url)
    creds = load_credentials(cfg, role=role, env=env)
    if not isinstance(creds, ParadexCredentials):
        raise ConfigError(["no Paradex credentials: set PARADEX_ACCOUNT_ADDRESS and PARADEX_L2_PRIVATE_KEY"])
    return paradex.ParadexVenue(
        api_url=api_url,
        ws_url=ws_url,
        account_address=creds.account_address,
        l2_private_key=creds.l2_private_key,
    )
