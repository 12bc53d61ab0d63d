"""Aster's two request-signing generations, pure (no I/O): v1 HMAC-SHA256 and v3 EIP-712.

Both sign the exact parameter text that is sent and append ``signature`` as
the last parameter.  v1 adds ``recvWindow`` and ``timestamp`` (ms) and signs
with the account's HMAC secret; v3 adds ``nonce`` (microseconds, never reused),
``user`` and ``signer`` and signs the text as an EIP-712 ``Message{msg}`` with
the API wallet's key.  The emulator verifies with the same functions.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from eth_account.messages import SignableMessage, encode_typed_data
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils.crypto import keccak

from services.logs import register_secret

MAINNET_CHAIN_ID = 1666
TESTNET_CHAIN_ID = 714
DEFAULT_RECV_WINDOW_MS = 5000
_DOMAIN_NAME = "AsterSignTransaction"
_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_MESSAGE_TYPES = {"Message": [{"name": "msg", "type": "string"}]}
_MESSAGE_TYPE_HASH = keccak(b"Message(string msg)")

Params = Iterable[tuple[str, str]]


def param_string(params: Params) -> str:
    """``k=v&k=v`` in the given order, URL-encoded exactly as it goes on the wire."""
    return urlencode(list(params))


def hmac_signature(secret: str, payload: str) -> str:
    """v1: hex HMAC-SHA256 of ``payload`` (query string then body, nothing between) with ``secret``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def eip712_message(msg: str, *, chain_id: int = MAINNET_CHAIN_ID) -> SignableMessage:
    """v3: the typed data ``Message{msg}`` under Aster's signing domain (as eth-account encodes it)."""
    domain: dict[str, Any] = {
        "name": _DOMAIN_NAME,
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": _ZERO_ADDRESS,
    }
    return encode_typed_data(domain_data=domain, message_types=_MESSAGE_TYPES, message_data={"msg": msg})


@functools.lru_cache(maxsize=8)
def _domain_separator(chain_id: int) -> bytes:
    return bytes(eip712_message("", chain_id=chain_id).header)


def eip712_digest(msg: str, *, chain_id: int = MAINNET_CHAIN_ID) -> bytes:
    """The 32-byte EIP-712 hash a v3 signature signs: keccak(0x1901, domain, keccak(type, keccak(msg)))."""
    struct_hash = keccak(_MESSAGE_TYPE_HASH + keccak(msg.encode()))
    return keccak(b"\x19\x01" + _domain_separator(chain_id) + struct_hash)


def recover_signer(msg: str, signature_hex: str, *, chain_id: int = MAINNET_CHAIN_ID) -> str | None:
    """The address that produced ``signature_hex`` over ``msg`` (checksummed), None if malformed."""
    try:
        signature = bytes.fromhex(signature_hex.removeprefix("0x"))
    except ValueError:
        return None
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    try:
        vrs = keys.Signature(signature[:64] + bytes([signature[64] - 27]))
        public_key = vrs.recover_public_key_from_msg_hash(eip712_digest(msg, chain_id=chain_id))
    except (BadSignature, ValidationError, ValueError):
        return None
    address: str = public_key.to_checksum_address()
    return address


class HmacSigner:
    """v1 credentials: ``X-MBX-APIKEY`` plus ``timestamp``/``recvWindow`` and an HMAC signature."""

    def __init__(self, api_key: str, secret: str, *, recv_window_ms: int = DEFAULT_RECV_WINDOW_MS) -> None:
        if not api_key or not secret:
            raise ValueError("an Aster v1 key needs both the API key and its secret")
        if not 0 < recv_window_ms <= 60_000:
            raise ValueError("recv_window_ms must be in 1..60000")
        register_secret(secret)
        self.api_key = api_key
        self._secret = secret
        self.recv_window_ms = recv_window_ms

    def __repr__(self) -> str:
        return f"HmacSigner(api_key={self.api_key!r})"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-MBX-APIKEY": self.api_key}

    def sign(self, params: Params, *, now_ms: int) -> str:
        """The full parameter text to send: ``params``, ``recvWindow``, ``timestamp``, ``signature``."""
        text = param_string([*params, ("recvWindow", str(self.recv_window_ms)), ("timestamp", str(now_ms))])
        return f"{text}&signature={hmac_signature(self._secret, text)}"


class Eip712Signer:
    """v3 credentials: the main wallet ``user``, the API wallet ``signer`` and the API wallet's key."""

    def __init__(self, *, user: str, signer: str, private_key: str, chain_id: int = MAINNET_CHAIN_ID) -> None:
        register_secret(private_key)
        try:
            self._key = keys.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
        except (ValueError, ValidationError):
            raise ValueError("the Aster API wallet key is not a 32-byte hex private key") from None
        if self._key.public_key.to_checksum_address().lower() != signer.lower():
            raise ValueError(f"ASTER_SIGNER {signer} is not the address of the given private key")
        self.user = user
        self.signer = signer
        self.chain_id = chain_id
        self.last_nonce_us = 0

    def __repr__(self) -> str:
        return f"Eip712Signer(user={self.user!r}, signer={self.signer!r}, chain_id={self.chain_id})"

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def next_nonce(self, now_us: int) -> int:
        """A microsecond nonce near ``now_us``, strictly above every nonce handed out before."""
        self.last_nonce_us = max(now_us, self.last_nonce_us + 1)
        return self.last_nonce_us

    def sign_message(self, msg: str) -> str:
        """The hex EIP-712 signature (65 bytes, no 0x) of ``msg``."""
        signature = self._key.sign_msg_hash(eip712_digest(msg, chain_id=self.chain_id)).to_bytes()
        # Ethereum's recovery byte is 27 or 28 (eth_keys gives 0 or 1).
        return (signature[:64] + bytes([signature[64] + 27])).hex()

    def sign(self, params: Params, *, now_ms: int, nonce_us: int | None = None) -> str:
        """The full parameter text to send: ``params``, ``nonce``, ``user``, ``signer``, ``signature``.

        ``nonce_us`` reuses a nonce handed out before (``noop`` kills the request that used it).  The
        signature goes ``0x``-prefixed, as the venue's demos and the official SDKs send it.
        """
        nonce = self.next_nonce(now_ms * 1000) if nonce_us is None else nonce_us
        text = param_string([*params, ("nonce", str(nonce)), ("user", self.user), ("signer", self.signer)])
        return f"{text}&signature=0x{self.sign_message(text)}"


Signer = HmacSigner | Eip712Signer
