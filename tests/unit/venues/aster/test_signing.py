"""Aster signing against the aster_v1_hmac and aster_v3_eip712 vectors in the shared signing.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from venues.aster.signing import (
    TESTNET_CHAIN_ID,
    Eip712Signer,
    HmacSigner,
    eip712_digest,
    hmac_signature,
    recover_signer,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[4] / "../shared/vectors/signing.json").read_text()
)
V1: dict[str, Any] = VECTORS["aster_v1_hmac"]
V3: dict[str, Any] = VECTORS["aster_v3_eip712"]


def v3_signer(**options: Any) -> Eip712Signer:
    return Eip712Signer(user=V3["user"], signer=V3["signer"], private_key=V3["signer_private_key"], **options)


def test_v1_hmac_vector() -> None:
    assert hmac_signature(V1["secret"], V1["total_params"]) == V1["signature_hex"]


def test_v1_signer_appends_window_timestamp_and_signature_last() -> None:
    signer = HmacSigner("key", V1["secret"], recv_window_ms=5000)
    params = [(k, v) for k, v in parse_qsl(V1["total_params"]) if k not in ("recvWindow", "timestamp")]
    text = signer.sign(params, now_ms=1591702613943)
    assert text == f"{V1['total_params']}&signature={V1['signature_hex']}"
    assert signer.headers == {"X-MBX-APIKEY": "key"}
    assert V1["secret"] not in repr(signer)


def test_v3_digest_vector_mainnet_and_testnet() -> None:
    assert eip712_digest(V3["msg"]).hex() == V3["digest_hex"]
    assert eip712_digest(V3["msg"], chain_id=TESTNET_CHAIN_ID).hex() == V3["testnet_digest_hex"]


def test_v3_signature_vector_and_recovery() -> None:
    signer = v3_signer()
    assert signer.sign_message(V3["msg"]) == V3["signature_hex"]
    assert recover_signer(V3["msg"], V3["signature_hex"]) == V3["signer"]
    assert recover_signer(V3["msg"], "0x" + V3["signature_hex"]) == V3["signer"]
    # The same signature over other bytes, or on the other chain, recovers someone else.
    assert recover_signer(V3["msg"] + "&x=1", V3["signature_hex"]) != V3["signer"]
    assert recover_signer(V3["msg"], V3["signature_hex"], chain_id=TESTNET_CHAIN_ID) != V3["signer"]
    assert recover_signer(V3["msg"], "zz") is None
    assert recover_signer(V3["msg"], "00" * 65) is None
    assert recover_signer(V3["msg"], "00" * 64 + "1b") is None  # r = s = 0: no such point
    assert recover_signer(V3["msg"], "ff" * 64 + "1c") is None  # r, s beyond the curve order


def test_v3_signer_signs_the_exact_text_it_sends() -> None:
    signer = v3_signer()
    params = [("symbol", "ASTERUSDT"), ("type", "LIMIT"), ("side", "BUY"), ("timeInForce", "GTC")]
    params += [("quantity", "20"), ("price", "0.5")]
    text = signer.sign(params, now_ms=1748310859508)
    body, _, signature = text.rpartition("&signature=")
    assert signature.startswith("0x")  # as the venue's demos and the official SDKs send it
    assert body.startswith("symbol=ASTERUSDT&type=LIMIT")
    assert dict(parse_qsl(body))["nonce"] == "1748310859508000"
    assert recover_signer(body, signature) == V3["signer"]
    assert V3["signer_private_key"] not in repr(signer)


def test_v3_nonce_never_repeats_even_when_the_clock_stalls_or_steps_back() -> None:
    signer = v3_signer()
    nonces = [signer.next_nonce(1_000_000), signer.next_nonce(1_000_000), signer.next_nonce(999_000)]
    assert nonces == [1_000_000, 1_000_001, 1_000_002]
    assert signer.next_nonce(2_000_000) == 2_000_000


def test_v3_signer_must_match_its_key() -> None:
    with pytest.raises(ValueError, match="not the address"):
        Eip712Signer(user=V3["user"], signer=V3["user"], private_key=V3["signer_private_key"])
    with pytest.raises(ValueError, match="32-byte hex private key"):
        Eip712Signer(user=V3["user"], signer=V3["signer"], private_key="0x1234")
