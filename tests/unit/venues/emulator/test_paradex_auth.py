"""The emulator's Paradex JWTs: issued for a lifetime on the emulator's clock, tamper-proof, per account."""

from __future__ import annotations

import pytest

from venues.emulator.catalog import select_markets
from venues.emulator.core import EmulatorConfig, EmulatorCore
from venues.emulator.faults import FaultSpec
from venues.emulator.paradex_accounts import generate_paradex_account
from venues.emulator.paradex_auth import ParadexAuth, address_key
from venues.paradex.signing import public_key


def _auth(lifetime_s: float) -> tuple[EmulatorCore, ParadexAuth, str]:
    account = generate_paradex_account()
    core = EmulatorCore(EmulatorConfig(profiles=tuple(select_markets(["BTC-USD-PERP"])), accounts=(account,)))
    return core, ParadexAuth(core, jwt_lifetime_s=lifetime_s), account.api_key


def test_a_token_lives_its_lifetime_on_the_emulator_clock() -> None:
    core, auth, account = _auth(20)
    token = auth.issue(account)
    found = auth.bearer(token)
    assert found is not None and found.account == account
    assert found.expires_s - core.now_ms() // 1000 in (19, 20)
    core.apply_faults(FaultSpec(clock_offset_ms=19_000))
    assert auth.bearer(token) is not None
    core.apply_faults(FaultSpec(clock_offset_ms=21_000))
    assert auth.bearer(token) is None


def test_tokens_cannot_be_forged_or_moved() -> None:
    _, auth, account = _auth(300)
    head, body, mac = auth.issue(account).split(".")
    assert auth.bearer(f"{head}.{body}.{mac[:-2]}AA") is None
    other = _auth(300)[1]
    assert other.bearer(f"{head}.{body}.{mac}") is None  # another emulator's key
    assert auth.bearer("garbage") is None
    assert auth.bearer("a.b.c") is None
    assert auth.bearer(auth.issue("0x1")) is None  # not an account of this emulator


def test_public_keys_come_from_the_accounts() -> None:
    core, auth, account = _auth(300)
    secret = core.config.accounts[0].secret
    assert secret is not None and auth.public_keys == {account: public_key(int(secret, 16))}


def test_address_key_is_canonical() -> None:
    assert address_key("0x000ABC") == "0xabc"
    assert address_key("abc") is None
    assert address_key("0xnothex") is None
    assert address_key(None) is None


def test_lifetimes_are_whole_seconds() -> None:
    core, _, _ = _auth(300)
    with pytest.raises(ValueError, match="at least 1"):
        ParadexAuth(core, jwt_lifetime_s=0.5)
