"""Paradex's Starknet signing: typed-data hashes, STARK-curve ECDSA, key derivation (pure, no I/O).

Messages are SNIP-12 (v0) typed data in the ``StarkNetDomain{name:"Paradex",
chainId, version:"1"}`` domain, hashed by starknet-py's ``TypedData``.  The
chain id is the ASCII bytes of ``starknet_chain_id`` (``/system/config``) read
as one felt.  Sizes and prices are signed as integers of 1e-8 units, computed
exactly from ``Decimal``.

Signing produces the same (r, s) as starknet-py's ``message_signature`` (RFC
6979 nonce, seed 32) but multiplies on a precomputed generator table, which is
about 300 times faster than the C++ binding's signer (70 ms a signature).
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from typing import Any

from ecdsa.ellipticcurve import CurveFp, PointJacobi
from ecdsa.rfc6979 import generate_k
from eth_account import Account
from eth_account.messages import encode_typed_data
from starknet_py.constants import EC_ORDER, FIELD_PRIME
from starknet_py.hash.address import compute_address
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.hash.utils import private_to_stark_key, verify_message_signature
from starknet_py.utils.typed_data import TypedData

QUANTUM = 8  # sizes and prices are signed in units of 1e-8
_ELEMENT_BITS = 251
_ALPHA = 1
_BETA = 0x6F21413EFBE40DE150E596D72F7A8C5609AD26C15C915C1F4CDFCB99CEE9E89
_GX = 0x1EF15C18599971B7BECED415A40F0C7DEACFD9B0D1819E03D723D8BC943CFCA
_GY = 0x5668060AA49730B7BE4801DF46EC62DE53ECD11ABE43A32873000C36E8DC1F
_GENERATOR = PointJacobi(CurveFp(FIELD_PRIME, _ALPHA, _BETA), _GX, _GY, 1, EC_ORDER, generator=True)
_DOMAIN_TYPE = [
    {"name": "name", "type": "felt"},
    {"name": "chainId", "type": "felt"},
    {"name": "version", "type": "felt"},
]
ORDER_FIELDS = ("timestamp", "market", "side", "orderType", "size", "price")
REQUEST_FIELDS = ("method", "path", "body", "timestamp", "expiration")
SIDE_CODE = {"BUY": "1", "SELL": "2"}
Signature = tuple[int, int]


def chain_id_felt(starknet_chain_id: str) -> int:
    """``starknet_chain_id`` (e.g. 'PRIVATE_SN_PARACLEAR_MAINNET') as the felt the domain carries."""
    return int.from_bytes(starknet_chain_id.encode("ascii"), "big")


def quantums(value: Decimal) -> int:
    """``value`` in 1e-8 units, exactly; ``ValueError`` when it has more than 8 decimals."""
    scaled = value.scaleb(QUANTUM)
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {QUANTUM} decimals")
    return int(scaled)


def typed_data(
    chain_id: int, primary_type: str, fields: tuple[str, ...], message: dict[str, Any]
) -> TypedData:
    """A Paradex typed-data message whose fields are all felts."""
    data: Any = {
        "domain": {"name": "Paradex", "chainId": hex(chain_id), "version": "1"},
        "primaryType": primary_type,
        "types": {
            "StarkNetDomain": _DOMAIN_TYPE,
            primary_type: [{"name": name, "type": "felt"} for name in fields],
        },
        "message": message,
    }
    return TypedData.from_dict(data)


def order_message(
    *, timestamp_ms: int, market: str, side: str, order_type: str, size: Decimal, price: Decimal | None
) -> dict[str, Any]:
    """The signed ``Order`` fields: side '1' buy / '2' sell, size and price in 1e-8 units ('0': market)."""
    return {
        "timestamp": timestamp_ms,
        "market": market,
        "side": SIDE_CODE[side],
        "orderType": order_type,
        "size": str(quantums(size)),
        "price": str(quantums(price)) if price is not None else "0",
    }


def order_hash(chain_id: int, account: int, message: dict[str, Any]) -> int:
    return typed_data(chain_id, "Order", ORDER_FIELDS, message).message_hash(account)


def auth_message(*, timestamp_s: int, expiration_s: int) -> dict[str, Any]:
    """The ``Request`` that ``POST /v1/auth`` signs."""
    return {
        "method": "POST",
        "path": "/v1/auth",
        "body": "",
        "timestamp": timestamp_s,
        "expiration": expiration_s,
    }


def auth_hash(chain_id: int, account: int, message: dict[str, Any]) -> int:
    return typed_data(chain_id, "Request", REQUEST_FIELDS, message).message_hash(account)


def sign_hash(msg_hash: int, private_key: int, *, seed: int = 32) -> Signature:
    """STARK-curve ECDSA of ``msg_hash`` (below 2**251): (r, s), deterministic per RFC 6979."""
    if not 0 <= msg_hash < 2**_ELEMENT_BITS:
        raise ValueError("message hash out of range")
    if not 0 < private_key < EC_ORDER:
        raise ValueError("private key out of range")
    padded = msg_hash
    # The nonce pads a hash one nibble short, for consistency with elliptic.js (as starknet does).
    if 1 <= padded.bit_length() % 8 <= 4 and padded.bit_length() >= 248:
        padded *= 16
    while True:
        k = generate_k(
            EC_ORDER,
            private_key,
            hashlib.sha256,
            padded.to_bytes(math.ceil(padded.bit_length() / 8), "big"),
            extra_entropy=seed.to_bytes(math.ceil(seed.bit_length() / 8), "big"),
        )
        seed += 1
        r = (_GENERATOR * k).x()
        if not 1 <= r < 2**_ELEMENT_BITS:
            continue
        total = (msg_hash + r * private_key) % EC_ORDER
        if total == 0:
            continue
        w = k * pow(total, -1, EC_ORDER) % EC_ORDER
        if not 1 <= w < 2**_ELEMENT_BITS:
            continue
        return r, pow(w, -1, EC_ORDER)


def verify_hash(msg_hash: int, signature: Signature, public_key: int) -> bool:
    """True when ``signature`` is ``public_key``'s ECDSA signature of ``msg_hash``."""
    r, s = signature
    if not (1 <= r < 2**_ELEMENT_BITS and 1 <= s < EC_ORDER):
        return False
    try:
        return verify_message_signature(msg_hash, [r, s], public_key)
    except (ValueError, ZeroDivisionError):
        return False


def signature_json(signature: Signature) -> str:
    """The wire form, a JSON array of decimal strings: '["r","s"]'."""
    return f'["{signature[0]}","{signature[1]}"]'


def parse_signature(text: Any) -> Signature | None:
    """``'["r","s"]'`` (or a two-item list) as integers; None when malformed."""
    raw = text
    if isinstance(text, str):
        try:
            raw = json.loads(text)
        except ValueError:
            return None
    if not isinstance(raw, list) or len(raw) != 2 or any(isinstance(item, bool) for item in raw):
        return None
    try:
        r, s = (int(item, 0) if isinstance(item, str) else int(item) for item in raw)
    except (TypeError, ValueError):
        return None
    return r, s


def public_key(private_key: int) -> int:
    return private_to_stark_key(private_key)


class StarkSigner:
    """An account's L2 key: signs typed-data hashes for that account address."""

    __slots__ = ("_private_key", "account", "public_key")

    def __init__(self, *, account: int, private_key: int) -> None:
        if not 0 < private_key < EC_ORDER:
            raise ValueError("the L2 private key is out of the STARK curve's range")
        self.account = account
        self._private_key = private_key
        self.public_key = private_to_stark_key(private_key)

    def __repr__(self) -> str:
        return f"StarkSigner(account={hex(self.account)}, public_key={hex(self.public_key)})"

    def sign(self, msg_hash: int) -> Signature:
        return sign_hash(msg_hash, self._private_key)


# ---------------------------------------------------------------- keys from an Ethereum key


def stark_key_message(l1_chain_id: int) -> dict[str, Any]:
    """The EIP-712 message an Ethereum key signs to derive its Paradex key."""
    return {
        "domain": {"name": "Paradex", "chainId": l1_chain_id, "version": "1"},
        "primaryType": "Constant",
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "Constant": [{"name": "action", "type": "string"}],
        },
        "message": {"action": "STARK Key"},
    }


def grind_key(key_seed: int) -> int:
    """StarkWare's key grinding: SHA-256 of (seed, index) until below the largest multiple of the order."""
    limit = 2**256 - (2**256 % EC_ORDER)
    index = 0
    while True:
        key = int.from_bytes(hashlib.sha256(_even_hex(key_seed) + _even_hex(index)).digest(), "big")
        if key < limit:
            return key % EC_ORDER
        index += 1


def _even_hex(value: int) -> bytes:
    text = format(value, "x")
    return bytes.fromhex(text if len(text) % 2 == 0 else "0" + text)


def l2_private_key_from_l1(l1_private_key: str, *, l1_chain_id: int) -> int:
    """The Paradex L2 key of an Ethereum key: the ``r`` of its 'STARK Key' signature, ground."""
    signed = Account.sign_message(
        encode_typed_data(full_message=stark_key_message(l1_chain_id)), l1_private_key
    )
    return grind_key(signed.r)


def account_address(l2_public_key: int, *, proxy_class_hash: int, account_class_hash: int) -> int:
    """The address of the Paradex account contract of ``l2_public_key`` (``/system/config`` hashes)."""
    calldata = [account_class_hash, get_selector_from_name("initialize"), 2, l2_public_key, 0]
    return compute_address(class_hash=proxy_class_hash, constructor_calldata=calldata, salt=l2_public_key)
