"""The Paradex JWT, kept fresh so that no request ever goes out with an expired token.

A token lives about 5 minutes (its ``iat``/``exp`` claims say exactly).  It is
refreshed in the background at ``refresh_fraction`` of its life (3 of 5
minutes by default), refreshed in line by any caller that finds it past that
point (a stalled refresher never lets a request use a dying token), and
refreshed once more when the venue answers 401.  Concurrent refreshes are
merged: a caller that saw a token rejected only triggers a new one if nobody
replaced it meanwhile.  ``version`` counts tokens (``wait_changed`` sees a refresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from venues.base import VenueError
from venues.paradex.parse import jwt_lifetime_s

log = logging.getLogger(__name__)

DEFAULT_LIFETIME_S = 300.0
MAX_RETRY_S = 30.0


@dataclass(frozen=True, slots=True)
class TokenTimes:
    """When (local monotonic seconds) a token should be refreshed and when it is no longer usable."""

    refresh_at_s: float
    unusable_at_s: float


def token_times(token: str, *, received_at_s: float, refresh_fraction: float) -> TokenTimes:
    """Refresh at ``refresh_fraction`` of the token's life; stop using it 10% before it expires."""
    claims = jwt_lifetime_s(token)
    lifetime_s = float(claims[1] - claims[0]) if claims else DEFAULT_LIFETIME_S
    return TokenTimes(
        refresh_at_s=received_at_s + lifetime_s * refresh_fraction,
        unusable_at_s=received_at_s + lifetime_s * 0.9,
    )


class JwtKeeper:
    """Holds the account's JWT; ``fetch`` obtains a new one (``POST /v1/auth``)."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[str]],
        *,
        refresh_fraction: float = 0.6,
        retry_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < refresh_fraction < 0.9:
            raise ValueError("refresh_fraction must be between 0 and 0.9")
        self._fetch = fetch
        self.refresh_fraction = refresh_fraction
        self.retry_s = retry_s
        self._clock = clock
        self._token: str | None = None
        self._times: TokenTimes | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.version = 0
        self.refreshes = 0

    async def token(self) -> str:
        """A token that is well inside its life, fetched now if need be."""
        self._ensure_refresher()
        current = self._token
        if current is not None and self._times is not None and self._clock() < self._times.refresh_at_s:
            return current
        return await self.refresh(stale=current)

    async def refresh(self, *, stale: str | None) -> str:
        """A new token unless someone already replaced ``stale`` (then that one)."""
        async with self._lock:
            current, times = self._token, self._times
            if current is not None and current != stale and times and self._clock() < times.unusable_at_s:
                return current
            token = await self._fetch()
            self._token = token
            self._times = token_times(
                token, received_at_s=self._clock(), refresh_fraction=self.refresh_fraction
            )
            self.version += 1
            self.refreshes += 1
        async with self._changed:
            self._changed.notify_all()
        return token

    async def wait_changed(self, version: int) -> int:
        """Return once the token version differs from ``version``."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.version != version)
            return self.version

    def _ensure_refresher(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._refresh_loop(), name="paradex-jwt")

    async def _refresh_loop(self) -> None:
        failures = 0
        while True:
            times = self._times
            delay_s = 0.0 if times is None else times.refresh_at_s - self._clock()
            if delay_s > 0:
                await asyncio.sleep(delay_s)
                if self._times is not times:
                    continue  # refreshed in line meanwhile
            try:
                await self.refresh(stale=self._token)
                failures = 0
            except VenueError as exc:
                # Doubling pauses: a key the venue refuses must not hammer its auth limit (600/min per IP).
                delay_s = min(self.retry_s * 2**failures, MAX_RETRY_S)
                failures += 1
                log.warning("paradex JWT refresh failed (retrying in %.1f s): %s", delay_s, exc)
                await asyncio.sleep(delay_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
