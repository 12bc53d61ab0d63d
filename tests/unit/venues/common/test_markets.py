from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.wire import RejectReason
from venues.base import Rejected
from venues.common.markets import MarketCache
from venues.common.parse import MalformedResponse
from venues.precision import MarketRules


def parse(item: Any) -> MarketRules | None:
    if item == "broken":
        raise MalformedResponse("no tick size")
    if item == "spot":
        return None  # not a perpetual
    return MarketRules(
        symbol=item, base_asset="SOL", quote_asset="USDC", tick_size=Decimal("0.01"),
        step_size=Decimal("0.01"), min_quantity=Decimal("0.01"),
    )  # fmt: skip


async def test_markets_are_parsed_cached_and_a_bad_or_unlisted_one_is_left_out() -> None:
    fetched: list[int] = []

    async def fetch() -> list[Any]:
        fetched.append(1)
        return ["SOL_USDC_PERP", "broken", "spot"]

    cache = MarketCache("Backpack", fetch, parse)
    assert (await cache.rules("SOL_USDC_PERP")).tick_size == Decimal("0.01")
    assert (await cache.rules("SOL_USDC_PERP")).symbol == "SOL_USDC_PERP"
    assert len(fetched) == 1, "listed rules come from the cache"
    with pytest.raises(Rejected, match="no perpetual market 'BTC_USDC_PERP' on Backpack") as refused:
        await cache.rules("BTC_USDC_PERP")
    assert refused.value.reason is RejectReason.MALFORMED and len(fetched) == 2
    assert list(await cache.load()) == ["SOL_USDC_PERP"]
