from __future__ import annotations

import io
from decimal import Decimal as D
from typing import Any

import pytest
from prometheus_client import REGISTRY
from strategy_fakes import RULES

from services.wire import (
    Fill,
    FundingPayment,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PnlReport,
    Quotes,
    Side,
)
from strategy.exec_state import Changes
from strategy.pnl import PnlTracker
from strategy.quoter import QuoteParams, plan_quotes
from strategy.reporting import Reporter, feed_tracker

PARAMS = QuoteParams(
    spread_pct=D("0.05"), quantity=D("0.1"), max_orders=2, inventory_skew=D("0.3"), max_position=D(5)
)


class FakePub:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def publish(self, topic: str, msg: Any, *, ts_ns: int | None = None) -> bool:
        self.sent.append((topic, msg))
        return True


def tracker_with_a_fill() -> PnlTracker:
    tracker = PnlTracker(RULES)
    tracker.on_order_placed(4)
    tracker.on_fill(
        Fill(
            symbol=RULES.symbol,
            trade_id="t1",
            order_id="1",
            client_id=1,
            side=Side.BUY,
            price=D("149.96"),
            quantity=D("0.1"),
            fee=D("0.003"),
            fee_asset="USDC",
            is_maker=True,
        )
    )
    tracker.on_mark(D("150"))
    return tracker


def resting(side: Side, price: str) -> OrderUpdate:
    return OrderUpdate(
        symbol=RULES.symbol,
        order_id=price,
        client_id=1,
        side=side,
        order_type=OrderType.LIMIT,
        price=D(price),
        quantity=D("0.1"),
        filled_quantity=D(0),
        status=OrderStatus.NEW,
    )


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_report_is_due_every_interval() -> None:
    reporter = Reporter(rules=RULES, lang="en", out=io.StringIO())
    reporter.start(now_s=100.0, interval_s=10.0)
    assert not reporter.due(now_s=109.9)
    assert reporter.due(now_s=110.0)
    reporter.report(FakePub(), plan=None, tracker=None, quotes=[], now_s=110.0)  # type: ignore[arg-type]
    assert not reporter.due(now_s=119.9)
    assert reporter.due(now_s=120.0)


def test_report_prints_the_three_blocks_in_chinese_and_publishes_pnl() -> None:
    out, pub = io.StringIO(), FakePub()
    reporter = Reporter(rules=RULES, lang="zh-TW", out=out)
    plan = plan_quotes(bid=D("149.99"), ask=D("150.01"), rules=RULES, params=PARAMS, position=D("0.1"))
    text = reporter.report(
        pub,  # type: ignore[arg-type]
        plan=plan,
        tracker=tracker_with_a_fill(),
        quotes=[resting(Side.BUY, "149.96"), resting(Side.SELL, "150.04")],
        now_s=0.0,
    )
    assert out.getvalue() == text + "\n\n"
    for header in ("=== 市場狀態 ===", "=== 價格計算 ===", "=== 本次執行總結 ==="):
        assert header in text
    assert "活躍訂單: 買 149.96 | 賣 150.04" in text
    assert "成交率: 25.00% | 手續費佔比: 0.0200% | 累計資金費: 0.0000 USDC" in text
    [(topic, msg)] = pub.sent
    assert topic == "st.pnl.SOL_USDC_PERP" and isinstance(msg, PnlReport)
    assert (msg.fees, msg.position, msg.volume_base) == (D("0.003"), D("0.1"), D("0.1"))
    assert msg.unrealized == D("0.0040")


def test_report_before_any_data_says_it_is_waiting() -> None:
    out = io.StringIO()
    Reporter(rules=RULES, lang="en", out=out).report(
        FakePub(),  # type: ignore[arg-type]
        plan=None,
        tracker=None,
        quotes=[],
        now_s=0.0,
    )
    assert out.getvalue().startswith("waiting for market data")


def test_quotes_are_published_with_the_plan_mid_or_empty_when_pulled() -> None:
    pub = FakePub()
    reporter = Reporter(rules=RULES, lang="en", out=io.StringIO())
    plan = plan_quotes(bid=D("149.99"), ask=D("150.01"), rules=RULES, params=PARAMS, position=D(0))
    bids = [(layer.price, layer.quantity) for layer in plan.bids]
    reporter.publish_quotes(pub, symbol=RULES.symbol, bids=bids, asks=[], plan=plan)  # type: ignore[arg-type]
    reporter.publish_quotes(pub, symbol=RULES.symbol, bids=[], asks=[], plan=None)  # type: ignore[arg-type]
    (topic, first), (_, pulled) = pub.sent
    assert topic == "st.quotes.SOL_USDC_PERP" and isinstance(first, Quotes)
    assert first.bids == bids and first.mid == D("150")
    assert pulled.bids == [] and pulled.asks == [] and pulled.mid is None


def test_metrics_follow_the_figures() -> None:
    reporter = Reporter(rules=RULES, lang="en", out=io.StringIO())
    plan = plan_quotes(bid=D("149.99"), ask=D("150.01"), rules=RULES, params=PARAMS, position=D(0))
    reporter.update_metrics(
        tracker=tracker_with_a_fill(),
        position=D("0.1"),
        quotes=[resting(Side.BUY, "149.96"), resting(Side.BUY, "149.94"), resting(Side.SELL, "150.04")],
        plan=plan,
    )
    assert sample("mm_position_base") == 0.1
    assert sample("mm_quotes_resting", side="buy") == 2
    assert sample("mm_quotes_resting", side="sell") == 1
    assert sample("mm_fees_quote_total") == 0.003
    assert sample("mm_fill_rate_ratio") == 0.25
    assert sample("mm_fee_ratio") == pytest.approx(0.003 / 14.996)
    assert sample("mm_pnl_quote", kind="unrealized") == 0.004
    spread = sample("mm_quote_spread_bps")
    assert spread is not None and abs(spread - (150.04 - 149.96) / 150 * 1e4) < 1e-6


def fill(trade_id: str, *, symbol: str = "SOL_USDC_PERP", side: Side = Side.BUY) -> Fill:
    return Fill(
        symbol=symbol,
        trade_id=trade_id,
        order_id=trade_id,
        client_id=1,
        side=side,
        price=D("150"),
        quantity=D("0.2"),
        fee=D("0.006"),
        fee_asset="USDC",
        is_maker=True,
    )


def test_feed_tracker_applies_fills_funding_and_mark_and_skips_what_it_cannot_take() -> None:
    tracker = PnlTracker(RULES)
    changes = Changes(
        fills=[fill("a"), fill("b", symbol="BTC_USDC_PERP"), fill("a")],
        funding=[FundingPayment(symbol=RULES.symbol, payment_id="f1", amount=D("-0.01"))],
        mark=D("151"),
    )
    feed_tracker(tracker, changes)
    totals = tracker.snapshot()
    assert totals.position == D("0.2") and totals.fill_count == 1
    assert totals.funding == D("-0.01")
    assert totals.unrealized == D("0.2")
