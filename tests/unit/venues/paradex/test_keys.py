"""Deriving a Paradex account from its Ethereum key: the official vector, key sources, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from services.secrets import Secret
from venues.paradex import keys

VECTORS = Path(__file__).resolve().parents[4] / "../shared/vectors/signing.json"
CASE: dict[str, Any] = json.loads(VECTORS.read_text())["paradex_typed_data"]["key_derivation"]
# Paradex testnet's /system/config, as far as the derivation reads it.
TESTNET_CONFIG = {
    "l1_chain_id": "11155111",
    "paraclear_account_proxy_hash": "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9",
    "paraclear_account_hash": "0x41cb0280ebadaa75f996d8d92c6f265f6d040bb3ba442e5f86a554f1765244e",
}


def test_derive_account_matches_the_vector() -> None:
    address, l2_key = keys.derive_account(TESTNET_CONFIG, Secret(CASE["l1_private_key"]))
    assert int(address, 16) == int(CASE["account_address"], 16)
    assert int(l2_key.reveal(), 16) == int(CASE["l2_private_key"], 16)


def test_l1_key_sources(tmp_path: Path) -> None:
    assert keys.l1_key_from({"PARADEX_L1_PRIVATE_KEY": " 0xabc "}).reveal() == "0xabc"
    key_file = tmp_path / "l1"
    key_file.write_text("0xdef\n")
    os.chmod(key_file, 0o600)
    assert keys.l1_key_from({"PARADEX_L1_PRIVATE_KEY_FILE": str(key_file)}).reveal() == "0xdef"
    os.chmod(key_file, 0o644)
    with pytest.raises(ValueError):
        keys.l1_key_from({"PARADEX_L1_PRIVATE_KEY_FILE": str(key_file)})
    with pytest.raises(ValueError, match="not both"):
        keys.l1_key_from({"PARADEX_L1_PRIVATE_KEY": "0x1", "PARADEX_L1_PRIVATE_KEY_FILE": str(key_file)})
    with pytest.raises(ValueError, match="Ethereum key"):
        keys.l1_key_from({})


def test_cli_writes_the_l2_key_owner_only_and_prints_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def config(api_url: str) -> dict[str, Any]:
        assert api_url == "http://127.0.0.1:1/v1"
        return TESTNET_CONFIG

    monkeypatch.setattr(keys, "fetch_config", config)
    target = tmp_path / "l2"
    env = {"PARADEX_L1_PRIVATE_KEY": CASE["l1_private_key"]}
    argv = ["--api-url", "http://127.0.0.1:1/v1", "--write-l2-key", str(target)]
    assert keys.main(argv, env) == 0
    out = capsys.readouterr().out
    assert f"PARADEX_ACCOUNT_ADDRESS={hex(int(CASE['account_address'], 16))}" in out
    assert CASE["l2_private_key"][4:] not in out
    assert target.stat().st_mode & 0o777 == 0o600
    assert int(target.read_text(), 16) == int(CASE["l2_private_key"], 16)
    # An existing key file is never overwritten.
    assert keys.main(argv, env) == 2
    assert "exists" in capsys.readouterr().err
