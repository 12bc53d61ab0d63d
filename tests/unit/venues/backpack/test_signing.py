"""Backpack signing against every backpack_ed25519 vector in the shared signing.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from venues.backpack.signing import Signer, batch_signing_string, param_text, signing_string, verify

VECTORS = Path(__file__).resolve().parents[4] / "../shared/vectors/signing.json"
SUITE: dict[str, Any] = json.loads(VECTORS.read_text())["backpack_ed25519"]
CASES: list[dict[str, Any]] = SUITE["cases"]


def test_the_suite_has_cases() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=[case["instruction"] for case in CASES])
def test_signing_string_matches_vector(case: dict[str, Any]) -> None:
    text = signing_string(
        case["instruction"], case["params"], timestamp_ms=case["timestamp"], window_ms=case["window"]
    )
    assert text == case["signing_string"]


@pytest.mark.parametrize("case", CASES, ids=[case["instruction"] for case in CASES])
def test_signature_matches_vector(case: dict[str, Any]) -> None:
    signer = Signer(SUITE["secret_b64"])
    assert signer.api_key == SUITE["api_key_b64"]
    assert signer.sign(case["signing_string"]) == case["signature_b64"]
    assert verify(SUITE["api_key_b64"], case["signing_string"], case["signature_b64"])


def test_verify_refuses_a_changed_text_or_garbage() -> None:
    case = CASES[0]
    assert not verify(SUITE["api_key_b64"], case["signing_string"] + "x", case["signature_b64"])
    assert not verify(SUITE["api_key_b64"], case["signing_string"], "not base64!")


def test_booleans_and_none_in_the_signed_text() -> None:
    text = signing_string(
        "orderExecute", {"postOnly": True, "reduceOnly": False, "price": None}, timestamp_ms=1, window_ms=2
    )
    assert text == "instruction=orderExecute&postOnly=true&reduceOnly=false&timestamp=1&window=2"
    assert param_text(False) == "false"


def test_batch_repeats_the_instruction_per_item() -> None:
    text = batch_signing_string("orderExecute", [{"b": 1, "a": 2}, {"c": 3}], timestamp_ms=5, window_ms=6)
    assert text == "instruction=orderExecute&a=2&b=1&instruction=orderExecute&c=3&timestamp=5&window=6"


def test_signer_repr_hides_the_secret_and_bad_secrets_are_refused() -> None:
    signer = Signer(SUITE["secret_b64"])
    assert SUITE["secret_b64"] not in repr(signer)
    with pytest.raises(ValueError, match="base64"):
        Signer("not base64!")
    with pytest.raises(ValueError, match="32-byte"):
        Signer("AAAA")
