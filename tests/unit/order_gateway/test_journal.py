"""The SQLite journal: intents, transitions, fills once by trade id, funding, and surviving a reopen."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from order_gateway.journal import PENDING, UNKNOWN, Journal
from services.wire import Fill, FundingPayment, OrderStatus, OrderType, OrderUpdate, Place, Side

D = Decimal
SYM = "SOL_USDC_PERP"


def place(client_id: int = 7, **kw: object) -> Place:
    return Place(client_id=client_id, symbol=SYM, side=Side.SELL, quantity=D("0.3"), price=D("151.25"), **kw)  # type: ignore[arg-type]


def update(status: OrderStatus, filled: str = "0", client_id: int | None = 7) -> OrderUpdate:
    return OrderUpdate(
        symbol=SYM,
        order_id="900",
        client_id=client_id,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        price=D("151.25"),
        quantity=D("0.3"),
        filled_quantity=D(filled),
        status=status,
        post_only=True,
    )


def fill(trade_id: str = "t1", quantity: str = "0.1") -> Fill:
    return Fill(
        symbol=SYM,
        trade_id=trade_id,
        order_id="900",
        client_id=7,
        side=Side.SELL,
        price=D("151.25"),
        quantity=D(quantity),
        fee=D("-0.001"),
        fee_asset="USDC",
        is_maker=True,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "j" / "journal.sqlite")


def test_uses_wal(journal: Journal) -> None:
    db = sqlite3.connect(journal.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_order_lifecycle_with_every_transition_timed(journal: Journal) -> None:
    journal.record_intent(place(post_only=True), now_ns=1)
    pending = journal.order(7)
    assert pending is not None and pending.status == PENDING and pending.active
    assert pending.as_update() is None
    assert journal.record_order(update(OrderStatus.NEW), now_ns=2)
    assert journal.record_order(update(OrderStatus.PARTIALLY_FILLED, "0.1", client_id=None), now_ns=3)
    assert journal.record_order(update(OrderStatus.FILLED, "0.3"), now_ns=4)
    done = journal.order(7)
    assert done is not None and not done.active
    assert done.order_id == "900" and done.filled == D("0.3") and done.status == "filled"
    assert done.as_update() == update(OrderStatus.FILLED, "0.3")
    assert journal.order_by_id("900") == done
    assert journal.transitions(7) == [
        (PENDING, D(0), 1),
        ("new", D(0), 2),
        ("partially_filled", D("0.1"), 3),
        ("filled", D("0.3"), 4),
    ]


def test_orders_not_in_the_journal_are_not_recorded(journal: Journal) -> None:
    assert not journal.record_order(update(OrderStatus.NEW, client_id=8), now_ns=1)
    assert journal.order(8) is None


def test_a_client_id_is_journaled_once(journal: Journal) -> None:
    journal.record_intent(place(), now_ns=1)
    with pytest.raises(sqlite3.IntegrityError):
        journal.record_intent(place(), now_ns=2)


def test_active_orders_are_pending_unknown_and_open(journal: Journal) -> None:
    for cid in (1, 2, 3, 4):
        journal.record_intent(place(cid), now_ns=cid)
    journal.record_status(2, UNKNOWN, reason="timeout", now_ns=5)
    journal.record_status(3, OrderStatus.REJECTED.value, reason="post_only_would_take: would take", now_ns=6)
    journal.record_order(update(OrderStatus.NEW, client_id=4), now_ns=7)
    assert [o.place.client_id for o in journal.active_orders(SYM)] == [1, 2, 4]
    assert [o.place.client_id for o in journal.orders(SYM)] == [1, 2, 3, 4]
    rejected = journal.order(3)
    assert rejected is not None and rejected.reason.startswith("post_only_would_take")
    assert journal.active_orders("BTC_USDC_PERP") == []


def test_fills_are_stored_once_by_trade_id(journal: Journal) -> None:
    assert journal.add_fill(fill("t1"), ts_ns=10)
    assert not journal.add_fill(fill("t1"), ts_ns=20)
    assert journal.add_fill(fill("t2", "0.2"), ts_ns=30)
    assert journal.fills(SYM) == [fill("t1"), fill("t2", "0.2")]
    assert journal.fills(SYM, order_id="other") == []
    assert journal.filled_quantity(SYM, client_id=7, order_id=None) == D("0.3")
    assert journal.filled_quantity(SYM, client_id=1, order_id="900") == D("0.3")
    assert journal.filled_quantity(SYM, client_id=1, order_id="901") == D(0)
    assert journal.last_fill_ns(SYM) == 30
    assert journal.last_fill_ns("BTC_USDC_PERP") is None


def test_funding_is_stored_once_by_payment_id(journal: Journal) -> None:
    payment = FundingPayment(symbol=SYM, payment_id="f1", amount=D("-0.25"), rate=D("0.0001"))
    assert journal.add_funding(payment, ts_ns=5)
    assert not journal.add_funding(payment, ts_ns=6)
    assert journal.funding(SYM) == [payment]
    assert journal.last_funding_ns(SYM) == 5


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    first = Journal(path)
    created = first.created_ns
    first.record_intent(place(), now_ns=1)
    first.record_order(update(OrderStatus.NEW), now_ns=2)
    first.add_fill(fill(), ts_ns=3)
    # No close: a killed process never closes its connection.
    second = Journal(path)
    assert second.created_ns == created
    again = second.order(7)
    assert again is not None and again.status == "new"
    assert second.fills(SYM) == [fill()]
    first.close()
    second.close()
