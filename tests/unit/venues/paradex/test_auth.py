"""The JWT keeper on a controlled clock: refresh points, in-line refresh, merged refreshes, 401 recovery."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from venues.base import Unavailable
from venues.paradex.auth import JwtKeeper, token_times


def _token(number: int, *, lifetime_s: int = 300) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"iat": 1000, "exp": 1000 + lifetime_s}).encode())
    return f"h.{claims.rstrip(b'=').decode()}.{number}"


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


class Issuer:
    """Hands out numbered tokens; ``fail`` makes the next fetch raise."""

    def __init__(self, *, lifetime_s: int = 300) -> None:
        self.count = 0
        self.lifetime_s = lifetime_s
        self.fail = False

    async def __call__(self) -> str:
        await asyncio.sleep(0)
        if self.fail:
            self.fail = False
            raise Unavailable("auth is down")
        self.count += 1
        return _token(self.count, lifetime_s=self.lifetime_s)


def test_token_times_follow_the_claims() -> None:
    times = token_times(_token(1, lifetime_s=20), received_at_s=100.0, refresh_fraction=0.6)
    assert times.refresh_at_s == pytest.approx(112.0)
    assert times.unusable_at_s == pytest.approx(118.0)
    fallback = token_times("opaque", received_at_s=0.0, refresh_fraction=0.6)
    assert fallback.refresh_at_s == pytest.approx(180.0)


async def test_token_is_reused_until_its_refresh_point() -> None:
    clock, issuer = Clock(), Issuer()
    keeper = JwtKeeper(issuer, clock=clock)
    try:
        first = await keeper.token()
        clock.now_s = 179.0
        assert await keeper.token() == first
        clock.now_s = 181.0  # past 60% of 300 s: refreshed in line even if the background lags
        second = await keeper.token()
        assert second != first and keeper.version == 2
    finally:
        await keeper.close()


async def test_concurrent_refreshes_of_one_stale_token_fetch_once() -> None:
    clock, issuer = Clock(), Issuer()
    keeper = JwtKeeper(issuer, clock=clock)
    try:
        stale = await keeper.token()
        fresh = await asyncio.gather(*(keeper.refresh(stale=stale) for _ in range(5)))
        assert len(set(fresh)) == 1 and fresh[0] != stale
        # The background task may have taken one more right after start; the five merged into one.
        assert keeper.version <= 3
        refused = fresh[0]
        newer = await keeper.refresh(stale=refused)  # a 401 on the current token forces a new one
        assert newer not in (stale, refused)
    finally:
        await keeper.close()


async def test_background_refresh_before_expiry_and_retry_after_failure() -> None:
    issuer = Issuer(lifetime_s=1)
    keeper = JwtKeeper(issuer, refresh_fraction=0.5, retry_s=0.05)
    try:
        await keeper.token()
        version = keeper.version
        await asyncio.wait_for(keeper.wait_changed(version), timeout=2)
        issuer.fail = True
        version = keeper.version
        # One failed fetch is retried after retry_s, well before the token's end.
        await asyncio.wait_for(keeper.wait_changed(version), timeout=2)
        assert issuer.count >= 3
    finally:
        await keeper.close()


def test_refresh_fraction_is_checked() -> None:
    with pytest.raises(ValueError):
        JwtKeeper(Issuer(), refresh_fraction=0.95)
