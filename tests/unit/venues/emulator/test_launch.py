from __future__ import annotations

from services.config import load_config
from services.secrets import load_credentials
from venues.emulator.credentials import generate_account
from venues.emulator.launch import sim_env

REST, WS = "http://127.0.0.1:5000", "ws://127.0.0.1:5000/ws"


def loaded(exchange: str, symbol: str, env: dict[str, str]) -> object:
    cfg = load_config(
        ["--exchange", exchange, "--symbol", symbol, "--spread", "1", "--quantity", "1"], env={}
    )
    return load_credentials(cfg, role="trading", env=env)


def test_backpack_gets_its_urls_and_keys() -> None:
    account = generate_account().to_json()  # what the emulator writes with --write-accounts
    env = sim_env("backpack", account, rest_url=REST, ws_url=WS)
    assert env == {
        "BACKPACK_API_URL": REST,
        "BACKPACK_WS_URL": WS,
        "BACKPACK_API_KEY": account["api_key"],
        "BACKPACK_SECRET_KEY": account["secret"],
    }
    assert loaded("backpack", "SOL_USDC_PERP", env) is not None


def test_aster_runs_v3_and_paradex_serves_under_v1() -> None:
    account = {
        "user": "0x" + "1" * 40,
        "signer": "0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB",  # the address of that key
        "signer_private_key": "0x" + "3" * 64,
    }
    aster = sim_env("aster", account, rest_url=REST, ws_url=WS)
    assert aster["ASTER_API_URL"] == REST and aster["ASTER_WS_URL"] == WS
    assert type(loaded("aster", "SOLUSDT", aster)).__name__ == "AsterV3Credentials"
    paradex = sim_env(
        "paradex", {"account_address": "0x1", "l2_private_key": "0x2"}, rest_url=REST + "/", ws_url=WS
    )
    assert paradex["PARADEX_API_URL"] == REST + "/v1" and paradex["PARADEX_WS_URL"] == WS + "/v1"
    assert type(loaded("paradex", "BTC-USD-PERP", paradex)).__name__ == "ParadexCredentials"
