"""Paradex emulator accounts: ``{"account_address", "l2_private_key", "collateral"}`` entries.

The emulator keys an account by its address (canonical lowercase hex) and
derives the public key it verifies signatures with from ``l2_private_key``.
A generated account gets a fresh STARK key and the address Paradex would give
it (the account contract of the emulator's ``/system/config`` class hashes).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from starknet_py.constants import EC_ORDER

from venues.emulator.credentials import DEFAULT_COLLATERAL, AccountSpec, write_owner_only_json
from venues.emulator.paradex_auth import address_key
from venues.emulator.paradex_public import ACCOUNT_CLASS_HASH, PROXY_CLASS_HASH
from venues.paradex.signing import account_address, public_key
from venues.precision import fmt


def parse_paradex_account(raw: Any) -> AccountSpec:
    """One entry, validated; ``ValueError`` says what is wrong (never echoing the key)."""
    if not isinstance(raw, Mapping):
        raise ValueError("an account must be a JSON object")
    address = address_key(raw.get("account_address"))
    if address is None:
        raise ValueError("account_address must be a 0x hex address")
    key_text = raw.get("l2_private_key")
    try:
        key = int(key_text, 16) if isinstance(key_text, str) and key_text.lower().startswith("0x") else 0
    except ValueError:
        key = 0
    if not 0 < key < EC_ORDER:
        raise ValueError(f"l2_private_key of {address} must be a 0x hex STARK private key")
    try:
        collateral = Decimal(str(raw.get("collateral", DEFAULT_COLLATERAL)))
    except InvalidOperation:
        raise ValueError(f"collateral of {address} is not a decimal") from None
    if not collateral.is_finite() or collateral < 0:
        raise ValueError(f"collateral of {address} must be a finite amount >= 0")
    return AccountSpec(api_key=address, secret=hex(key), collateral=collateral)


def load_paradex_accounts(path: Path) -> list[AccountSpec]:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(raw, list) or not raw:
        raise ValueError("accounts must be a non-empty JSON list")
    specs = [parse_paradex_account(entry) for entry in raw]
    if len({spec.api_key for spec in specs}) != len(specs):
        raise ValueError("an account_address appears twice in the accounts")
    return specs


def generate_paradex_account(*, collateral: Decimal = DEFAULT_COLLATERAL) -> AccountSpec:
    """A fresh STARK key and its Paradex account address."""
    key = secrets.randbelow(EC_ORDER - 1) + 1
    address = account_address(
        public_key(key),
        proxy_class_hash=int(PROXY_CLASS_HASH, 16),
        account_class_hash=int(ACCOUNT_CLASS_HASH, 16),
    )
    return AccountSpec(api_key=hex(address), secret=hex(key), collateral=collateral)


def paradex_account_json(spec: AccountSpec) -> dict[str, str]:
    if spec.secret is None:
        raise ValueError(f"account {spec.api_key} has no L2 private key to write")
    return {
        "account_address": spec.api_key,
        "l2_private_key": spec.secret,
        "collateral": fmt(spec.collateral),
    }


def write_paradex_accounts(path: Path, specs: list[AccountSpec]) -> None:
    """Write the accounts (keys included) readable by the owner only."""
    write_owner_only_json(path, [paradex_account_json(spec) for spec in specs])
