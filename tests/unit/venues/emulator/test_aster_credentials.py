"""Aster emulator accounts: both credential generations, validation, generation and round trip."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from venues.emulator.aster_credentials import (
    generate_aster_account,
    load_aster_accounts,
    parse_aster_account,
    parse_aster_accounts,
)
from venues.emulator.credentials import write_owner_only_json


def test_generated_account_has_both_generations_and_round_trips(tmp_path: Path) -> None:
    spec = generate_aster_account(collateral=Decimal("2500.5"))
    assert spec.signer_private_key is not None and spec.signer is not None and spec.user is not None
    assert Account.from_key(spec.signer_private_key).address == spec.signer
    assert spec.api_key and spec.secret and spec.account_id == spec.user.lower()
    assert spec.secret not in repr(spec) and spec.signer_private_key not in repr(spec)
    path = tmp_path / "accounts.json"
    write_owner_only_json(path, [spec.to_json()])
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_aster_accounts(path) == [spec]
    engine = spec.engine_account()
    assert (engine.api_key, engine.collateral) == (spec.account_id, Decimal("2500.5"))


def test_either_generation_alone_is_an_account() -> None:
    spec = generate_aster_account()
    v3_only = parse_aster_account({"user": spec.user, "signer": spec.signer})
    assert v3_only.account_id == str(spec.user).lower() and v3_only.api_key is None
    v1_only = parse_aster_account({"api_key": spec.api_key, "secret": spec.secret, "collateral": "5"})
    assert v1_only.account_id == spec.api_key and v1_only.collateral == 5


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "needs user and signer"),
        ({"user": "0x" + "1" * 40}, "both user and signer"),
        ({"user": "0x12", "signer": "0x" + "2" * 40}, "not a 0x 20-byte hex address"),
        ({"api_key": "abc"}, "16-128 letters"),
        ({"api_key": "a" * 20}, "needs its secret"),
        ({"api_key": "a" * 20, "secret": "s", "collateral": "lots"}, "not a decimal"),
        ({"api_key": "a" * 20, "secret": "s", "collateral": "-1"}, ">= 0"),
        ({"api_key": 5}, "must be a string"),
    ],
)
def test_invalid_entries_say_why(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_aster_account(entry)


def test_a_private_key_must_belong_to_its_signer() -> None:
    one, other = generate_aster_account(), generate_aster_account()
    with pytest.raises(ValueError, match="does not belong"):
        parse_aster_account(
            {"user": one.user, "signer": one.signer, "signer_private_key": other.signer_private_key}
        )


def test_accounts_lists_refuse_duplicates_and_bad_files(tmp_path: Path) -> None:
    spec = generate_aster_account()
    with pytest.raises(ValueError, match="appears twice"):
        parse_aster_accounts([spec.to_json(), spec.to_json()])
    with pytest.raises(ValueError, match="non-empty"):
        parse_aster_accounts([])
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="not JSON"):
        load_aster_accounts(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps([spec.to_json()]))
    assert load_aster_accounts(good)[0].signer == spec.signer
