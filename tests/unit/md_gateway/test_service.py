"""md_gateway's pure helpers: topics and the best bid/offer of a book."""

from __future__ import annotations

from decimal import Decimal

from md_gateway.service import bbo_of, topic_of
from services.wire import Bbo, Book, FeedState, Mark, MdStatus, Side, Trade

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
