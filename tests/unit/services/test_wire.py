"""The wire codec: exact Decimal round trips, every message type, and one error type for bad input."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import wire
from services.codec import SCHEMA_VERSION, WireError, decode, encode

ENV: dict[str, Any] = {
    "seq": 7,
    "ts": 1_700_000_000_000_000_000,
    "sent": 1_700_000_000_000_000_001,
    "src": "md_gateway:ab12",
}

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None)


def roundtrip(msg: wire.Message) -> wire.Envelope:
    return decode(encode(msg, **ENV))


def order(**kw: Any) -> wire.OrderUpdate:
    fields: dict[str, Any] = {
        "symbol": "SOL_USDC_PERP",
        "order_id": "11",
        "client_id": 4_000_000_000,
        "side": wire.Side.SELL,
        "order_type": wire.OrderType.LIMIT,
        "price": Decimal("150.01"),
        "quantity": Decimal("0.10"),
        "filled_quantity": Decimal("0"),
        "status": wire.OrderStatus.NEW,
        "post_only": True,
    }
    fields.update(kw)
    return wire.OrderUpdate(**fields)


SAMPLES: list[wire.Message] = [
    wire.Bbo(
        symbol="S",
        bid=Decimal("1.1"),
        bid_qty=Decimal("2"),
        ask=Decimal("1.2"),
        ask_qty=Decimal("3"),
        update_id=9,
    ),
    wire.Book(symbol="S", bids=[(Decimal("1"), Decimal("2"))], asks=[(Decimal("1.5"), Decimal("0.001"))]),
    wire.Trade(
        symbol="S", trade_id="t1", price=Decimal("1"), quantity=Decimal("2"), taker_side=wire.Side.BUY
    ),
    wire.Mark(
        symbol="S",
        mark=Decimal("150.1"),
        index=Decimal("150"),
        funding_rate=Decimal("0.0001"),
        next_funding_ms=1,
    ),
    wire.MdStatus(state=wire.FeedState.STALE, symbol="S", reason="ws closed"),
    order(),
    wire.Fill(
        symbol="S",
        trade_id="9",
        order_id="1",
        client_id=None,
        side=wire.Side.BUY,
        price=Decimal("1"),
        quantity=Decimal("1"),
        fee=Decimal("-0.0002"),
        fee_asset="USDC",
        is_maker=True,
    ),
    wire.Position(symbol="S", quantity=Decimal("-0.5"), entry_price=Decimal("150")),
    wire.Balance(
        asset="USDC", equity=Decimal("10000"), available=Decimal("9000"), margin_fraction=Decimal("0.5")
    ),
    wire.FundingPayment(symbol="S", payment_id="f1", amount=Decimal("-0.01")),
    wire.ExStatus(state=wire.FeedState.LIVE),
    wire.Place(
        client_id=1,
        symbol="S",
        side=wire.Side.BUY,
        quantity=Decimal("0.1"),
        price=Decimal("1"),
        post_only=True,
    ),
    wire.Cancel(symbol="S", client_id=1),
    wire.CancelAll(symbol="S"),
    wire.SnapshotRequest(symbol="S"),
    wire.Ping(),
    wire.Pong(process="order_gateway", state=wire.TradingState.REDUCING),
    wire.OrderReply(ok=False, reason=wire.RejectReason.POSITION_LIMIT, message="would exceed"),
    wire.OrderReply(ok=True, order=order()),
    wire.CancelAllReply(ok=True, cancelled=3),
    wire.Snapshot(
        symbol="S",
        exec_seq=5,
        exec_src="order_gateway:1",
        orders=[order()],
        position=wire.Position(symbol="S", quantity=Decimal("1"), entry_price=Decimal("2")),
        balances=[wire.Balance(asset="USDC", equity=Decimal("1"), available=Decimal("1"))],
    ),
    wire.ErrorReply(reason=wire.RejectReason.MALFORMED, message="x"),
    wire.Heartbeat(process="strategy", instance="ab", loop_count=3),
    wire.RiskState(state=wire.TradingState.HALTED, reason="strategy_hang", symbol="S"),
    wire.RiskEvent(action="close", reason="stop_loss", symbol="S", quantity=Decimal("0.8")),
    wire.RiskCommand(action="halt", reason="manual"),
    wire.RiskStatus(
        state=wire.TradingState.ACTIVE, reason="", symbol="S", heartbeat_ages_s={"strategy": 0.2}
    ),
    wire.StrategyDone(instance="strategy:1a2b", symbol="S", reason="duration"),
    wire.Quotes(symbol="S", bids=[(Decimal("1"), Decimal("1"))], asks=[], mid=Decimal("1.5")),
    wire.PnlReport(
        symbol="S",
        realized=Decimal("1"),
        unrealized=Decimal("-1"),
        fees=Decimal("0.1"),
        funding=Decimal("0"),
        volume_base=Decimal("3"),
        position=Decimal("0"),
    ),
]


def test_samples_cover_every_registered_message() -> None:
    assert {type(m).TYPE for m in SAMPLES} == set(wire.message_types())


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_every_message_round_trips_with_its_envelope(msg: wire.Message) -> None:
    env = roundtrip(msg)
    assert env.body == msg
    assert (env.v, env.type, env.seq, env.ts, env.sent, env.src) == (
        SCHEMA_VERSION,
        msg.TYPE,
        ENV["seq"],
        ENV["ts"],
        ENV["sent"],
        ENV["src"],
    )


@given(price=decimals, qty=decimals)
def test_decimals_round_trip_exactly_including_exponent_and_trailing_zeros(
    price: Decimal, qty: Decimal
) -> None:
    got = roundtrip(
        wire.Trade(symbol="S", trade_id="1", price=price, quantity=qty, taker_side=wire.Side.SELL)
    ).body
    assert isinstance(got, wire.Trade)
    assert str(got.price) == str(price) and str(got.quantity) == str(qty)


def test_decimal_never_travels_as_a_float() -> None:
    frame = encode(wire.Mark(symbol="S", mark=Decimal("0.1")), **ENV)
    raw = msgpack.unpackb(frame)
    assert raw["mark"] == "0.1"


def _frame(**fields: Any) -> bytes:
    base = {
        "v": SCHEMA_VERSION,
        "type": "cancel_all",
        "seq": 1,
        "ts": 1,
        "sent": 1,
        "src": "x",
        "symbol": "S",
    }
    base.update(fields)
    return msgpack.packb({k: v for k, v in base.items() if v is not ...})


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (b"\xc1", "not msgpack"),
        (msgpack.packb([1, 2]), "not a map"),
        (_frame(v=2), "schema version"),
        (_frame(type="nope"), "unknown message type"),
        (_frame(seq="1"), "wrong types"),
        (_frame(src=...), "'src' missing"),
        (_frame(symbol=...), "missing field 'symbol'"),
        (_frame(symbol=5), "expected str"),
        (_frame(extra=1), "unknown fields"),
        (_frame(type="ping", symbol=...) + b"", "ping"),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "type": "bbo",
                    "seq": 1,
                    "ts": 1,
                    "sent": 1,
                    "src": "x",
                    "symbol": "S",
                    "bid": 1.5,
                    "bid_qty": 1,
                    "ask": 1,
                    "ask_qty": 1,
                }
            ),
            "expected a decimal string",
        ),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "type": "heartbeat",
                    "seq": 1,
                    "ts": 1,
                    "sent": 1,
                    "src": "x",
                    "process": "p",
                    "instance": "i",
                    "loop_count": True,
                }
            ),
            "expected int",
        ),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "type": "place",
                    "seq": 1,
                    "ts": 1,
                    "sent": 1,
                    "src": "x",
                    "client_id": 1,
                    "symbol": "S",
                    "side": "up",
                    "quantity": "1",
                }
            ),
            "not a Side",
        ),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "type": "mark",
                    "seq": 1,
                    "ts": 1,
                    "sent": 1,
                    "src": "x",
                    "symbol": "S",
                    "mark": "abc",
                }
            ),
            "bad decimal",
        ),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "type": "mark",
                    "seq": 1,
                    "ts": 1,
                    "sent": 1,
                    "src": "x",
                    "symbol": "S",
                    "mark": "NaN",
                }
            ),
            "not a finite decimal",
        ),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "type": "mark",
                    "seq": 1,
                    "ts": 1,
                    "sent": 1,
                    "src": "x",
                    "symbol": "S",
                    "mark": msgpack.ExtType(9, b"1"),
                }
            ),
            "expected a decimal string",
        ),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "type": "book",
                    "seq": 1,
                    "ts": 1,
                    "sent": 1,
                    "src": "x",
                    "symbol": "S",
                    "bids": [["1"]],
                    "asks": [],
                }
            ),
            "expected 2 items",
        ),
    ],
)
def test_malformed_frames_raise_one_typed_error(frame: bytes, fragment: str) -> None:
    if fragment == "ping":  # a valid ping frame: the control case proving the builder makes good frames
        assert isinstance(decode(frame).body, wire.Ping)
        return
    with pytest.raises(WireError, match=fragment.replace("(", r"\(")):
        decode(frame)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_wire_error(data: bytes) -> None:
    with contextlib.suppress(WireError):
        decode(data)


def test_idempotency_keys() -> None:
    place = SAMPLES[11]
    assert wire.idempotency_key(place) == "place:1"
    assert wire.idempotency_key(wire.Cancel(symbol="S", order_id="77")) == "cancel:S:77"
    assert wire.idempotency_key(wire.Ping()) is None
