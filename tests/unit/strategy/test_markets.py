from __future__ import annotations

from typing import Any

import pytest
from strategy_fakes import RULES as SOL

from services.config import load_config
from strategy import markets
from strategy.markets import MarketError, load_rules, unknown_symbol_message
from venues.base import AuthError, Unavailable
from venues.precision import MarketRules


class FakeVenue:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.closed = False
        self.calls = 0

    async def load_markets(self) -> dict[str, MarketRules]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        result: dict[str, MarketRules] = answer
        return result

    async def close(self) -> None:
        self.closed = True


def config(symbol: str = "SOL_USDC_PERP") -> Any:
    return load_config(
        ["--exchange", "backpack", "--symbol", symbol, "--spread", "0.05", "--quantity", "0.1"], env={}
    )


def use(monkeypatch: pytest.MonkeyPatch, venue: FakeVenue) -> None:
    monkeypatch.setattr(markets, "open_venue", lambda cfg, *, role, env=None: venue)


async def test_rules_of_the_configured_symbol(monkeypatch: pytest.MonkeyPatch) -> None:
    venue = FakeVenue({"SOL_USDC_PERP": SOL})
    use(monkeypatch, venue)
    assert await load_rules(config()) == SOL
    assert venue.closed


async def test_unknown_symbol_names_the_closest_markets(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, FakeVenue({"SOL_USDC_PERP": SOL, "BTC_USDC_PERP": SOL}))
    with pytest.raises(
        MarketError, match=r"unknown symbol SOL_USD_PERP on backpack; did you mean SOL_USDC_PERP"
    ):
        await load_rules(config("SOL_USD_PERP"))


async def test_an_unavailable_venue_is_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    venue = FakeVenue(Unavailable("503"), {"SOL_USDC_PERP": SOL})
    use(monkeypatch, venue)
    assert await load_rules(config(), retry_s=0.0) == SOL
    venue = FakeVenue(Unavailable("503"), Unavailable("503"))
    use(monkeypatch, venue)
    with pytest.raises(MarketError, match="cannot load backpack markets"):
        await load_rules(config(), attempts=2, retry_s=0.0)
    assert venue.calls == 2 and venue.closed


async def test_other_venue_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    venue = FakeVenue(AuthError("bad key"))
    use(monkeypatch, venue)
    with pytest.raises(MarketError, match="bad key"):
        await load_rules(config(), retry_s=0.0)
    assert venue.calls == 1


def test_message_without_close_matches_counts_the_markets() -> None:
    text = unknown_symbol_message("DOGE", ["SOL_USDC_PERP", "BTC_USDC_PERP"], exchange="backpack")
    assert text == "unknown symbol DOGE on backpack; backpack lists 2 perp markets"
