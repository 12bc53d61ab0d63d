"""The emulator's SBE negotiation and its public frames, read back with the connector's decoder."""

from __future__ import annotations

from venues.emulator.paradex_sbe import negotiated, public_frame
from venues.paradex import sbe


def test_negotiation() -> None:
    assert negotiated({}) is False
    assert negotiated({"sbeSchemaId": "1", "sbeSchemaVersion": "1"}) is True
    assert negotiated({"sbeSchemaId": "1", "sbeSchemaVersion": "0"}) is True
    assert negotiated({"sbeSchemaId": "2", "sbeSchemaVersion": "1"}) is None
    assert negotiated({"sbeSchemaId": "1"}) is None


def test_public_frames_carry_what_the_json_carries() -> None:
    bbo = {
        "market": "BTC-USD-PERP",
        "bid": "1.5",
        "bid_size": "2",
        "ask": "",
        "ask_size": "",
        "seq_no": 3,
        "last_updated_at": 7,
    }
    frame = public_frame("bbo.BTC-USD-PERP", bbo)
    assert frame is not None and sbe.decode(frame) == ("bbo.BTC-USD-PERP", bbo)
    book = {
        "market": "BTC-USD-PERP",
        "seq_no": 9,
        "last_updated_at": 7,
        "update_type": "s",
        "inserts": [{"side": "BUY", "price": "1", "size": "2"}, {"side": "SELL", "price": "3", "size": "4"}],
        "updates": [],
        "deletes": [],
    }
    channel = "order_book.BTC-USD-PERP.snapshot@15@100ms"
    frame = public_frame(channel, book)
    assert frame is not None and sbe.decode(frame) == (channel, book)
    trade = {"id": "5", "market": "BTC-USD-PERP", "side": "BUY", "price": "2", "size": "0.5", "created_at": 7}
    frame = public_frame("trades.BTC-USD-PERP", trade)
    assert frame is not None and sbe.decode(frame) == ("trades.BTC-USD-PERP", trade)
    summary = {
        "symbol": "BTC-USD-PERP",
        "mark_price": "10",
        "underlying_price": "9.5",
        "last_traded_price": "",
        "bid": "9",
        "ask": "11",
        "funding_rate": "0.000012345678",
        "created_at": 7,
    }
    frame = public_frame("markets_summary.BTC-USD-PERP", summary)
    assert frame is not None and sbe.decode(frame) == ("markets_summary.BTC-USD-PERP", summary)
    assert public_frame("markets_summary.BTC-USD-PERP", summary | {"mark_price": ""}) is None
    assert public_frame("orders.BTC-USD-PERP", {}) is None
