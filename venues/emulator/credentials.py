"""Emulator accounts: load them from a JSON file, generate one, write one owner-only.

An accounts file is a JSON list of ``{"api_key", "secret", "collateral"}``:
``api_key`` the base64 ED25519 public key, ``secret`` the base64 32-byte seed
(optional for the emulator, which only verifies; checked against the key when
given), ``collateral`` a decimal string in quote currency (default 10000).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from venues.backpack.signing import Signer
from venues.precision import fmt

DEFAULT_COLLATERAL = Decimal(10_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSpec:
    api_key: str
    secret: str | None = None
    collateral: Decimal = DEFAULT_COLLATERAL

    def __repr__(self) -> str:
        return f"AccountSpec(api_key={self.api_key!r}, collateral={fmt(self.collateral)})"

    def to_json(self) -> dict[str, str]:
        out = {"api_key": self.api_key, "collateral": fmt(self.collateral)}
        if self.secret is not None:
            out["secret"] = self.secret
        return out


def parse_account(raw: Any) -> AccountSpec:
    """One account entry, validated; ``ValueError`` says what is wrong (never echoing the secret)."""
    if isinstance(raw, AccountSpec):
        return raw
    if not isinstance(raw, Mapping):
        raise ValueError("an account must be a JSON object")
    api_key = raw.get("api_key")
    if not isinstance(api_key, str):
        raise ValueError("account api_key must be a string")
    try:
        key_bytes = base64.b64decode(api_key, validate=True)
    except binascii.Error:
        raise ValueError(f"account api_key {api_key!r} is not base64") from None
    if len(key_bytes) != 32:
        raise ValueError(f"account api_key {api_key!r} is not a 32-byte ED25519 public key")
    secret = raw.get("secret")
    if secret is not None:
        if not isinstance(secret, str):
            raise ValueError(f"secret of {api_key!r} must be a string")
        if Signer(secret).api_key != api_key:
            raise ValueError(f"secret of {api_key!r} does not belong to that api_key")
    try:
        collateral = Decimal(str(raw.get("collateral", DEFAULT_COLLATERAL)))
    except InvalidOperation:
        raise ValueError(f"collateral of {api_key!r} is not a decimal") from None
    if not collateral.is_finite() or collateral < 0:
        raise ValueError(f"collateral of {api_key!r} must be a finite amount >= 0")
    return AccountSpec(api_key=api_key, secret=secret, collateral=collateral)


def parse_accounts(raw: Any) -> list[AccountSpec]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("accounts must be a non-empty JSON list")
    specs = [parse_account(entry) for entry in raw]
    keys = [spec.api_key for spec in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("an api_key appears twice in the accounts")
    return specs


def load_accounts(path: Path) -> list[AccountSpec]:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    return parse_accounts(raw)


def generate_account(*, collateral: Decimal = DEFAULT_COLLATERAL) -> AccountSpec:
    """A fresh ED25519 key pair as an emulator account."""
    seed = bytes(SigningKey.generate())
    secret = base64.b64encode(seed).decode()
    return AccountSpec(api_key=Signer(secret).api_key, secret=secret, collateral=collateral)


def write_accounts(path: Path, specs: list[AccountSpec]) -> None:
    """Write the accounts (secrets included) readable by the owner only, replacing any file there."""
    write_owner_only_json(path, [spec.to_json() for spec in specs])


def write_owner_only_json(path: Path, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` as JSON readable by the owner only, replacing any file there.

    The file is written beside the target with mode 0600 and renamed over it,
    so no reader ever sees it partial or with looser permissions; a symlink or
    non-regular file at ``path`` is refused rather than followed.
    """
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ValueError(f"refusing to write accounts over {path}: not a regular file")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # exactly 0600 whatever the umask took away
        with os.fdopen(descriptor, "w") as handle:
            json.dump(rows, handle, indent=2)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
