from __future__ import annotations

import dataclasses
from decimal import Decimal as D

from strategy_fakes import resting_order as mine

from services.wire import Bbo, Book, OrderStatus, Side
from strategy.book import BookView

SYMBOL = "SOL_USDC_PERP"


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> Book:
    return Book(
        symbol=SYMBOL,
        bids=[(D(p), D(q)) for p, q in bids],
        asks=[(D(p), D(q)) for p, q in asks],
    )


BOOK = book([("99.99", "0.1"), ("99.97", "4")], [("100.03", "0.3"), ("100.06", "5")])


def test_our_own_quotes_are_taken_out_of_the_best_bid_and_offer() -> None:
    view = BookView()
    assert view.update(BOOK, ts_ns=1)
    assert view.top() == (D("99.99"), D("100.03"))
    # We are the whole best bid and part of the best ask: the bid is the next level, the ask stays.
    own = [mine(Side.BUY, "99.99", "0.1", oid="1"), mine(Side.SELL, "100.03", "0.1", oid="2")]
    assert view.top(own) == (D("99.97"), D("100.03"))
    # Two orders of ours make the whole ask level: it goes too.
    own.append(mine(Side.SELL, "100.03", "0.2", oid="3"))
    assert view.top(own) == (D("99.97"), D("100.06"))
    # A partly filled order counts for what remains; a cancelled one not at all.
    partly = dataclasses.replace(own[0], filled_quantity=D("0.05"), status=OrderStatus.PARTIALLY_FILLED)
    cancelled = dataclasses.replace(own[2], status=OrderStatus.CANCELLED)
    assert view.top([partly, own[1], cancelled]) == (D("99.99"), D("100.03"))


def test_a_side_made_only_of_our_orders_falls_back_to_the_venue_best() -> None:
    view = BookView()
    view.update(book([("99.99", "0.1")], [("100.03", "1")]), ts_ns=1)
    assert view.top([mine(Side.BUY, "99.99", "0.1")]) == (D("99.99"), D("100.03"))


def test_a_newer_ticker_lays_over_the_top_of_the_depth() -> None:
    view = BookView()
    view.update(BOOK, ts_ns=1)
    # The ask moved in to 100.02 and the bid was taken down to 99.97.
    ticker = Bbo(symbol=SYMBOL, bid=D("99.97"), bid_qty=D("3"), ask=D("100.02"), ask_qty=D("1"))
    assert view.update(ticker, ts_ns=2)
    assert view.bids == [(D("99.97"), D("3"))]
    assert view.asks == [(D("100.02"), D("1")), (D("100.03"), D("0.3")), (D("100.06"), D("5"))]
    assert view.top([mine(Side.SELL, "100.02", "1")]) == (D("99.97"), D("100.03"))


def test_older_and_one_sided_messages_are_ignored() -> None:
    view = BookView()
    view.update(BOOK, ts_ns=5)
    stale = Bbo(symbol=SYMBOL, bid=D("90"), bid_qty=D("1"), ask=D("91"), ask_qty=D("1"))
    assert not view.update(stale, ts_ns=4)
    assert not view.update(book([], [("100.03", "1")]), ts_ns=6)
    assert view.top() == (D("99.99"), D("100.03")) and view.ts_ns == 5
    # As new as the last one is taken (the venue's ticker and depth of one event share a time).
    assert view.update(book([("99.98", "1")], [("100.01", "1")]), ts_ns=5)
    assert view.top() == (D("99.98"), D("100.01"))
