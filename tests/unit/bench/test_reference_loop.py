"""The reference loop's cycle: position, book, cancel all, then the quoter's quotes, one call each."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from bench.reference_loop import cycle
from services.config import load_config
from services.wire import OrderStatus, OrderType, OrderUpdate, Place, Position, RejectReason, Side
from strategy.quoter import QuoteParams, quote_params
from venues.base import DepthSnapshot, Rejected
from venues.emulator.catalog import select_markets

D = Decimal
SOL = "SOL_USDC_PERP"
RULES = select_markets([SOL])[0].rules


@dataclass
class FakeVenue:
    """Records the calls in order; Backpack's REST depth lists bids lowest first."""

    position_quantity: Decimal = Decimal(0)
    refuse: Side | None = None
    calls: list[str] = field(default_factory=list)
    placed: list[Place] = field(default_factory=list)

    async def position(self, symbol: str) -> Position:
        self.calls.append("position")
        return Position(symbol=symbol, quantity=self.position_quantity, entry_price=D(150))

    async def depth(self, symbol: str) -> DepthSnapshot:
        self.calls.append("depth")
        bids = [(D("149.90"), D(1)), (D("149.94"), D(2))]
        return DepthSnapshot(
            bids=bids, asks=[(D("150.06"), D(2)), (D("150.10"), D(1))], last_update_id=1, ts_ns=None
        )

    async def cancel_all(self, symbol: str) -> int:
        self.calls.append("cancel_all")
        return 2

    async def place_order(self, order: Place) -> OrderUpdate:
        self.calls.append(f"place {order.side.value}")
        if order.side is self.refuse:
            raise Rejected("would take", reason=RejectReason.POST_ONLY_WOULD_TAKE)
        self.placed.append(order)
        assert order.price is not None
        return OrderUpdate(
            symbol=order.symbol,
            order_id=str(len(self.placed)),
            client_id=order.client_id,
            side=order.side,
            order_type=order.order_type,
            price=order.price,
            quantity=order.quantity,
            filled_quantity=D(0),
            status=OrderStatus.NEW,
            post_only=order.post_only,
        )


def params(*extra: str) -> QuoteParams:
    cfg = load_config(
        ["--exchange", "backpack", "--symbol", SOL, "--spread", "0.05", "--quantity", "0.1", *extra], env={}
    )
    return quote_params(cfg)


async def test_one_cycle_polls_cancels_and_places_both_quotes_from_the_best_prices() -> None:
    venue = FakeVenue()
    plan = await cycle(venue, rules=RULES, params=params("--max-orders", "1"), ids=itertools.count(7))
    assert venue.calls == ["position", "depth", "cancel_all", "place buy", "place sell"]
    assert plan is not None and (plan.bid, plan.ask) == (D("149.94"), D("150.06"))
    quotes = [(o.side, o.price, o.quantity, o.order_type, o.post_only, o.client_id) for o in venue.placed]
    assert quotes == [
        (Side.BUY, D("149.96"), D("0.1"), OrderType.LIMIT, True, 7),
        (Side.SELL, D("150.04"), D("0.1"), OrderType.LIMIT, True, 8),
    ]


async def test_a_refused_quote_does_not_stop_the_other_and_the_position_limits_the_ladder() -> None:
    venue = FakeVenue(refuse=Side.BUY)
    await cycle(venue, rules=RULES, params=params("--max-orders", "1"), ids=itertools.count(1))
    assert [o.side for o in venue.placed] == [Side.SELL]
    full_long = FakeVenue(position_quantity=D(1))
    await cycle(
        full_long,
        rules=RULES,
        params=params("--max-orders", "1", "--max-position", "1"),
        ids=itertools.count(1),
    )
    assert [o.side for o in full_long.placed] == [Side.SELL]
