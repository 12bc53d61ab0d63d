"""Paradex emulator accounts: validation, generation with real addresses, owner-only files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from venues.emulator.paradex_accounts import (
    generate_paradex_account,
    load_paradex_accounts,
    parse_paradex_account,
    write_paradex_accounts,
)
from venues.emulator.paradex_public import ACCOUNT_CLASS_HASH, PROXY_CLASS_HASH
from venues.paradex.signing import account_address, public_key


def test_generated_accounts_round_trip_through_an_owner_only_file(tmp_path: Path) -> None:
    accounts = [generate_paradex_account(), generate_paradex_account(collateral=Decimal("2500.5"))]
    path = tmp_path / "accounts.json"
    write_paradex_accounts(path, accounts)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_paradex_accounts(path) == accounts
    rows = json.loads(path.read_text())
    assert set(rows[0]) == {"account_address", "l2_private_key", "collateral"}
    for account in accounts:
        assert account.secret is not None and account.secret not in repr(account)
        derived = account_address(
            public_key(int(account.secret, 16)),
            proxy_class_hash=int(PROXY_CLASS_HASH, 16),
            account_class_hash=int(ACCOUNT_CLASS_HASH, 16),
        )
        assert account.api_key == hex(derived)


def test_addresses_are_canonical() -> None:
    spec = parse_paradex_account({"account_address": "0x00ABC", "l2_private_key": "0x0123"})
    assert (spec.api_key, spec.secret, spec.collateral) == ("0xabc", "0x123", Decimal(10_000))


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([], "JSON object"),
        ({"account_address": "abc", "l2_private_key": "0x1"}, "account_address"),
        ({"account_address": "0x1", "l2_private_key": "12"}, "l2_private_key"),
        ({"account_address": "0x1", "l2_private_key": "0x0"}, "l2_private_key"),
        ({"account_address": "0x1", "l2_private_key": "0xzz"}, "l2_private_key"),
        ({"account_address": "0x1", "l2_private_key": "0x1", "collateral": "x"}, "collateral"),
        ({"account_address": "0x1", "l2_private_key": "0x1", "collateral": "-1"}, "collateral"),
    ],
)
def test_bad_entries_are_refused_without_echoing_the_key(raw: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        parse_paradex_account(raw)
    assert "0xzz" not in str(refused.value)


def test_files_need_distinct_accounts(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    entry = {"account_address": "0x1", "l2_private_key": "0x1"}
    path.write_text(json.dumps([entry, entry]))
    with pytest.raises(ValueError, match="twice"):
        load_paradex_accounts(path)
    path.write_text("[]")
    with pytest.raises(ValueError, match="non-empty"):
        load_paradex_accounts(path)
