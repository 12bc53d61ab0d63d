"""Paradex SBE frames: the documented layouts, exact decimals, nulls, versions and malformed frames."""

from __future__ import annotations

import struct
from decimal import Decimal

import pytest

from venues.common.parse import MalformedResponse
from venues.paradex import sbe
from venues.paradex.parse import bbo_from_venue, book_message, mark_from_summary, trade_from_venue


def test_trade_frame_layout_and_round_trip() -> None:
    frame = sbe.encode_trade(
        market="BTC-USD-PERP",
        trade_id=77,
        side="SELL",
        price=Decimal("42000.5"),
        size=Decimal("0.001"),
        seq=9,
        ts_us=1_700_000_000_123_456,
    )
    block_length, template, schema, version = struct.unpack_from("<HHHH", frame)
    assert (block_length, template, schema, version) == (50, sbe.TRADE, 1, 1)
    # price 42000.50 -> mantissa 4200050000000, size 0.001 -> 100000 (the schema's own examples)
    assert struct.unpack_from("<q", frame, 8 + 25)[0] == 4_200_050_000_000
    assert struct.unpack_from("<q", frame, 8 + 33)[0] == 100_000
    decoded = sbe.decode(frame)
    assert decoded is not None
    channel, data = decoded
    assert channel == "trades.BTC-USD-PERP"
    trade = trade_from_venue(data)
    assert (trade.trade_id, trade.price, trade.quantity, trade.taker_side.value) == (
        "77",
        Decimal("42000.5"),
        Decimal("0.001"),
        "sell",
    )


def test_bbo_with_an_empty_side_is_null() -> None:
    frame = sbe.encode_bbo(
        market="ETH-USD-PERP", bid=(Decimal("3000.01"), Decimal(2)), ask=None, seq=5, ts_us=2_000_000
    )
    decoded = sbe.decode(frame)
    assert decoded is not None
    channel, data = decoded
    assert channel == "bbo.ETH-USD-PERP" and data["ask"] == "" and data["seq_no"] == 5
    assert bbo_from_venue(data) is None
    both = sbe.decode(
        sbe.encode_bbo(market="E", bid=(Decimal(1), Decimal(2)), ask=(Decimal(3), Decimal(4)), seq=6, ts_us=0)
    )
    assert both is not None
    bbo = bbo_from_venue(both[1] | {"market": "E"})
    assert bbo is not None and (bbo.bid, bbo.bid_qty, bbo.ask, bbo.ask_qty) == (1, 2, 3, 4)


def test_book_snapshot_and_delta() -> None:
    bids = [(Decimal("100.1"), Decimal("1.5")), (Decimal(100), Decimal(2))]
    asks = [(Decimal("100.2"), Decimal("0.25"))]
    frame = sbe.encode_book(market="SOL-USD-PERP", bids=bids, asks=asks, snapshot=True, seq=41, ts_us=5_000)
    assert struct.unpack_from("<H", frame, 0)[0] == 89  # the documented root block
    decoded = sbe.decode(frame)
    assert decoded is not None
    channel, data = decoded
    assert channel == "order_book.SOL-USD-PERP.snapshot@15@100ms"
    message = book_message(data)
    assert message.snapshot and message.seq_no == 41 and message.bids == bids and message.asks == asks
    delta = sbe.decode(
        sbe.encode_book(
            market="SOL-USD-PERP",
            bids=[(Decimal(100), Decimal(0))],
            asks=asks,
            snapshot=False,
            seq=42,
            ts_us=0,
        )
    )
    assert delta is not None
    update = book_message(delta[1])
    assert not update.snapshot and update.bids == [(Decimal(100), Decimal(0))] and update.asks == asks


def test_summary_prefers_the_precise_funding_rate_and_reads_version_0() -> None:
    frame = sbe.encode_summary(
        market="BTC-USD-PERP",
        mark=Decimal("60000.5"),
        index=Decimal("60000.4"),
        last=None,
        funding_rate=Decimal("0.000100000013"),
        bid=Decimal(60000),
        ask=None,
        seq=1,
        ts_us=0,
    )
    decoded = sbe.decode(frame)
    assert decoded is not None
    mark = mark_from_summary(decoded[1])
    assert (mark.mark, mark.index, mark.funding_rate) == (
        Decimal("60000.5"),
        Decimal("60000.4"),
        Decimal("0.000100000013"),
    )
    assert decoded[1]["last_traded_price"] == "" and decoded[1]["ask"] == ""
    # A version 0 frame has no precise rate: the 8-decimal one is used.
    header = struct.pack("<HHHH", 216, sbe.SUMMARY, 1, 0)
    block = frame[8 : 8 + 216]
    tail = frame[8 + struct.unpack_from("<H", frame)[0] :]
    old = sbe.decode(header + block + tail)
    assert old is not None and old[1]["funding_rate"] == "0.0001"


def test_unknown_templates_are_skipped_and_bad_frames_refused() -> None:
    assert sbe.decode(struct.pack("<HHHH", 4, 6, 1, 1) + b"\0" * 4) is None
    with pytest.raises(MalformedResponse):
        sbe.decode(struct.pack("<HHHH", 48, sbe.BBO, 2, 1) + b"\0" * 48)
    with pytest.raises(MalformedResponse):
        sbe.decode(struct.pack("<HHHH", 8, sbe.BBO, 1, 1) + b"\0" * 8)
    frame = sbe.encode_bbo(market="BTC-USD-PERP", bid=None, ask=None, seq=1, ts_us=0)
    with pytest.raises(MalformedResponse):
        sbe.decode(frame[:-3])
    with pytest.raises(ValueError):
        sbe.encode_bbo(market="X", bid=(Decimal("0.000000001"), Decimal(1)), ask=None, seq=1, ts_us=0)
