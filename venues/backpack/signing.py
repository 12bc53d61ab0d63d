"""Backpack request signing: ED25519 over the instruction string (VENUES.md, Backpack auth).

The signed text is ``instruction=<name>`` then the body or query keys sorted
alphabetically as ``&k=v``, then ``&timestamp=<ms>&window=<ms>``.  Booleans are
``true``/``false``.  A batch joins one ``instruction=...`` segment per item
and appends the timestamp and window once.  Used by the connector to sign and
by the emulator to verify, so both read the same rule.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from venues.precision import fmt


def param_text(value: Any) -> str:
    """A parameter value as it appears in the signed string and on the wire."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return fmt(value)
    return str(value)


def _segment(instruction: str, params: Mapping[str, Any]) -> str:
    parts = [f"instruction={instruction}"]
    parts.extend(f"{key}={param_text(params[key])}" for key in sorted(params) if params[key] is not None)
    return "&".join(parts)


def signing_string(instruction: str, params: Mapping[str, Any], *, timestamp_ms: int, window_ms: int) -> str:
    return f"{_segment(instruction, params)}&timestamp={timestamp_ms}&window={window_ms}"


def batch_signing_string(
    instruction: str, items: Sequence[Mapping[str, Any]], *, timestamp_ms: int, window_ms: int
) -> str:
    segments = "&".join(_segment(instruction, item) for item in items)
    return f"{segments}&timestamp={timestamp_ms}&window={window_ms}"


class Signer:
    """Holds the ED25519 seed; ``repr`` never shows it."""

    def __init__(self, secret_b64: str) -> None:
        try:
            seed = base64.b64decode(secret_b64, validate=True)
        except binascii.Error:
            raise ValueError("Backpack secret is not valid base64") from None
        if len(seed) != 32:
            raise ValueError(f"Backpack secret must be a base64 32-byte ED25519 seed, got {len(seed)} bytes")
        self._key = SigningKey(seed)
        self.api_key = base64.b64encode(bytes(self._key.verify_key)).decode()

    def __repr__(self) -> str:
        return f"Signer(api_key={self.api_key!r})"

    def sign(self, text: str) -> str:
        return base64.b64encode(self._key.sign(text.encode()).signature).decode()


def verify(api_key_b64: str, text: str, signature_b64: str) -> bool:
    """True when ``signature_b64`` is the key's ED25519 signature of ``text``."""
    try:
        VerifyKey(base64.b64decode(api_key_b64, validate=True)).verify(
            text.encode(), base64.b64decode(signature_b64, validate=True)
        )
    except (BadSignatureError, binascii.Error, ValueError):
        return False
    return True
