from __future__ import annotations

from decimal import Decimal as D

from services.wire import Bbo, Book, FeedState, Heartbeat, Mark, MdStatus, RiskState, TradingState
from strategy.feeds import Feeds

SYM = "SOL_USDC_PERP"


def test_book_messages_keep_the_feed_fresh_and_set_the_prices() -> None:
    feeds = Feeds(SYM)
    assert feeds.take(Book(symbol=SYM, bids=[], asks=[(D(101), D(1))]), ts_ns=1, now_s=1.0) == (False, None)
    assert feeds.md_seen_s is None, "a one-sided book is no price"
    bbo = Bbo(symbol=SYM, bid=D(100), bid_qty=D(1), ask=D(101), ask_qty=D(2))
    feeds.take(bbo, ts_ns=2, now_s=2.0)
    assert feeds.md_seen_s == 2.0 and feeds.book.top() == (D(100), D(101))
    other = Bbo(symbol="BTC_USDC_PERP", bid=D(1), bid_qty=D(1), ask=D(2), ask_qty=D(1))
    feeds.take(other, ts_ns=3, now_s=3.0)
    assert feeds.md_seen_s == 2.0 and feeds.book.top() == (D(100), D(101))
    # LIVE vouches for a quiet book; RECONNECTING is a lost feed.
    feeds.take(MdStatus(state=FeedState.LIVE, symbol=SYM), ts_ns=4, now_s=4.0)
    assert feeds.md_seen_s == 4.0 and feeds.md_connected
    feeds.take(MdStatus(state=FeedState.RECONNECTING, symbol=SYM), ts_ns=5, now_s=5.0)
    assert not feeds.md_connected


def test_marks_come_back_and_a_new_trading_state_is_an_event() -> None:
    feeds = Feeds(SYM)
    assert feeds.take(Mark(symbol=SYM, mark=D("100.5")), ts_ns=1, now_s=1.0) == (False, D("100.5"))
    assert feeds.take(Mark(symbol=SYM, mark=D(0)), ts_ns=1, now_s=1.0) == (False, None)
    active = RiskState(state=TradingState.ACTIVE, symbol=SYM)
    assert feeds.take(active, ts_ns=2, now_s=2.0) == (True, None)
    assert feeds.take(active, ts_ns=3, now_s=3.0) == (False, None)
    feeds.take(Heartbeat(process="risk", instance="r", loop_count=1), ts_ns=4, now_s=4.0)
    inputs = feeds.inputs(now_s=4.5, exec_synced=True)
    assert inputs.risk_state is TradingState.ACTIVE and inputs.risk_state_seen_s == 3.0
    assert inputs.risk_heartbeat_seen_s == 4.0 and inputs.exec_synced
