"""Paradex signing against the official paradex_typed_data vectors; the fast signer against starknet-py."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starknet_py.constants import EC_ORDER
from starknet_py.hash.utils import message_signature, private_to_stark_key, verify_message_signature

from venues.paradex.signing import (
    ORDER_FIELDS,
    REQUEST_FIELDS,
    StarkSigner,
    account_address,
    auth_hash,
    auth_message,
    chain_id_felt,
    grind_key,
    l2_private_key_from_l1,
    order_hash,
    order_message,
    parse_signature,
    quantums,
    sign_hash,
    signature_json,
    typed_data,
    verify_hash,
)

VECTORS = Path(__file__).resolve().parents[4] / "../shared/vectors/signing.json"
SUITE: dict[str, Any] = json.loads(VECTORS.read_text())["paradex_typed_data"]
CHAIN = chain_id_felt(SUITE["chain_id_string"])
# The testnet account contract hashes (/system/config) the key-derivation vector was made with.
TESTNET_PROXY_HASH = 0x3530CC4759D78042F1B543BF797F5F3D647CDE0388C33734CF91B7F7B9314A9
TESTNET_ACCOUNT_HASH = 0x41CB0280EBADAA75F996D8D92C6F265F6D040BB3BA442E5F86A554F1765244E


def test_domain_hash() -> None:
    data = typed_data(CHAIN, "Order", ORDER_FIELDS, SUITE["order_struct"]["message"])
    assert data.struct_hash("StarkNetDomain", data.domain.to_dict()) == int(SUITE["domain_hash"], 16)


def test_order_struct_hash() -> None:
    case = SUITE["order_struct"]
    data = typed_data(CHAIN, "Order", ORDER_FIELDS, case["message"])
    assert data.struct_hash("Order", data.message) == int(case["struct_hash"], 16)


def test_auth_struct_hash() -> None:
    case = SUITE["auth_struct"]
    message = auth_message(
        timestamp_s=case["message"]["timestamp"], expiration_s=case["message"]["expiration"]
    )
    assert message == case["message"]
    data = typed_data(CHAIN, "Request", REQUEST_FIELDS, message)
    assert data.struct_hash("Request", data.message) == int(case["struct_hash"], 16)


def test_order_message_hash() -> None:
    case = SUITE["order_message"]
    message = order_message(
        timestamp_ms=case["message"]["timestamp"],
        market="ETH-USD-PERP",
        side="BUY",
        order_type="MARKET",
        size=Decimal("0.1"),
        price=None,
    )
    assert message == case["message"]
    assert order_hash(CHAIN, int(case["account"], 16), message) == int(case["message_hash"], 16)


def test_auth_hash_changes_with_every_field() -> None:
    base = auth_hash(CHAIN, 1, auth_message(timestamp_s=10, expiration_s=20))
    assert auth_hash(CHAIN, 2, auth_message(timestamp_s=10, expiration_s=20)) != base
    assert auth_hash(CHAIN, 1, auth_message(timestamp_s=11, expiration_s=20)) != base
    assert auth_hash(CHAIN + 1, 1, auth_message(timestamp_s=10, expiration_s=20)) != base


def test_quantums_are_exact() -> None:
    assert quantums(Decimal("0.1")) == 10_000_000
    assert quantums(Decimal("65000.5")) == 6_500_050_000_000
    assert quantums(Decimal("0.00000001")) == 1
    with pytest.raises(ValueError):
        quantums(Decimal("0.000000001"))


def test_limit_order_message_carries_price_quantums() -> None:
    message = order_message(
        timestamp_ms=1,
        market="BTC-USD-PERP",
        side="SELL",
        order_type="LIMIT",
        size=Decimal("0.001"),
        price=Decimal("60000.1"),
    )
    assert message["side"] == "2"
    assert message["size"] == "100000"
    assert message["price"] == "6000010000000"


def test_key_derivation_vector() -> None:
    case = SUITE["key_derivation"]
    private_key = l2_private_key_from_l1(case["l1_private_key"], l1_chain_id=case["l1_chain_id"])
    assert private_key == int(case["l2_private_key"], 16)
    public = private_to_stark_key(private_key)
    assert public == int(case["l2_public_key"], 16)
    address = account_address(
        public, proxy_class_hash=TESTNET_PROXY_HASH, account_class_hash=TESTNET_ACCOUNT_HASH
    )
    assert address == int(case["account_address"], 16)


def test_grind_key_is_below_the_order() -> None:
    for seed in (0, 1, 2**255, 12345678901234567890):
        assert 0 <= grind_key(seed) < EC_ORDER


def test_signatures_equal_starknet_py_and_verify() -> None:
    rng = random.Random(7)
    for _ in range(5):
        private_key = rng.randrange(1, EC_ORDER)
        msg_hash = rng.randrange(0, 2**251)
        mine = sign_hash(msg_hash, private_key)
        assert mine == tuple(message_signature(msg_hash, private_key))
        public = private_to_stark_key(private_key)
        assert verify_message_signature(msg_hash, list(mine), public)
        assert verify_hash(msg_hash, mine, public)


def test_verify_refuses_a_wrong_key_hash_or_signature() -> None:
    signer = StarkSigner(account=1, private_key=0x1234567)
    msg_hash = order_hash(CHAIN, 1, SUITE["order_struct"]["message"])
    signature = signer.sign(msg_hash)
    assert verify_hash(msg_hash, signature, signer.public_key)
    assert not verify_hash(msg_hash + 1, signature, signer.public_key)
    assert not verify_hash(msg_hash, signature, private_to_stark_key(0x7654321))
    assert not verify_hash(msg_hash, (signature[0], signature[1] + 1), signer.public_key)
    assert not verify_hash(msg_hash, (0, signature[1]), signer.public_key)


def test_signature_wire_form_round_trips() -> None:
    signature = (123, 456)
    assert signature_json(signature) == '["123","456"]'
    assert parse_signature(signature_json(signature)) == signature
    assert parse_signature(["0x7b", "456"]) == signature
    for bad in ("", "[1]", '["a","b"]', "[true, 1]", "{}", 5):
        assert parse_signature(bad) is None


def test_signer_hides_its_key() -> None:
    signer = StarkSigner(account=0xABC, private_key=0x1234567)
    assert "1234567" not in repr(signer)
    with pytest.raises(ValueError):
        StarkSigner(account=1, private_key=0)
