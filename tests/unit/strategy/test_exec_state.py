from __future__ import annotations

import dataclasses
from decimal import Decimal as D

from services.codec import Envelope, Message
from services.wire import (
    ExStatus,
    FeedState,
    Fill,
    FundingPayment,
    Heartbeat,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Side,
    Snapshot,
)
from strategy.exec_state import GUARDIAN_ID_BIT, ClientIds, ExecState, Role

SYM = "SOL_USDC_PERP"
GW = "order_gateway:aaaa"


def env(seq: int, body: Message, *, src: str = GW) -> Envelope:
    return Envelope(1, body.TYPE, seq, 0, 0, src, body)


def beat(n: int = 1) -> Heartbeat:
    return Heartbeat(process="order_gateway", instance="aaaa", loop_count=n)


def order(
    oid: str,
    *,
    client_id: int | None = None,
    side: Side = Side.BUY,
    price: str = "99.5",
    filled: str = "0",
    status: OrderStatus = OrderStatus.NEW,
    reduce_only: bool = False,
    symbol: str = SYM,
) -> OrderUpdate:
    return OrderUpdate(
        symbol=symbol,
        order_id=oid,
        client_id=int(oid) if client_id is None else client_id,
        side=side,
        order_type=OrderType.LIMIT,
        price=D(price),
        quantity=D("0.1"),
        filled_quantity=D(filled),
        status=status,
        reduce_only=reduce_only,
    )


def fill(oid: str, trade: str, *, client_id: int | None = None, qty: str = "0.1") -> Fill:
    return Fill(
        symbol=SYM,
        trade_id=trade,
        order_id=oid,
        client_id=int(oid) if client_id is None else client_id,
        side=Side.BUY,
        price=D("99.5"),
        quantity=D(qty),
        fee=D("0.001"),
        fee_asset="USDC",
        is_maker=True,
    )


def snapshot(seq: int, *orders: OrderUpdate, position: str = "0", src: str = GW) -> Snapshot:
    return Snapshot(
        symbol=SYM,
        exec_seq=seq,
        exec_src=src,
        orders=list(orders),
        position=Position(symbol=SYM, quantity=D(position), entry_price=D("100") if D(position) else D(0)),
    )


def synced(seq: int = 5, *orders: OrderUpdate, position: str = "0") -> ExecState:
    state = ExecState(SYM)
    state.on_message(env(seq, beat()), gap=0, now_s=0.0)
    assert state.apply_snapshot(snapshot(seq, *orders, position=position), now_s=0.0) is not None
    return state


# ---------------------------------------------------------------- client ids


def test_client_ids_are_never_zero_never_repeat_and_keep_the_top_bit_clear() -> None:
    ids = ClientIds(base=(1 << 31) - 3)
    drawn = [ids.next() for _ in range(10)]
    assert 0 not in drawn
    assert len(set(drawn)) == len(drawn)
    assert all(0 < i < GUARDIAN_ID_BIT for i in drawn)
    assert drawn[:3] == [(1 << 31) - 3, (1 << 31) - 2, (1 << 31) - 1]
    assert drawn[3] == 1


def test_two_instances_start_from_different_random_bases() -> None:
    assert len({ClientIds().next() for _ in range(20)}) > 1


# ---------------------------------------------------------------- the join


def test_join_applies_only_updates_newer_than_the_snapshot() -> None:
    state = ExecState(SYM)
    assert state.on_message(env(3, beat()), gap=0, now_s=0.0) is None
    assert state.joinable
    # Already in the snapshot (seq 4 <= 5): must not be applied again.
    state.on_message(env(4, fill("1", "t1")), gap=0, now_s=0.0)
    state.on_message(env(6, fill("1", "t2")), gap=0, now_s=0.0)
    state.on_message(env(7, order("2", side=Side.SELL, price="100.5")), gap=0, now_s=0.0)
    changes = state.apply_snapshot(snapshot(5, order("1"), position="0.1"), now_s=0.0)
    assert changes is not None
    assert [f.trade_id for f in changes.fills] == ["t2"]
    assert state.synced and state.seq == 7
    assert state.position == D("0.1") and state.entry_price == D("100")
    assert sorted(o.order_id for o in state.all_orders()) == ["1", "2"]


def test_join_refused_when_the_subscription_may_have_missed_updates() -> None:
    state = ExecState(SYM)
    state.on_message(env(9, beat()), gap=0, now_s=0.0)
    # The first message seen is 9, the snapshot is at 5: 6..8 may be lost.
    assert state.apply_snapshot(snapshot(5), now_s=0.0) is None
    assert not state.synced


def test_join_accepted_when_the_next_message_follows_the_snapshot_directly() -> None:
    state = ExecState(SYM)
    state.on_message(env(6, beat()), gap=0, now_s=0.0)
    assert state.apply_snapshot(snapshot(5), now_s=0.0) is not None


def test_join_refused_when_updates_just_after_the_snapshot_point_were_missed() -> None:
    state = ExecState(SYM)
    state.on_message(env(4, beat()), gap=0, now_s=0.0)
    # 5 arrived, 6..7 were lost, 8 came: the snapshot at 5 cannot cover 6..7.
    state.on_message(env(5, beat(2)), gap=0, now_s=0.0)
    state.on_message(env(8, beat(3)), gap=2, now_s=0.0)
    assert state.apply_snapshot(snapshot(5), now_s=0.0) is None


def test_join_accepts_a_gap_that_lies_before_the_snapshot_point() -> None:
    state = ExecState(SYM)
    state.on_message(env(2, beat()), gap=0, now_s=0.0)
    state.on_message(env(6, fill("1", "t6")), gap=3, now_s=0.0)
    changes = state.apply_snapshot(snapshot(5), now_s=0.0)
    assert changes is not None and [f.trade_id for f in changes.fills] == ["t6"]


def test_join_refused_on_a_gap_after_the_snapshot_point() -> None:
    state = ExecState(SYM)
    state.on_message(env(5, beat()), gap=0, now_s=0.0)
    state.on_message(env(6, beat(2)), gap=0, now_s=0.0)
    state.on_message(env(9, beat(3)), gap=2, now_s=0.0)
    assert state.apply_snapshot(snapshot(5), now_s=0.0) is None


def test_buffered_messages_of_another_gateway_instance_are_dropped() -> None:
    state = ExecState(SYM)
    state.on_message(env(2, fill("1", "old"), src="order_gateway:dead"), gap=0, now_s=0.0)
    state.on_message(env(1, beat()), gap=0, now_s=0.0)
    changes = state.apply_snapshot(snapshot(1), now_s=0.0)
    assert changes is not None and changes.fills == []


def test_a_gap_or_a_new_publisher_loses_the_sync() -> None:
    state = synced()
    assert state.on_message(env(6, beat()), gap=0, now_s=0.0) is not None
    assert state.on_message(env(8, beat()), gap=1, now_s=0.0) is None
    assert not state.synced and state.joinable
    state = synced()
    assert state.on_message(env(1, beat(), src="order_gateway:bbbb"), gap=0, now_s=0.0) is None
    assert not state.synced


def test_private_stream_down_loses_the_sync() -> None:
    state = synced()
    assert state.on_message(env(6, ExStatus(state=FeedState.RECONNECTING)), gap=0, now_s=0.0) is None
    assert not state.synced and not state.exec_live


# ---------------------------------------------------------------- orders and roles


def test_a_late_reply_does_not_bring_back_a_closed_order() -> None:
    state = synced()
    state.assign(11, Role.QUOTE)
    filled = order("11", filled="0.1", status=OrderStatus.FILLED)
    changes = state.on_message(env(6, filled), gap=0, now_s=0.0)
    assert changes is not None
    assert not state.on_reply(order("11"), now_s=0.0)
    assert state.all_orders() == []


def test_an_older_partial_state_does_not_replace_a_newer_one() -> None:
    state = synced()
    state.on_message(env(6, order("11", filled="0.05", status=OrderStatus.PARTIALLY_FILLED)), gap=0, now_s=0)
    assert not state.on_reply(order("11"), now_s=0.0)
    assert state.all_orders()[0].filled_quantity == D("0.05")


def test_roles_are_kept_and_strangers_adopted() -> None:
    state = synced(5, order("1"), order("2", reduce_only=True))
    state.assign(3, Role.REDUCE)
    state.on_reply(order("3", side=Side.SELL), now_s=0.0)
    assert [o.order_id for o in state.orders(Role.QUOTE)] == ["1"]
    assert [o.order_id for o in state.orders(Role.REDUCE)] == ["2", "3"]


def test_roles_are_bounded_and_a_forgotten_one_is_adopted_the_same() -> None:
    state = synced()
    state.assign(1, Role.REDUCE)
    for client_id in range(2, 10_002):
        state.assign(client_id, Role.QUOTE)
    state.on_reply(order("1", reduce_only=True), now_s=0.0)
    assert len(state._roles) == 10_000 and 1 not in state._roles
    assert [o.order_id for o in state.orders(Role.REDUCE)] == ["1"]


def test_guardian_orders_and_fills_are_not_ours() -> None:
    guardian_id = GUARDIAN_ID_BIT | 5
    state = synced(5, order("1", client_id=guardian_id))
    assert state.all_orders() == []
    changes = state.on_message(env(6, fill("1", "t9", client_id=guardian_id)), gap=0, now_s=0.0)
    assert changes is not None and changes.fills == []


def test_foreign_orders_are_never_held_so_the_strategy_never_keeps_or_cancels_them() -> None:
    stop = dataclasses.replace(
        order("7", client_id=None, side=Side.SELL, reduce_only=True),
        order_type=OrderType.CONDITIONAL,
        price=None,
        venue_type="STOP_MARKET",
        foreign=True,
    )
    by_hand = dataclasses.replace(order("8", client_id=77), foreign=True)
    state = synced(5, stop, by_hand)
    assert state.all_orders() == []
    changes = state.on_message(env(6, dataclasses.replace(by_hand, price=D("99.4"))), gap=0, now_s=0.0)
    assert changes is not None and not changes.orders_changed
    assert state.orders(Role.QUOTE) == [] and state.orders(Role.REDUCE) == []


def test_other_symbols_are_ignored() -> None:
    state = synced()
    changes = state.on_message(env(6, order("5", symbol="BTC_USDC_PERP")), gap=0, now_s=0.0)
    assert changes is not None and not changes.orders_changed
    assert state.all_orders() == []


def test_forget_drops_an_order_for_good() -> None:
    state = synced(5, order("1"))
    state.forget(state.all_orders()[0])
    assert state.all_orders() == []
    state.on_reply(order("1"), now_s=0.0)
    assert state.all_orders() == []


# ---------------------------------------------------------------- position, funding, reduce settling


def test_position_and_funding_updates() -> None:
    state = synced()
    pos = Position(symbol=SYM, quantity=D("-0.3"), entry_price=D("101"), mark_price=D("100.5"))
    changes = state.on_message(env(6, pos), gap=0, now_s=0.0)
    assert changes is not None and changes.position_changed and changes.mark == D("100.5")
    assert state.position == D("-0.3") and state.entry_price == D("101")
    pay = FundingPayment(symbol=SYM, payment_id="f1", amount=D("-0.02"))
    changes = state.on_message(env(7, pay), gap=0, now_s=0.0)
    assert changes is not None and changes.funding == [pay]


def test_reduce_blocked_until_the_position_shows_it_or_the_settle_time_passes() -> None:
    state = synced(position="2.5")
    state.assign(21, Role.REDUCE)
    state.on_message(env(6, fill("21", "r1")), gap=0, now_s=10.0)
    assert state.reduce_blocked(now_s=10.5)
    state.on_message(env(7, Position(symbol=SYM, quantity=D("2"), entry_price=D(100))), gap=0, now_s=11)
    assert not state.reduce_blocked(now_s=11.0)
    state.on_reply(order("22", client_id=21, filled="0.1", status=OrderStatus.FILLED), now_s=20.0)
    assert state.reduce_blocked(now_s=22.9)
    assert not state.reduce_blocked(now_s=23.1)
