from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

from strategy_fakes import RULES

from services.codec import Envelope, Message
from services.reqrep import RequestTimeout
from services.wire import (
    Cancel,
    CancelAll,
    CancelAllReply,
    Heartbeat,
    OrderReply,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Place,
    RejectReason,
    Side,
    Snapshot,
    SnapshotRequest,
)
from strategy.decide import Batches, OrderIntent
from strategy.exec_state import GUARDIAN_ID_BIT, ClientIds, ExecState, Role
from strategy.gateway import GatewayClient, ours

SYM = "SOL_USDC_PERP"


class FakeClient:
    """Answers requests from a script: each entry is a reply, an exception, or a function of the request."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.sent: list[Message] = []
        self.closed = False

    async def request(self, msg: Message, *, timeout_s: float, retries: int) -> Message:
        self.sent.append(msg)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer(msg) if callable(answer) else answer

    def close(self) -> None:
        self.closed = True


def order(oid: str, *, status: OrderStatus = OrderStatus.NEW, client_id: int | None = None) -> OrderUpdate:
    return OrderUpdate(
        symbol=SYM,
        order_id=oid,
        client_id=int(oid) if client_id is None else client_id,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=D("99.5"),
        quantity=D("0.1"),
        filled_quantity=D(0),
        status=status,
        post_only=True,
    )


def synced_state(*orders: OrderUpdate) -> ExecState:
    state = ExecState(SYM)
    beat = Heartbeat(process="order_gateway", instance="a", loop_count=1)
    state.on_message(Envelope(1, beat.TYPE, 1, 0, 0, "order_gateway:a", beat), gap=0, now_s=0.0)
    snap = Snapshot(symbol=SYM, exec_seq=1, exec_src="order_gateway:a", orders=list(orders))
    assert state.apply_snapshot(snap, now_s=0.0) is not None
    return state


def client(fake: FakeClient, state: ExecState, lost: list[bool]) -> GatewayClient:
    return GatewayClient(
        fake,  # type: ignore[arg-type]
        symbol=SYM,
        exec_state=state,
        ids=ClientIds(base=100),
        on_lost=lambda: lost.append(True),
    )


INTENT = OrderIntent(side=Side.BUY, quantity=D("0.1"), price=D("99.5"), post_only=True, reduce_only=False)


async def test_place_sends_the_intent_under_a_fresh_client_id_and_records_the_order() -> None:
    state, lost = synced_state(), list[bool]()
    fake = FakeClient(lambda m: OrderReply(ok=True, order=order("7", client_id=m.client_id)))
    gateway = client(fake, state, lost)
    placed = await gateway.place(INTENT, Role.QUOTE)
    sent = fake.sent[0]
    assert isinstance(sent, Place)
    assert (sent.client_id, sent.side, sent.price, sent.quantity) == (100, Side.BUY, D("99.5"), D("0.1"))
    assert sent.post_only and not sent.reduce_only and sent.order_type is OrderType.LIMIT
    assert placed is not None and state.orders(Role.QUOTE) == [placed]
    assert not lost


async def test_a_refused_place_returns_none_and_is_counted() -> None:
    state, lost = synced_state(), list[bool]()
    fake = FakeClient(OrderReply(ok=False, reason=RejectReason.POST_ONLY_WOULD_TAKE, message="would take"))
    assert await client(fake, state, lost).place(INTENT, Role.QUOTE) is None
    assert state.all_orders() == []


async def test_no_answer_loses_the_sync_and_tells_the_runner() -> None:
    state, lost = synced_state(), list[bool]()
    gateway = client(FakeClient(RequestTimeout("silent")), state, lost)
    assert await gateway.place(INTENT, Role.QUOTE) is None
    assert lost == [True] and not state.synced


async def test_cancel_applies_the_reply_or_forgets_an_unknown_order() -> None:
    resting = order("1")
    state, lost = synced_state(resting, order("2")), list[bool]()
    fake = FakeClient(
        OrderReply(ok=True, order=order("1", status=OrderStatus.CANCELLED)),
        OrderReply(ok=False, reason=RejectReason.UNKNOWN_ORDER),
        OrderReply(ok=False, reason=RejectReason.UNAVAILABLE),
    )
    gateway = client(fake, state, lost)
    assert await gateway.cancel(resting)
    assert isinstance(fake.sent[0], Cancel) and fake.sent[0].order_id == "1"
    assert await gateway.cancel(order("2"))
    assert state.all_orders() == []
    assert not await gateway.cancel(order("3"))


async def test_cancel_all_verified_repeats_until_no_order_of_ours_is_left() -> None:
    state, lost = synced_state(), list[bool]()
    guardian_order = order("9", client_id=GUARDIAN_ID_BIT | 3)
    # A stop the trader set in the web app stays: it is not ours to cancel, so it never counts as left.
    foreign_stop = dataclasses.replace(
        order("10", client_id=None), order_type=OrderType.CONDITIONAL, foreign=True
    )
    fake = FakeClient(
        CancelAllReply(ok=True, cancelled=2),
        Snapshot(symbol=SYM, exec_seq=3, exec_src="g", orders=[order("5")]),
        CancelAllReply(ok=True, cancelled=1),
        Snapshot(symbol=SYM, exec_seq=4, exec_src="g", orders=[guardian_order, foreign_stop]),
    )
    snap = await client(fake, state, lost).cancel_all_verified(attempts=3)
    assert snap is not None and snap.exec_seq == 4
    assert [type(m) for m in fake.sent] == [CancelAll, SnapshotRequest, CancelAll, SnapshotRequest]


async def test_close_position_sends_a_reduce_only_market_order_on_the_closing_side() -> None:
    state, lost = synced_state(), list[bool]()
    fake = FakeClient(lambda m: OrderReply(ok=True, order=order("8", status=OrderStatus.FILLED)))
    assert await client(fake, state, lost).close_position(D("-0.3"), RULES)
    sent = fake.sent[0]
    assert isinstance(sent, Place)
    assert (sent.side, sent.quantity, sent.order_type, sent.reduce_only, sent.price) == (
        Side.BUY,
        D("0.3"),
        OrderType.MARKET,
        True,
        None,
    )
    assert await client(FakeClient(), state, lost).close_position(D(0), RULES)


async def test_close_position_larger_than_one_market_order_goes_in_several() -> None:
    state, lost = synced_state(), list[bool]()
    fake = FakeClient(
        *(
            lambda m, oid=oid: OrderReply(ok=True, order=order(oid, status=OrderStatus.FILLED))
            for oid in "789"
        )
    )
    capped = dataclasses.replace(RULES, max_market_quantity=D("0.2"))
    assert await client(fake, state, lost).close_position(D("0.5"), capped)
    assert [(m.side, m.quantity) for m in fake.sent if isinstance(m, Place)] == [
        (Side.SELL, D("0.2")),
        (Side.SELL, D("0.2")),
        (Side.SELL, D("0.1")),
    ]


def test_the_guardians_orders_and_foreign_ones_are_not_ours() -> None:
    assert ours(order("1", client_id=5))
    assert ours(dataclasses.replace(order("1"), client_id=None))
    assert not ours(order("1", client_id=GUARDIAN_ID_BIT | 5))
    assert not ours(dataclasses.replace(order("1", client_id=5), foreign=True))


async def test_send_puts_the_urgent_cancels_first_and_holds_the_late_places_for_every_cancel() -> None:
    exposed, shielded = order("1"), order("2")
    state, lost = synced_state(exposed, shielded), list[bool]()
    late = dataclasses.replace(INTENT, price=D("99.9"))
    reduce = OrderIntent(side=Side.SELL, quantity=D("0.1"), price=None, post_only=False, reduce_only=True)

    def answer(msg: Message) -> OrderReply:
        if isinstance(msg, Cancel):
            return OrderReply(ok=True, order=order(msg.order_id or "", status=OrderStatus.CANCELLED))
        assert isinstance(msg, Place)
        return OrderReply(ok=True, order=order(str(msg.client_id), client_id=msg.client_id))

    fake = FakeClient(*[answer] * 5)
    firsts: list[int] = []
    batches = Batches(urgent=(exposed,), early=(INTENT,), cancels=(shielded,), late=(late, reduce))
    ok, placed = await client(fake, state, lost).send(
        batches, on_first_place=lambda: firsts.append(len(fake.sent))
    )
    assert ok and len(placed) == 3 and firsts == [0]
    kinds = [(type(m).__name__, getattr(m, "order_id", None) or getattr(m, "price", None)) for m in fake.sent]
    assert kinds == [
        ("Cancel", "1"),
        ("Place", D("99.5")),
        ("Cancel", "2"),
        ("Place", D("99.9")),
        ("Place", None),
    ]
    # The reduce is journaled under its role.
    assert [o.client_id for o in state.orders(Role.REDUCE)] == [placed[-1].client_id]


async def test_send_places_nothing_late_when_a_cancel_fails() -> None:
    resting = order("1")
    state, lost = synced_state(resting), list[bool]()
    fake = FakeClient(OrderReply(ok=False, reason=RejectReason.UNAVAILABLE, message="down"))
    firsts: list[bool] = []
    batches = Batches(urgent=(resting,), late=(INTENT,))
    ok, placed = await client(fake, state, lost).send(batches, on_first_place=lambda: firsts.append(True))
    assert not ok and placed == [] and firsts == []
    assert [type(m) for m in fake.sent] == [Cancel]
