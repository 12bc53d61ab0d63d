"""A connector's perpetual markets: parsed from the venue's market list, cached for the order checks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from services.logs import log_once
from services.wire import RejectReason
from venues.base import Rejected
from venues.common.parse import MalformedResponse
from venues.precision import MarketRules

log = logging.getLogger(__name__)


class MarketCache:
    """The rules of every perp market the venue lists (``fetch`` returns its raw list of markets)."""

    def __init__(
        self,
        venue: str,
        fetch: Callable[[], Awaitable[Iterable[Any]]],
        parse: Callable[[Any], MarketRules | None],
    ) -> None:
        self.venue = venue
        self._fetch = fetch
        self._parse = parse
        self._rules: dict[str, MarketRules] = {}

    async def load(self) -> dict[str, MarketRules]:
        """Fetch and parse the list now; a market that does not parse is skipped (logged once)."""
        rules: dict[str, MarketRules] = {}
        for item in await self._fetch():
            try:
                parsed = self._parse(item)
            except MalformedResponse as exc:
                key = f"{self.venue.lower()}.market.malformed"
                log_once(log, key, f"skipping a malformed {self.venue} market: {exc}")
                continue
            if parsed is not None:
                rules[parsed.symbol] = parsed
        self._rules = rules
        return dict(rules)

    async def rules(self, symbol: str) -> MarketRules:
        """``symbol``'s rules, loading the list the first time; ``Rejected`` when it is not listed."""
        if symbol not in self._rules:
            await self.load()
        try:
            return self._rules[symbol]
        except KeyError:
            raise Rejected(
                f"no perpetual market {symbol!r} on {self.venue}", reason=RejectReason.MALFORMED
            ) from None
