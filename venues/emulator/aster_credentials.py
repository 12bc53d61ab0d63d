"""Aster emulator accounts: v3 API wallets and/or v1 HMAC keys, from a JSON file or generated.

An accounts file is a JSON list of objects with ``user``, ``signer`` and
``signer_private_key`` (v3: the main wallet, the API wallet and its key; the
key is optional for the emulator, which recovers signers, and checked against
``signer`` when given), and/or ``api_key`` and ``secret`` (v1: the emulator
needs the HMAC secret to verify), and ``collateral`` (default 10000 USDT).
The engine knows each account by ``user`` (lower-case), else by ``api_key``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from eth_account import Account

from venues.emulator.credentials import DEFAULT_COLLATERAL, AccountSpec
from venues.precision import fmt

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_API_KEY = re.compile(r"[A-Za-z0-9]{16,128}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AsterAccountSpec:
    user: str | None = None
    signer: str | None = None
    signer_private_key: str | None = None
    api_key: str | None = None
    secret: str | None = None
    collateral: Decimal = DEFAULT_COLLATERAL

    def __repr__(self) -> str:
        return f"AsterAccountSpec(account_id={self.account_id!r}, collateral={fmt(self.collateral)})"

    @property
    def account_id(self) -> str:
        """The engine's name for the account: the main wallet, else the v1 API key."""
        if self.user is not None:
            return self.user.lower()
        assert self.api_key is not None
        return self.api_key

    def engine_account(self) -> AccountSpec:
        """The venue-neutral account the emulator core opens for it."""
        return AccountSpec(api_key=self.account_id, collateral=self.collateral)

    def to_json(self) -> dict[str, str]:
        out = {
            name: value
            for name in ("user", "signer", "signer_private_key", "api_key", "secret")
            if (value := getattr(self, name)) is not None
        }
        return out | {"collateral": fmt(self.collateral)}


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"account {name} must be a string")
    return value


def parse_aster_account(raw: Any) -> AsterAccountSpec:
    """One account entry, validated; ``ValueError`` says what is wrong (never echoing a secret)."""
    if isinstance(raw, AsterAccountSpec):
        return raw
    if not isinstance(raw, Mapping):
        raise ValueError("an account must be a JSON object")
    user, signer, key = _text(raw, "user"), _text(raw, "signer"), _text(raw, "signer_private_key")
    api_key, secret = _text(raw, "api_key"), _text(raw, "secret")
    if (user is None) != (signer is None):
        raise ValueError("a v3 account needs both user and signer")
    if user is None and api_key is None:
        raise ValueError("an Aster account needs user and signer (v3) and/or api_key and secret (v1)")
    for name, address in (("user", user), ("signer", signer)):
        if address is not None and not _ADDRESS.fullmatch(address):
            raise ValueError(f"account {name} {address!r} is not a 0x 20-byte hex address")
    if key is not None:
        try:
            derived = Account.from_key(key).address
        except (ValueError, TypeError):
            raise ValueError(f"signer_private_key of {signer} is not a private key") from None
        if signer is None or derived.lower() != signer.lower():
            raise ValueError(f"signer_private_key does not belong to signer {signer}")
    if api_key is not None:
        if not _API_KEY.fullmatch(api_key):
            raise ValueError(f"account api_key {api_key!r} must be 16-128 letters and digits")
        if not secret:
            raise ValueError(f"api_key {api_key!r} needs its secret (the emulator verifies HMAC with it)")
    try:
        collateral = Decimal(str(raw.get("collateral", DEFAULT_COLLATERAL)))
    except InvalidOperation:
        raise ValueError("account collateral is not a decimal") from None
    if not collateral.is_finite() or collateral < 0:
        raise ValueError("account collateral must be a finite amount >= 0")
    return AsterAccountSpec(
        user=user,
        signer=signer,
        signer_private_key=key,
        api_key=api_key,
        secret=secret,
        collateral=collateral,
    )


def parse_aster_accounts(raw: Any) -> list[AsterAccountSpec]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("accounts must be a non-empty JSON list")
    specs = [parse_aster_account(entry) for entry in raw]
    names = [spec.account_id for spec in specs]
    signers = [spec.signer.lower() for spec in specs if spec.signer]
    keys = [spec.api_key for spec in specs if spec.api_key]
    for what, values in (("account", names), ("signer", signers), ("api_key", keys)):
        if len(set(values)) != len(values):
            raise ValueError(f"an {what} appears twice in the accounts")
    return specs


def load_aster_accounts(path: Path) -> list[AsterAccountSpec]:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    return parse_aster_accounts(raw)


def generate_aster_account(*, collateral: Decimal = DEFAULT_COLLATERAL) -> AsterAccountSpec:
    """A fresh account with both generations: a main wallet, an API wallet and key, and an HMAC key."""
    wallet = Account.create()
    api_wallet = Account.create()
    return AsterAccountSpec(
        user=wallet.address,
        signer=api_wallet.address,
        signer_private_key="0x" + bytes(api_wallet.key).hex(),
        api_key=secrets.token_hex(32),
        secret=secrets.token_hex(32),
        collateral=collateral,
    )
