"""AsterVenue construction: credentials to signers, secrets out of reprs, dead-man switch arguments."""

from __future__ import annotations

import pytest

from services.secrets import AsterV1Credentials, AsterV3Credentials, Secret
from venues.aster.signing import Eip712Signer, HmacSigner
from venues.aster.venue import AsterVenue, make_signer
from venues.base import AuthError, DeadManSwitch

KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
SIGNER = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"


def test_credentials_choose_the_generation() -> None:
    v3 = make_signer(AsterV3Credentials(USER, SIGNER, Secret(KEY)), chain_id=714)
    assert isinstance(v3, Eip712Signer) and v3.chain_id == 714 and v3.user == USER
    v1 = make_signer(AsterV1Credentials("apikey123", Secret("secret-of-the-key")), recv_window_ms=3000)
    assert isinstance(v1, HmacSigner) and v1.recv_window_ms == 3000
    assert make_signer(None) is None
    assert make_signer(v1) is v1


async def test_repr_hides_secrets_and_public_venue_has_no_private_stream() -> None:
    venue = AsterVenue(credentials=AsterV3Credentials(USER, SIGNER, Secret(KEY)))
    public = AsterVenue(api_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9")
    try:
        assert KEY[2:] not in repr(venue) and SIGNER in repr(venue)
        assert isinstance(venue, DeadManSwitch)
        with pytest.raises(ValueError):
            await venue.arm("SOLUSDT", timeout_s=0)
        with pytest.raises(AuthError):
            public.private_stream("SOLUSDT")
    finally:
        await venue.close()
        await public.close()


def test_a_malformed_ws_url_is_a_configuration_error() -> None:
    with pytest.raises(Exception, match="ws"):
        AsterVenue(ws_url="not a url")
