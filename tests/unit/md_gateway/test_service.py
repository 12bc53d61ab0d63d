"""md_gateway's pure helpers: topics and the best bid/offer of a book."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from md_gateway.service import bbo_of, rest_snapshot, topic_of
from services.wire import Bbo, Book, FeedState, Mark, MdStatus, Side, Trade
from venues.base import DepthSnapshot, Venue

SYM = "SOL_USDC_PERP"


def test_topics_follow_the_contract() -> None:
    book = Book(symbol=SYM, bids=[], asks=[])
    bbo = Bbo(symbol=SYM, bid=Decimal(1), bid_qty=Decimal(1), ask=Decimal(2), ask_qty=Decimal(1))
    trade = Trade(symbol=SYM, trade_id="7", price=Decimal(1), quantity=Decimal(1), taker_side=Side.BUY)
    assert topic_of(bbo) == f"md.bbo.{SYM}"
    assert topic_of(book) == f"md.book.{SYM}"
    assert topic_of(trade) == f"md.trade.{SYM}"
    assert topic_of(Mark(symbol=SYM, mark=Decimal(1))) == f"md.mark.{SYM}"
    assert topic_of(MdStatus(state=FeedState.LIVE)) is None


def test_bbo_of_a_book_is_its_best_levels() -> None:
    book = Book(
        symbol=SYM,
        bids=[(Decimal("99.5"), Decimal(2)), (Decimal("99"), Decimal(5))],
        asks=[(Decimal("100.5"), Decimal(3)), (Decimal("101"), Decimal(1))],
        update_id=42,
    )
    assert bbo_of(book) == Bbo(
        symbol=SYM,
        bid=Decimal("99.5"),
        bid_qty=Decimal(2),
        ask=Decimal("100.5"),
        ask_qty=Decimal(3),
        update_id=42,
    )
    assert bbo_of(Book(symbol=SYM, bids=book.bids, asks=[])) is None


class SnapshotVenue:
    async def depth(self, symbol: str) -> DepthSnapshot:
        # Ascending bids, as Backpack lists them: the book must still put the best first.
        bids = [(Decimal(p), Decimal(1)) for p in ("98", "99")]
        asks = [(Decimal(p), Decimal(2)) for p in ("101", "102")]
        return DepthSnapshot(bids=bids, asks=asks, last_update_id=9, ts_ns=1_000)

    async def mark(self, symbol: str) -> Mark:
        return Mark(symbol=symbol, mark=Decimal(100), funding_rate=Decimal("0.0001"))


async def test_rest_snapshot_serves_book_bbo_and_mark() -> None:
    events = await rest_snapshot(cast(Venue, SnapshotVenue()), SYM)
    book, bbo, mark = (event.msg for event in events)
    assert isinstance(book, Book) and book.bids[0][0] == Decimal(99) and book.asks[0][0] == Decimal(101)
    assert events[0].ts_ns == 1_000 and book.update_id == 9
    assert bbo == Bbo(
        symbol=SYM, bid=Decimal(99), bid_qty=Decimal(1), ask=Decimal(101), ask_qty=Decimal(2), update_id=9
    )
    assert mark == Mark(symbol=SYM, mark=Decimal(100), funding_rate=Decimal("0.0001"))
