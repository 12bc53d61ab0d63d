"""Reconciler against a scripted venue: orders of unknown outcome resolved, strangers, vanished orders."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from order_gateway.calls import VenueCalls
from order_gateway.desk import OrderDesk
from order_gateway.journal import UNKNOWN, Journal
from order_gateway.limits import Limits, TokenBucket
from order_gateway.state import SymbolState
from order_gateway.sync import Reconciler
from services.bus import Publisher
from services.wire import (
    Balance,
    Fill,
    FundingPayment,
    Message,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    Position,
    Side,
    TradingState,
)
from venues.base import Venue
from venues.precision import MarketRules

D = Decimal
SYM = "SOL_USDC_PERP"


class Recorder:
    def __init__(self) -> None:
        self.seq = 0
        self.src = "order_gateway:test"
        self.sent: list[tuple[str, Message]] = []

    def publish(self, topic: str, msg: Message, *, ts_ns: int | None = None) -> bool:
        self.seq += 1
        self.sent.append((topic, msg))
        return True


class AccountVenue:
    """A venue account as plain lists: open orders, fills, position; records cancels."""

    name = "backpack"

    def __init__(self) -> None:
        self.open: list[OrderUpdate] = []
        self.history: list[Fill] = []
        self.cancelled: list[str] = []
        self.position_qty = D(0)

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> Any:
        return next((o for o in self.open if o.client_id == client_id), None)

    async def fills(self, symbol: str, *, since_ms: int | None = None, limit: int = 500) -> list[Fill]:
        return list(self.history)

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        return list(self.open)

    async def position(self, symbol: str) -> Position:
        return Position(symbol=symbol, quantity=self.position_qty, entry_price=D(100))

    async def collateral(self) -> Balance:
        return Balance(asset="USDC", equity=D(1000), available=D(900))

    async def funding_payments(self, symbol: str, *, since_ms: int | None = None) -> list[FundingPayment]:
        return [FundingPayment(symbol=symbol, payment_id="f1", amount=D("-0.1"))]

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> Any:
        order = next(o for o in self.open if o.order_id == order_id)
        self.open.remove(order)
        self.cancelled.append(order.order_id)
        return OrderUpdate(**{**_fields(order), "status": OrderStatus.CANCELLED})


def _fields(order: OrderUpdate) -> dict[str, Any]:
    return {name: getattr(order, name) for name in order.__dataclass_fields__}


def resting(client_id: int | None, order_id: str) -> OrderUpdate:
    return OrderUpdate(
        symbol=SYM,
        order_id=order_id,
        client_id=client_id,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=D(100),
        quantity=D(1),
        filled_quantity=D(0),
        status=OrderStatus.NEW,
    )


def place(client_id: int) -> Place:
    return Place(client_id=client_id, symbol=SYM, side=Side.BUY, quantity=D(1), price=D(100))


def fill_of(client_id: int, order_id: str, quantity: str) -> Fill:
    return Fill(
        symbol=SYM,
        trade_id=f"t{client_id}",
        order_id=order_id,
        client_id=client_id,
        side=Side.BUY,
        price=D(100),
        quantity=D(quantity),
        fee=D(0),
        fee_asset="USDC",
        is_maker=True,
    )


@pytest.fixture
def sync(tmp_path: Path) -> Reconciler:
    desk = OrderDesk(
        rules=MarketRules(SYM, "SOL", "USDC", D("0.01"), D("0.01"), D("0.01")),
        venue=cast(Venue, AccountVenue()),
        calls=VenueCalls("backpack", now_s=0.0),
        journal=Journal(tmp_path / "journal.sqlite"),
        state=SymbolState(SYM),
        limits=Limits(max_position=D(5)),
        order_bucket=TokenBucket(rate_per_s=100, burst=100, now_s=0.0),
        trading=lambda: (TradingState.ACTIVE, ""),
        publisher=cast(Publisher, Recorder()),
    )
    return Reconciler(desk)


def venue_of(sync: Reconciler) -> AccountVenue:
    return cast(AccountVenue, sync.desk.venue)


def unknown(sync: Reconciler, client_id: int) -> None:
    sync.desk.journal.record_intent(place(client_id), now_ns=time.time_ns())
    sync.desk.journal.record_status(client_id, UNKNOWN, reason="timed out", now_ns=time.time_ns())
    sync.desk.state.unknown[client_id] = place(client_id)


async def test_an_unknown_order_found_resting_is_adopted(sync: Reconciler) -> None:
    unknown(sync, 1)
    venue_of(sync).open.append(resting(1, "o1"))
    await sync.resolve_unknown()
    assert sync.desk.state.unknown == {}
    assert [o.order_id for o in sync.desk.state.open_orders()] == ["o1"]
    journaled = sync.desk.journal.order(1)
    assert journaled is not None and journaled.status == "new" and journaled.order_id == "o1"


async def test_an_unknown_order_that_filled_is_closed_from_the_history(sync: Reconciler) -> None:
    unknown(sync, 2)
    venue_of(sync).history.append(fill_of(2, "o2", "1"))
    await sync.resolve_unknown()
    journaled = sync.desk.journal.order(2)
    assert journaled is not None and journaled.status == "filled" and journaled.order_id == "o2"
    assert sync.desk.state.unknown == {}
    topics = [topic for topic, _ in cast(Recorder, sync.desk.pub).sent]
    assert topics == [f"ex.fill.{SYM}", f"ex.order.{SYM}"]


async def test_an_unknown_order_nowhere_to_be_found_was_not_placed(sync: Reconciler) -> None:
    unknown(sync, 3)
    await sync.resolve_unknown()
    journaled = sync.desk.journal.order(3)
    assert (
        journaled is not None
        and journaled.status == "rejected"
        and journaled.reason.startswith("unavailable")
    )
    assert sync.desk.state.unknown == {}


async def test_reconcile_adopts_ours_leaves_foreign_orders_and_closes_what_vanished(sync: Reconciler) -> None:
    journal, venue = sync.desk.journal, venue_of(sync)
    for cid in (10, 11):
        journal.record_intent(place(cid), now_ns=0)
        journal.record_order(resting(cid, f"o{cid}"), now_ns=0)
    venue.open = [resting(10, "o10"), resting(99, "o99"), resting(2**31 + 7, "g1")]
    venue.position_qty = D("0.5")
    assert await sync.reconcile()
    # An order it did not place (by hand, a stop set in the web app) is tracked as foreign, never cancelled.
    assert venue.cancelled == []
    assert {o.order_id: o.foreign for o in sync.desk.state.open_orders()} == {
        "o10": False,
        "o99": True,
        "g1": False,
    }
    vanished = journal.order(11)
    assert vanished is not None and vanished.status == "cancelled"
    assert sync.desk.state.position is not None and sync.desk.state.position.quantity == D("0.5")
    assert sync.desk.status.balance is not None and sync.desk.status.balance.equity == D(1000)
    assert [p.payment_id for p in journal.funding(SYM)] == ["f1"]
    topics = [topic for topic, _ in cast(Recorder, sync.desk.pub).sent]
    assert f"ex.funding.{SYM}" in topics and f"ex.position.{SYM}" in topics and "ex.balance" in topics
