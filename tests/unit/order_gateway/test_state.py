"""SymbolState (orders only move forward, exposure) and the reconciliation plan."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from order_gateway.state import SymbolState, closed_while_away, plan_reconcile
from services.wire import OrderStatus, OrderType, OrderUpdate, Place, Position, Side

D = Decimal
SYM = "SOL_USDC_PERP"


def order(
    order_id: str = "1",
    client_id: int | None = 11,
    *,
    side: Side = Side.BUY,
    quantity: str = "1",
    filled: str = "0",
    status: OrderStatus = OrderStatus.NEW,
    reduce_only: bool = False,
) -> OrderUpdate:
    return OrderUpdate(
        symbol=SYM,
        order_id=order_id,
        client_id=client_id,
        side=side,
        order_type=OrderType.LIMIT,
        price=D(100),
        quantity=D(quantity),
        filled_quantity=D(filled),
        status=status,
        reduce_only=reduce_only,
    )


def place(client_id: int, side: Side = Side.BUY, quantity: str = "1", reduce_only: bool = False) -> Place:
    return Place(
        client_id=client_id,
        symbol=SYM,
        side=side,
        quantity=D(quantity),
        price=D(100),
        reduce_only=reduce_only,
    )


def test_orders_only_move_forward() -> None:
    state = SymbolState(SYM)
    assert state.apply(order(), now_s=1.0)
    assert not state.apply(order(), now_s=2.0)
    assert state.open["1"].updated_s == 2.0
    assert state.apply(order(filled="0.4", status=OrderStatus.PARTIALLY_FILLED), now_s=3.0)
    # A late, older view (less filled) is ignored.
    assert not state.apply(order(), now_s=4.0)
    assert state.open["1"].order.filled_quantity == D("0.4")
    assert state.apply(order(filled="1", status=OrderStatus.FILLED), now_s=5.0)
    assert "1" not in state.open and state.is_closed("1")
    # A late "new" after the fill never reopens it.
    assert not state.apply(order(), now_s=6.0)
    assert state.open_orders() == []


def test_other_symbols_are_ignored() -> None:
    state = SymbolState(SYM)
    assert not state.apply(dataclasses.replace(order(), symbol="BTC_USDC_PERP"), now_s=0.0)
    assert not state.set_position(Position(symbol="BTC_USDC_PERP", quantity=D(1), entry_price=D(1)))


def test_an_order_update_settles_an_unknown_outcome() -> None:
    state = SymbolState(SYM)
    state.unknown[11] = place(11)
    state.apply(order(client_id=11), now_s=0.0)
    assert state.unknown == {}
    assert state.by_client_id(11) == order(client_id=11)
    assert state.by_client_id(12) is None


def test_position_changes_are_reported_once() -> None:
    state = SymbolState(SYM)
    pos = Position(symbol=SYM, quantity=D(1), entry_price=D(100))
    assert state.set_position(pos)
    assert not state.set_position(dataclasses.replace(pos, mark_price=D(101)))
    assert state.position is not None and state.position.mark_price == D(101)
    assert state.set_position(dataclasses.replace(pos, quantity=D(2)))


def test_exposure_counts_open_in_flight_and_unknown_but_not_reduce_only() -> None:
    state = SymbolState(SYM)
    assert state.exposure() is None
    state.set_position(Position(symbol=SYM, quantity=D("0.5"), entry_price=D(100)))
    state.apply(order("1", 1, quantity="2", filled="0.5", status=OrderStatus.PARTIALLY_FILLED), now_s=0)
    state.apply(order("2", 2, side=Side.SELL, quantity="1"), now_s=0)
    state.apply(order("3", 3, side=Side.SELL, quantity="4", reduce_only=True), now_s=0)
    state.in_flight[4] = place(4, Side.BUY, "0.25")
    state.unknown[5] = place(5, Side.SELL, "0.75")
    state.in_flight[6] = place(6, Side.SELL, "9", reduce_only=True)
    exposure = state.exposure()
    assert exposure is not None
    assert exposure.position == D("0.5")
    assert exposure.resting_buy == D("1.75")
    assert exposure.resting_sell == D("1.75")


def test_plan_adopts_ours_and_leaves_every_other_order_alone() -> None:
    ours = order("1", 11)
    stranger = order("2", 99)
    no_client = order("3", None)
    guardian = order("4", 2**31 + 5)
    plan = plan_reconcile(
        [ours, stranger, no_client, guardian],
        ours_active=[11, 12, 13, 14],
        is_ours=lambda o: o.client_id in (11, 12, 13, 14),
        busy={13},
    )
    assert plan.adopt == [ours]
    # Orders it did not place (a stop set in the web app, the guardian's) are never cancelled.
    assert plan.foreign == [stranger, no_client, guardian]
    # 12 and 14 are gone from the venue; 13 has a request in flight, so its absence proves nothing.
    assert plan.vanished == [12, 14]


def test_closed_while_away_from_the_fills() -> None:
    p = place(1, quantity="1")
    assert closed_while_away(p, order_id="9", filled=D(1))[0] is OrderStatus.FILLED
    assert closed_while_away(p, order_id=None, filled=D(1))[0] is OrderStatus.FILLED
    assert closed_while_away(p, order_id="9", filled=D("0.5"))[0] is OrderStatus.CANCELLED
    assert closed_while_away(p, order_id="9", filled=D(0))[0] is OrderStatus.CANCELLED
    assert closed_while_away(p, order_id=None, filled=D(0))[0] is OrderStatus.REJECTED


def test_latest_is_the_newest_state_open_or_closed() -> None:
    state = SymbolState(SYM)
    assert state.latest("1") is None
    state.apply(order(), now_s=0)
    assert state.latest("1") == order()
    done = order(filled="1", status=OrderStatus.FILLED)
    state.apply(done, now_s=1)
    state.apply(order(), now_s=2)
    assert state.latest("1") == done


def test_a_foreign_order_counts_in_the_worst_case_unless_reduce_only() -> None:
    state = SymbolState(SYM)
    state.set_position(Position(symbol=SYM, quantity=D(0), entry_price=D(0)))
    stop_entry = dataclasses.replace(
        order("1", None, quantity="2"), order_type=OrderType.CONDITIONAL, price=None, foreign=True
    )
    stop_loss = dataclasses.replace(stop_entry, order_id="2", side=Side.SELL, reduce_only=True)
    plain = dataclasses.replace(order("3", 99, side=Side.SELL, quantity="0.5"), foreign=True)
    for update in (stop_entry, stop_loss, plain):
        assert state.apply(update, now_s=1.0)
    exposure = state.exposure()
    assert exposure is not None
    # A buy stop may open a position when it triggers; a reduce-only stop-loss cannot add to it.
    assert (exposure.resting_buy, exposure.resting_sell) == (D(2), D("0.5"))


def test_a_foreign_order_no_longer_listed_is_closed_but_one_changed_since_is_kept() -> None:
    state = SymbolState(SYM)
    stop = dataclasses.replace(order("1", None), order_type=OrderType.CONDITIONAL, foreign=True)
    later = dataclasses.replace(stop, order_id="2")
    ours = order("3", 11)
    state.apply(stop, now_s=1.0)
    state.apply(later, now_s=5.0)
    state.apply(ours, now_s=1.0)
    [gone] = state.foreign_gone({"9"}, listed_s=4.0)
    assert (gone.order_id, gone.status, gone.foreign) == ("1", OrderStatus.CANCELLED, True)


def test_an_order_first_taken_for_foreign_is_corrected_by_the_next_update() -> None:
    state = SymbolState(SYM)
    assert state.apply(dataclasses.replace(order("1", 11), foreign=True), now_s=1.0)
    assert state.apply(order("1", 11), now_s=2.0)
    assert [o.foreign for o in state.open_orders()] == [False]
