"""The strategy process's wiring of its pure cores: what it prices from and how it sends a requote."""

from __future__ import annotations

import io
from decimal import Decimal as D
from typing import Any

from strategy_fakes import RULES, resting_order

from services.codec import Envelope
from services.config import load_config
from services.wire import Book, Heartbeat, OrderUpdate, Side, Snapshot
from strategy.decide import Actions, Batches, OrderIntent
from strategy.runner import StrategyService

SYM = "SOL_USDC_PERP"


def service(*orders: OrderUpdate) -> StrategyService:
    argv = ["--exchange", "backpack", "--symbol", SYM, "--spread", "0.05", "--quantity", "0.1"]
    svc = StrategyService(load_config([*argv, "--max-orders", "1"], env={}), rules=RULES, out=io.StringIO())
    beat = Heartbeat(process="order_gateway", instance="a", loop_count=1)
    svc.exec.on_message(Envelope(1, beat.TYPE, 1, 0, 0, "order_gateway:a", beat), gap=0, now_s=0.0)
    snap = Snapshot(symbol=SYM, exec_seq=1, exec_src="order_gateway:a", orders=list(orders))
    assert svc.exec.apply_snapshot(snap, now_s=0.0) is not None
    return svc


def test_the_plan_prices_from_the_book_without_our_own_quotes() -> None:
    bid, ask = resting_order(Side.BUY, "99.99", oid="1"), resting_order(Side.SELL, "100.03", oid="2")
    svc = service(bid, ask)
    # We are the whole best level on both sides: the market is 99.97 / 100.06 under us.
    bids = [(D("99.99"), D("0.1")), (D("99.97"), D(4))]
    asks = [(D("100.03"), D("0.1")), (D("100.06"), D(5))]
    svc.feeds.book.update(Book(symbol=SYM, bids=bids, asks=asks), ts_ns=1)
    plan = svc._plan()
    assert plan is not None and (plan.bid, plan.ask) == (D("99.97"), D("100.06"))
    # A maker reduce joins the venue's best, our quotes included.
    assert svc._venue_best() == (D("99.99"), D("100.03"))


class RecordingGateway:
    def __init__(self) -> None:
        self.sent: list[Batches] = []

    async def send(self, batches: Batches, *, on_first_place: Any) -> tuple[bool, list[OrderUpdate]]:
        self.sent.append(batches)
        return True, []


async def test_a_requote_sends_the_new_quotes_with_the_cancels_when_they_cannot_cross() -> None:
    old_bid, old_ask = resting_order(Side.BUY, "99.96", oid="1"), resting_order(Side.SELL, "100.04", oid="2")
    svc = service(old_bid, old_ask)
    new = tuple(
        OrderIntent(side=side, quantity=D("0.1"), price=D(price), post_only=True, reduce_only=False)
        for side, price in ((Side.BUY, "100.01"), (Side.SELL, "100.09"))
    )
    gateway = RecordingGateway()
    assert await svc._act(gateway, Actions(cancel=(old_bid, old_ask), quotes=new), tick_ts_ns=None)  # type: ignore[arg-type]
    assert gateway.sent == [Batches(urgent=(old_ask,), early=new, cancels=(old_bid,), late=())]
