"""The stream's pure pieces: JSON-RPC frames (text and SBE) to notifications, book continuity, errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from services.wire import Bbo, Mark, Trade
from venues.common.book import Applied, LocalBook
from venues.paradex import sbe
from venues.paradex.stream import (
    INVALID_BEARER,
    Rpc,
    _apply_book,
    _market_message,
    _notification,
    is_invalid_bearer,
)


class FakeSocket:
    """Frames handed out in order; what was sent is recorded."""

    def __init__(self, frames: list[str | bytes]) -> None:
        self.frames = frames
        self.sent: list[str] = []

    async def recv(self) -> str | bytes:
        return self.frames.pop(0)

    async def send(self, text: str) -> None:
        self.sent.append(text)


def _rpc(frames: list[str | bytes]) -> tuple[Rpc, FakeSocket]:
    socket = FakeSocket(frames)
    return Rpc(socket), socket  # type: ignore[arg-type]


async def test_calls_wait_for_their_own_answer() -> None:
    note = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "bbo.X", "data": {}}}
    rpc, socket = _rpc([json.dumps(note), json.dumps({"jsonrpc": "2.0", "id": 1, "result": {}})])
    answer = await rpc.call("auth", {"bearer": "t"}, timeout_s=1)
    assert answer["result"] == {}
    assert json.loads(socket.sent[0]) == {
        "jsonrpc": "2.0",
        "method": "auth",
        "params": {"bearer": "t"},
        "id": 1,
    }


async def test_sbe_frames_become_notifications_and_garbage_is_skipped() -> None:
    frame = sbe.encode_bbo(market="BTC-USD-PERP", bid=(Decimal(1), Decimal(2)), ask=None, seq=3, ts_us=4000)
    rpc, _ = _rpc([frame, b"\x01\x02", "{not json", "[1]"])
    message = await rpc.receive(timeout_s=1)
    assert message is not None
    channel, data = _notification(message)
    assert channel == "bbo.BTC-USD-PERP" and data["bid"] == "1" and data["seq_no"] == 3
    for _ in range(3):
        assert await rpc.receive(timeout_s=1) == {}


def test_notifications_and_errors() -> None:
    assert _notification({"id": 1, "result": {}}) == (None, None)
    assert _notification({"method": "subscription", "params": {"channel": 5, "data": {}}}) == (None, None)
    assert is_invalid_bearer({"error": {"code": INVALID_BEARER, "message": "invalid bearer"}})
    assert not is_invalid_bearer({"error": {"code": -32600}})
    assert not is_invalid_bearer({"result": {}})


def test_market_messages() -> None:
    bbo = {"market": "X", "bid": "1", "bid_size": "1", "ask": "2", "ask_size": "1", "seq_no": 1}
    assert isinstance(_market_message("bbo", bbo), Bbo)
    trade = {"id": "1", "market": "X", "side": "BUY", "price": "1", "size": "1"}
    assert isinstance(_market_message("trades", trade), Trade)
    assert isinstance(_market_message("markets_summary", {"symbol": "X", "mark_price": "1"}), Mark)
    assert _market_message("funding_data", {}) is None


def _book(kind: str, seq_no: int, levels: list[dict[str, Any]]) -> dict[str, Any]:
    key = "inserts" if kind == "s" else "updates"
    return {"market": "X", "seq_no": seq_no, "update_type": kind, key: levels}


def test_book_snapshots_never_go_back_and_deltas_must_continue() -> None:
    book = LocalBook("X", levels=5)
    level = {"side": "BUY", "price": "10", "size": "1"}
    assert _apply_book(book, _book("s", 5, [level])) is Applied.APPLIED
    assert _apply_book(book, _book("s", 4, [])) is Applied.STALE
    assert book.top().bids == [(Decimal(10), Decimal(1))]
    assert _apply_book(book, _book("d", 6, [{"side": "SELL", "price": "11", "size": "2"}])) is Applied.APPLIED
    assert book.top().asks == [(Decimal(11), Decimal(2))]
    assert _apply_book(book, _book("d", 8, [])) is Applied.GAP
    assert not book.seeded
