"""OrderDesk without processes: a scripted venue, a real journal, a recording publisher."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from order_gateway.calls import VenueCalls
from order_gateway.desk import OrderDesk, venue_reason
from order_gateway.journal import Journal
from order_gateway.limits import Limits, TokenBucket
from order_gateway.state import SymbolState
from services.bus import Publisher
from services.codec import Envelope
from services.wire import (
    Cancel,
    CancelAll,
    ErrorReply,
    Fill,
    Message,
    OrderReply,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Ping,
    Place,
    Pong,
    Position,
    Quotes,
    RejectReason,
    Side,
    Snapshot,
    SnapshotRequest,
    TradingState,
)
from venues.base import AuthError, RateLimited, Rejected, Unavailable, UnknownOrderState, Venue, VenueError
from venues.precision import MarketRules

D = Decimal
SYM = "SOL_USDC_PERP"
RULES = MarketRules(SYM, "SOL", "USDC", D("0.01"), D("0.01"), D("0.01"))


class Recorder:
    """Stands in for the exec ``Publisher``: keeps what was published."""

    def __init__(self) -> None:
        self.seq = 0
        self.src = "order_gateway:test"
        self.sent: list[tuple[str, Message]] = []

    def publish(self, topic: str, msg: Message, *, ts_ns: int | None = None) -> bool:
        self.seq += 1
        self.sent.append((topic, msg))
        return True


class ScriptedVenue:
    """Answers ``place_order`` with the next scripted result (an update or an error)."""

    name = "backpack"

    def __init__(self) -> None:
        self.results: list[OrderUpdate | VenueError] = []
        self.placed: list[Place] = []

    async def place_order(self, order: Place) -> OrderUpdate:
        self.placed.append(order)
        result = self.results.pop(0)
        if isinstance(result, VenueError):
            raise result
        return result

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> Any:
        raise Rejected("HTTP 400: Order not found", reason=RejectReason.UNKNOWN_ORDER)


def accepted(place: Place, order_id: str = "1", filled: str = "0") -> OrderUpdate:
    return OrderUpdate(
        symbol=SYM,
        order_id=order_id,
        client_id=place.client_id,
        side=place.side,
        order_type=place.order_type,
        price=place.price,
        quantity=place.quantity,
        filled_quantity=D(filled),
        status=OrderStatus.NEW if D(filled) == 0 else OrderStatus.PARTIALLY_FILLED,
    )


def place(client_id: int = 5, quantity: str = "1", **kw: Any) -> Place:
    return Place(
        **{
            "client_id": client_id,
            "symbol": SYM,
            "side": Side.BUY,
            "quantity": D(quantity),
            "price": D(100),
            **kw,
        }
    )


@pytest.fixture
def desk(tmp_path: Path) -> OrderDesk:
    trading: list[tuple[TradingState, str]] = [(TradingState.ACTIVE, "")]
    venue = ScriptedVenue()
    desk = OrderDesk(
        rules=RULES,
        venue=cast(Venue, venue),
        calls=VenueCalls("backpack", now_s=0.0),
        journal=Journal(tmp_path / "journal.sqlite"),
        state=SymbolState(SYM),
        limits=Limits(max_position=D(2)),
        order_bucket=TokenBucket(rate_per_s=100, burst=100, now_s=0.0),
        trading=lambda: trading[-1],
        publisher=cast(Publisher, Recorder()),
    )
    desk.status.ready = desk.status.stream_live = True
    desk.state.set_position(Position(symbol=SYM, quantity=D(0), entry_price=D(0)))
    return desk


def venue_of(desk: OrderDesk) -> ScriptedVenue:
    return cast(ScriptedVenue, desk.venue)


def sent(desk: OrderDesk) -> list[tuple[str, Message]]:
    return cast(Recorder, desk.pub).sent


def env(msg: Message) -> Envelope:
    return Envelope(1, msg.TYPE, 1, 0, 0, "tester:1", msg)


async def test_a_placed_order_is_journaled_published_and_answered_once(desk: OrderDesk) -> None:
    order = place()
    venue_of(desk).results.append(accepted(order))
    reply = await desk.place(order)
    assert reply == OrderReply(ok=True, order=accepted(order))
    again = await desk.place(order)
    assert again.ok and again.order == accepted(order)
    assert len(venue_of(desk).placed) == 1
    assert [topic for topic, _ in sent(desk)] == [f"ex.order.{SYM}"]
    journaled = desk.journal.order(5)
    assert journaled is not None and journaled.status == "new" and journaled.order_id == "1"


async def test_a_venue_refusal_is_journaled_and_replayed(desk: OrderDesk) -> None:
    order = place()
    venue_of(desk).results.append(Rejected("would take", reason=RejectReason.POST_ONLY_WOULD_TAKE))
    reply = await desk.place(order)
    assert not reply.ok and reply.reason is RejectReason.POST_ONLY_WOULD_TAKE
    replay = await desk.place(order)
    assert (
        not replay.ok
        and replay.reason is RejectReason.POST_ONLY_WOULD_TAKE
        and "would take" in replay.message
    )
    assert len(venue_of(desk).placed) == 1


async def test_an_unknown_outcome_blocks_new_orders_until_resolved(desk: OrderDesk) -> None:
    venue_of(desk).results.append(UnknownOrderState("timed out", client_id=5))
    reply = await desk.place(place(5))
    assert not reply.ok and reply.reason is RejectReason.UNKNOWN_STATE
    assert 5 in desk.state.unknown
    blocked = await desk.place(place(6))
    assert not blocked.ok and blocked.reason is RejectReason.UNKNOWN_STATE
    # It counts as resting while unknown.
    exposure = desk.state.exposure()
    assert exposure is not None and exposure.resting_buy == D(1)
    desk.on_order(accepted(place(5), "9"), ts_ns=1)
    assert desk.state.unknown == {}


async def test_limits_and_state_refuse_before_the_venue(desk: OrderDesk) -> None:
    venue_of(desk).results.append(accepted(place(1, "1.5")))
    assert (await desk.place(place(1, "1.5"))).ok
    over = await desk.place(place(2, "0.6"))
    assert not over.ok and over.reason is RejectReason.POSITION_LIMIT
    desk.status.stream_live = False
    down = await desk.place(place(3, "0.1"))
    assert not down.ok and down.reason is RejectReason.UNAVAILABLE
    desk.status.stream_live = True
    desk.trading = lambda: (TradingState.HALTED, "manual halt")
    halted = await desk.place(place(4, "0.1"))
    assert not halted.ok and halted.reason is RejectReason.TRADING_STATE and "manual halt" in halted.message
    wrong_symbol = await desk.place(dataclasses.replace(place(7), symbol="BTC_USDC_PERP"))
    assert not wrong_symbol.ok and wrong_symbol.reason is RejectReason.MALFORMED
    assert len(venue_of(desk).placed) == 1
    assert desk.journal.order(2) is None


async def test_requests_are_dispatched_and_unknown_kinds_refused(desk: OrderDesk) -> None:
    pong = await desk.handle(env(Ping()))
    assert pong == Pong(process="order_gateway", state=TradingState.ACTIVE)
    snap = await desk.handle(env(SnapshotRequest(symbol=SYM)))
    assert isinstance(snap, Snapshot) and snap.exec_seq == 0 and snap.position is not None
    error = await desk.handle(env(Quotes(symbol=SYM, bids=[], asks=[])))
    assert isinstance(error, ErrorReply) and error.reason is RejectReason.MALFORMED
    cancel = await desk.handle(env(Cancel(symbol=SYM, order_id="404")))
    assert isinstance(cancel, OrderReply) and cancel.reason is RejectReason.UNKNOWN_ORDER
    both = await desk.handle(env(Cancel(symbol=SYM, order_id="1", client_id=1)))
    assert isinstance(both, OrderReply) and both.reason is RejectReason.MALFORMED
    desk.status.ready = False
    busy = await desk.handle(env(SnapshotRequest(symbol=SYM)))
    assert isinstance(busy, ErrorReply) and busy.reason is RejectReason.UNAVAILABLE


def test_fills_are_published_once_and_missing_ones_noticed(desk: OrderDesk) -> None:
    order = place(5, order_type=OrderType.LIMIT)
    desk.journal.record_intent(order, now_ns=0)
    desk.on_order(accepted(order, "1", filled="0.5"), ts_ns=1)
    fill = Fill(
        symbol=SYM,
        trade_id="t1",
        order_id="1",
        client_id=5,
        side=Side.BUY,
        price=D(100),
        quantity=D("0.25"),
        fee=D("0.01"),
        fee_asset="USDC",
        is_maker=True,
    )
    assert desk.on_fill(fill, ts_ns=2)
    assert not desk.on_fill(fill, ts_ns=3)
    assert [topic for topic, _ in sent(desk)].count(f"ex.fill.{SYM}") == 1
    assert not desk.fills_missing(now_s=0.0)
    # 0.5 reported filled, 0.25 journaled: past the grace period the history must be read.
    assert desk.fills_missing(now_s=1e9)
    assert not desk.fills_missing(now_s=1e9)


def test_venue_errors_map_to_reasons() -> None:
    assert venue_reason(Rejected("x", reason=RejectReason.BAD_PRICE)) is RejectReason.BAD_PRICE
    assert venue_reason(RateLimited("x", retry_after_s=1)) is RejectReason.RATE_LIMITED
    assert venue_reason(AuthError("x")) is RejectReason.AUTH
    assert venue_reason(UnknownOrderState("x", client_id=1)) is RejectReason.UNKNOWN_STATE
    assert venue_reason(Unavailable("x")) is RejectReason.UNAVAILABLE
    assert venue_reason(VenueError("x")) is RejectReason.OTHER


async def test_the_order_rate_limit_refuses_with_a_reason(desk: OrderDesk) -> None:
    desk.order_bucket = TokenBucket(rate_per_s=1.0, burst=1.0, now_s=0.0)
    venue_of(desk).results.append(accepted(place(1, "0.1")))
    assert (await desk.place(place(1, "0.1"))).ok
    refused = await desk.place(place(2, "0.1"))
    assert not refused.ok and refused.reason is RejectReason.RATE_LIMITED
    assert len(venue_of(desk).placed) == 1


async def test_market_orders_are_valued_at_a_fresh_md_mark_else_the_positions(desk: OrderDesk) -> None:
    desk.limits = Limits(max_position=D(2), max_order_notional=D(150))
    market = place(1, "1", order_type=OrderType.MARKET, price=None)
    refused = await desk.place(market)
    assert (
        not refused.ok
        and refused.reason is RejectReason.NOTIONAL_LIMIT
        and "reference price" in refused.message
    )
    desk.state.set_position(Position(symbol=SYM, quantity=D(0), entry_price=D(0), mark_price=D(160)))
    assert desk.reference_price() == D(160)
    desk.on_mark(D(140), now_s=time.monotonic())
    assert desk.reference_price() == D(140)
    venue_of(desk).results.append(accepted(market))
    assert (await desk.place(market)).ok
    desk.on_mark(D(140), now_s=time.monotonic() - 3600)
    assert desk.reference_price() == D(160)


class CancellingVenue(ScriptedVenue):
    """Cancels one order at a time; a cancel-all on the venue would take foreign orders too."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled: list[str | int | None] = []

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_id: int | None = None
    ) -> OrderUpdate:
        self.cancelled.append(order_id if order_id is not None else client_id)
        if client_id is not None:
            raise Rejected("no such order", reason=RejectReason.UNKNOWN_ORDER)
        return dataclasses.replace(
            accepted(place(), order_id=str(order_id)), client_id=None, status=OrderStatus.CANCELLED
        )

    async def cancel_all(self, symbol: str) -> int:
        raise AssertionError("the strategy's cancel-all must never reach the venue's cancel-all")


def foreign_stop(order_id: str = "900", *, reduce_only: bool = True) -> OrderUpdate:
    """A stop-loss the trader set in the venue's web app (no client id of ours)."""
    return OrderUpdate(
        symbol=SYM,
        order_id=order_id,
        client_id=None,
        side=Side.SELL,
        order_type=OrderType.CONDITIONAL,
        price=None,
        quantity=D(1),
        filled_quantity=D(0),
        status=OrderStatus.NEW,
        reduce_only=reduce_only,
        venue_type="STOP_MARKET",
    )


async def test_a_foreign_order_is_tracked_and_published_as_foreign(desk: OrderDesk) -> None:
    desk.on_order(foreign_stop(), ts_ns=1)
    desk.on_order(dataclasses.replace(accepted(place(77)), order_id="901"), ts_ns=2)
    published = [msg for _, msg in sent(desk) if isinstance(msg, OrderUpdate)]
    assert [(o.order_id, o.foreign) for o in published] == [("900", True), ("901", True)]
    snap = desk.snapshot(SnapshotRequest(symbol=SYM))
    assert isinstance(snap, Snapshot) and {o.order_id for o in snap.orders if o.foreign} == {"900", "901"}
    assert desk.journal.order(77) is None
    # The plain limit order counts in the worst case; the reduce-only stop cannot add to the position.
    exposure = desk.state.exposure()
    assert exposure is not None and (exposure.resting_buy, exposure.resting_sell) == (D(1), D(0))


async def test_cancel_all_cancels_ours_one_by_one_and_never_a_foreign_order(tmp_path: Path) -> None:
    venue = CancellingVenue()
    desk = OrderDesk(
        rules=RULES,
        venue=cast(Venue, venue),
        calls=VenueCalls("backpack", now_s=0.0),
        journal=Journal(tmp_path / "journal.sqlite"),
        state=SymbolState(SYM),
        limits=Limits(max_position=D(5)),
        order_bucket=TokenBucket(rate_per_s=100, burst=100, now_s=0.0),
        trading=lambda: (TradingState.ACTIVE, ""),
        publisher=cast(Publisher, Recorder()),
    )
    desk.status.ready = desk.status.stream_live = True
    desk.state.set_position(Position(symbol=SYM, quantity=D(0), entry_price=D(0)))
    ours = place(5)
    venue.results.append(accepted(ours, order_id="1"))
    assert (await desk.place(ours)).ok
    desk.on_order(foreign_stop(), ts_ns=1)
    reply = await desk.cancel_all(CancelAll(symbol=SYM))
    assert reply.ok and reply.cancelled == 1
    assert venue.cancelled == ["1"]
    assert [o.order_id for o in desk.state.open_orders()] == ["900"]


async def test_a_conditional_place_from_the_bus_is_refused_as_malformed(desk: OrderDesk) -> None:
    reply = await desk.place(place(9, order_type=OrderType.CONDITIONAL, price=None))
    assert not reply.ok and reply.reason is RejectReason.MALFORMED
    assert venue_of(desk).placed == [] and desk.journal.order(9) is None


def test_the_journal_does_not_take_a_foreign_order_with_one_of_our_client_ids(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    ours = place(5)
    journal.record_intent(ours, now_ns=1)
    assert journal.record_order(accepted(ours, order_id="1"), now_ns=2)
    assert journal.owner(accepted(ours, order_id="1")) == ours.client_id
    assert journal.owner(dataclasses.replace(foreign_stop("2"), client_id=5)) is None
    assert journal.owner(foreign_stop("3")) is None
