"""FeedMonitor: feed state from stream events and time; when to poll REST; status repeats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from md_gateway.feed import FeedMonitor
from services.wire import Bbo, FeedState, Mark, MdStatus, Ping, Side, Trade

SYM = "SOL_USDC_PERP"
BBO = Bbo(symbol=SYM, bid=Decimal("99"), bid_qty=Decimal(1), ask=Decimal("101"), ask_qty=Decimal(1))
LIVE = MdStatus(state=FeedState.LIVE, symbol=SYM)
DROPPED = MdStatus(state=FeedState.RECONNECTING, symbol=SYM, reason="ConnectionClosed")


def monitor(**options: float) -> FeedMonitor:
    return FeedMonitor(
        SYM, now_s=0.0, stale_after_s=5.0, poll_interval_s=1.0, status_interval_s=1.0, **options
    )


def test_starts_reconnecting_and_goes_live_on_connect() -> None:
    feed = monitor()
    assert feed.state is FeedState.RECONNECTING
    changed = feed.on_stream(LIVE, now_s=0.5)
    assert changed is not None and changed.state is FeedState.LIVE and changed.symbol == SYM
    assert feed.on_stream(BBO, now_s=0.6) is None


def test_drop_is_reported_at_once_and_counted() -> None:
    feed = monitor()
    feed.on_stream(LIVE, now_s=0.0)
    changed = feed.on_stream(DROPPED, now_s=1.0)
    assert changed is not None and changed.state is FeedState.RECONNECTING
    assert changed.reason == "ConnectionClosed"
    assert feed.reconnects == 1
    assert feed.on_stream(DROPPED, now_s=1.1) is None
    assert feed.reconnects == 1
    back = feed.on_stream(LIVE, now_s=2.0)
    assert back is not None and back.state is FeedState.LIVE


def test_silence_makes_it_stale_then_polls_rest_each_interval_until_data_returns() -> None:
    feed = monitor()
    feed.on_stream(LIVE, now_s=0.0)
    feed.on_stream(BBO, now_s=1.0)
    quiet = feed.tick(now_s=6.0)
    assert quiet.status is None or quiet.status.state is FeedState.LIVE
    assert not quiet.poll
    stale = feed.tick(now_s=6.01)
    assert stale.changed and stale.status is not None and stale.status.state is FeedState.STALE
    assert stale.poll
    assert not feed.tick(now_s=6.5).poll
    assert feed.tick(now_s=7.02).poll
    back = feed.on_stream(BBO, now_s=7.5)
    assert back is not None and back.state is FeedState.LIVE
    assert not feed.tick(now_s=8.0).poll


def test_a_stream_that_never_connects_is_polled_after_the_staleness() -> None:
    feed = monitor()
    assert not feed.tick(now_s=4.0).poll
    tick = feed.tick(now_s=5.5)
    assert tick.poll
    assert feed.state is FeedState.RECONNECTING


def test_reconnecting_longer_than_the_staleness_polls_but_stays_reconnecting() -> None:
    feed = monitor()
    feed.on_stream(LIVE, now_s=0.0)
    feed.on_stream(DROPPED, now_s=1.0)
    assert not feed.tick(now_s=4.0).poll
    tick = feed.tick(now_s=5.1)
    assert tick.poll and not tick.changed
    assert feed.state is FeedState.RECONNECTING


def test_status_repeats_every_interval_for_late_joiners() -> None:
    feed = monitor()
    feed.on_stream(LIVE, now_s=0.0)
    first = feed.tick(now_s=0.1)
    assert first.status is None
    repeat = feed.tick(now_s=1.0)
    assert repeat.status is not None and repeat.status.state is FeedState.LIVE and not repeat.changed
    assert feed.tick(now_s=1.5).status is None
    assert feed.tick(now_s=2.0).status is not None


def test_other_messages_do_not_count_as_data() -> None:
    feed = monitor()
    feed.on_stream(LIVE, now_s=0.0)
    assert feed.on_stream(Ping(), now_s=4.0) is None
    assert feed.tick(now_s=5.5).poll


def test_bad_intervals_are_refused() -> None:
    with pytest.raises(ValueError):
        FeedMonitor(SYM, now_s=0.0, stale_after_s=0)


def test_marks_and_trades_alone_leave_a_quiet_book_stale_and_polled() -> None:
    feed = monitor()
    feed.on_stream(LIVE, now_s=0.0)
    feed.on_stream(BBO, now_s=0.1)
    mark = Mark(symbol=SYM, mark=Decimal(100))
    trade = Trade(symbol=SYM, trade_id="1", price=Decimal(100), quantity=Decimal(1), taker_side=Side.BUY)
    for second in range(1, 6):
        assert feed.on_stream(mark, now_s=float(second)) is None
        assert feed.on_stream(trade, now_s=second + 0.5) is None
    tick = feed.tick(now_s=5.6)
    assert tick.changed and tick.status is not None and tick.status.state is FeedState.STALE
    assert tick.poll
    changed = feed.on_stream(BBO, now_s=5.7)
    assert changed is not None and changed.state is FeedState.LIVE
