"""Emulator accounts files: validation, generation, and owner-only writing."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from venues.backpack.signing import Signer
from venues.emulator.credentials import generate_account, load_accounts, parse_account, write_accounts


def test_generated_accounts_round_trip_through_an_owner_only_file(tmp_path: Path) -> None:
    accounts = [generate_account(), generate_account(collateral=Decimal("2500.5"))]
    path = tmp_path / "accounts.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_accounts(path, accounts)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_accounts(path) == accounts
    assert all(a.secret and Signer(a.secret).api_key == a.api_key for a in accounts)
    assert str(accounts[0].secret) not in repr(accounts[0])
    assert list(tmp_path.iterdir()) == [path]


def test_write_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("[]")
    link = tmp_path / "accounts.json"
    link.symlink_to(target)
    with pytest.raises(ValueError):
        write_accounts(link, [generate_account()])
    assert target.read_text() == "[]"


def test_parse_validates_key_secret_and_collateral() -> None:
    good = generate_account()
    other = generate_account()
    assert parse_account({"api_key": good.api_key}).collateral == Decimal(10_000)
    for raw in (
        {"api_key": "not base64!"},
        {"api_key": "AAAA"},
        {"api_key": good.api_key, "secret": other.secret},
        {"api_key": good.api_key, "collateral": "-1"},
        {"api_key": good.api_key, "collateral": "lots"},
        "a string",
    ):
        with pytest.raises(ValueError) as refused:
            parse_account(raw)
        assert other.secret is None or other.secret not in str(refused.value)


def test_load_refuses_duplicates_and_non_lists(tmp_path: Path) -> None:
    account = generate_account()
    path = tmp_path / "accounts.json"
    for content in ([account.to_json(), account.to_json()], [], {"api_key": account.api_key}):
        path.write_text(json.dumps(content))
        with pytest.raises(ValueError):
            load_accounts(path)
    path.write_text("{not json")
    with pytest.raises(ValueError):
        load_accounts(path)
