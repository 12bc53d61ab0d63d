from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from services.wire import Fill, Side
from strategy.pnl import IntervalPnl, PnlSnapshot, PnlTracker
from strategy.quoter import Layer, QuoteParams, QuotePlan, plan_quotes
from strategy.report import fixed, market_block, places, price_block, render_report, summary_block
from venues.precision import MarketRules

SOL_USDT = MarketRules(
    symbol="SOLUSDT",
    base_asset="SOL",
    quote_asset="USDT",
    tick_size=D("0.001"),
    step_size=D("0.001"),
    min_quantity=D("0.001"),
)


def fill(trade_id: str, order_id: str, side: Side, price: str, quantity: str, *, fee: str) -> Fill:
    # Built from a dict: services.codec.message has no dataclass_transform, so mypy cannot see the fields.
    fields: dict[str, Any] = dict(
        symbol=SOL_USDT.symbol,
        trade_id=trade_id,
        order_id=order_id,
        client_id=None,
        side=side,
        price=D(price),
        quantity=D(quantity),
        fee=D(fee),
        fee_asset=SOL_USDT.quote_asset,
        is_maker=True,
    )
    return Fill(**fields)


# The original's example, figure for figure (its mid is not (bid+ask)/2 and its raw quotes are
# not symmetric around it, so the plan is built by hand: the report only formats).
EXAMPLE_PLAN = QuotePlan(
    bid=D("239.379"),
    ask=D("239.447"),
    mid=D("239.408"),
    position=D("-6"),
    params=QuoteParams(
        spread_pct=D("0.5"),
        quantity=D("0.1"),
        max_orders=1,
        inventory_skew=D("0"),
        max_position=D("1.0"),
        target_position=D("1"),
    ),
    raw_bid=D("238.8"),
    raw_ask=D("239.996"),
    skew_offset=D("0"),
    bid_price=D("238.800"),
    ask_price=D("239.996"),
    layers=(Layer(Side.BUY, D("238.800"), D("0.1")), Layer(Side.SELL, D("239.996"), D("0.1"))),
)
EXAMPLE_INTERVAL = IntervalPnl(
    bought_base=D("0.2"),
    sold_base=D("0.15"),
    fills=3,
    volume_quote=D("83.8"),
    realized=D("2.57"),
    fees=D("0.12"),
)
EXAMPLE_TOTALS = PnlSnapshot(
    position=D("-6"),
    entry_price=D("239.1"),
    mark_price=D("239.415"),
    realized=D("17.2423"),
    unrealized=D("-1.89"),
    fees=D("2"),
    other_fees={},
    funding=D("-0.0123"),
    volume_base=D("41.8"),
    volume_quote=D("10000"),
    fill_count=3,
    filled_orders=1,
    orders_placed=8,
    position_deviation=D("-7"),
)

EXAMPLE_ZH = """\
=== 市場狀態 ===
盤口: Bid 239.379 | Ask 239.447 | 價差 0.068 (0.028%)
中間價: 239.408
持倉: 空頭 6.000 SOL | 目標: 1.0 | 上限: 1.0

=== 價格計算 ===
原始掛單: 買 238.800 | 賣 239.996
偏移計算: 淨持倉 -6.000 | 偏移係數 0.00 | 偏移量 0.0000
調整後掛單: 買 238.800 | 賣 239.996

=== 本次執行總結 ===
成交: 買入 0.200 SOL | 賣出 0.150 SOL
本次盈虧: 2.4500 USDT (手續費: 0.1200)
累計盈虧: 15.2300 USDT | 未實現: -1.8900 USDT
活躍訂單: 買 238.800 | 賣 239.996 | 價差 1.196 (0.50%)
成交率: 12.50% | 手續費佔比: 0.0200% | 累計資金費: -0.0123 USDT"""

EXAMPLE_EN = """\
=== Market State ===
Book: Bid 239.379 | Ask 239.447 | Spread 0.068 (0.028%)
Mid: 239.408
Position: Short 6.000 SOL | Target: 1.0 | Max: 1.0

=== Price Calculation ===
Raw quotes: Buy 238.800 | Sell 239.996
Skew: Net position -6.000 | Skew factor 0.00 | Offset 0.0000
Adjusted quotes: Buy 238.800 | Sell 239.996

=== Execution Summary ===
Fills: Bought 0.200 SOL | Sold 0.150 SOL
Interval PnL: 2.4500 USDT (fees: 0.1200)
Total PnL: 15.2300 USDT | Unrealized: -1.8900 USDT
Active orders: Buy 238.800 | Sell 239.996 | Spread 1.196 (0.50%)
Fill rate: 12.50% | Fee ratio: 0.0200% | Total funding: -0.0123 USDT"""


@pytest.mark.parametrize(("lang", "expected"), [("zh-TW", EXAMPLE_ZH), ("en", EXAMPLE_EN)])
def test_golden_example(lang: str, expected: str) -> None:
    text = render_report(
        EXAMPLE_PLAN,
        interval=EXAMPLE_INTERVAL,
        totals=EXAMPLE_TOTALS,
        active_bid=D("238.800"),
        active_ask=D("239.996"),
        rules=SOL_USDT,
        lang=lang,  # type: ignore[arg-type]
    )
    assert text == expected


def test_chinese_is_the_default() -> None:
    assert market_block(EXAMPLE_PLAN, rules=SOL_USDT) == EXAMPLE_ZH.split("\n\n")[0]


@pytest.mark.parametrize(
    ("position", "zh", "en"),
    [("2.5", "多頭 2.500 SOL", "Long 2.500 SOL"), ("0", "無持倉 0.000 SOL", "Flat 0.000 SOL")],
)
def test_position_words(position: str, zh: str, en: str) -> None:
    plan = plan_quotes(
        bid=D("100"), ask=D("100.01"), rules=SOL_USDT, params=EXAMPLE_PLAN.params, position=D(position)
    )
    assert f"持倉: {zh} |" in market_block(plan, rules=SOL_USDT, lang="zh-TW")
    assert f"Position: {en} |" in market_block(plan, rules=SOL_USDT, lang="en")


def test_suppressed_side_shows_a_dash_and_why() -> None:
    params = QuoteParams(
        spread_pct=D("1"), quantity=D("1"), max_orders=2, inventory_skew=D("0.3"), max_position=D("5")
    )
    plan = plan_quotes(bid=D("99.99"), ask=D("100.01"), rules=SOL_USDT, params=params, position=D("5"))
    zh = price_block(plan, rules=SOL_USDT).splitlines()
    en = price_block(plan, rules=SOL_USDT, lang="en").splitlines()
    # offset 0.3 * 1 * 1.000 = 0.3: raw 99.500 / 100.500 -> 99.200 / 100.200
    assert zh[2] == "偏移計算: 淨持倉 5.000 | 偏移係數 0.30 | 偏移量 0.3000"
    assert zh[3] == "調整後掛單: 買 - | 賣 100.200 (買單暫停: 已達持倉上限)"
    assert en[3] == "Adjusted quotes: Buy - | Sell 100.200 (buy side paused: max position)"


def test_missing_figures_show_a_dash() -> None:
    empty = PnlTracker(SOL_USDT)
    empty.on_fill(fill("1", "1", Side.BUY, "100", "1", fee="0"))
    lines = summary_block(
        interval=empty.interval(),
        totals=empty.snapshot(),
        active_bid=None,
        active_ask=D("100.5"),
        mid=D("100"),
        rules=SOL_USDT,
        lang="en",
    ).splitlines()
    assert lines[3] == "Total PnL: 0.0000 USDT | Unrealized: - USDT"
    assert lines[4] == "Active orders: Buy - | Sell 100.500 | Spread -"
    # no orders placed yet: no fill rate; fees zero over real volume: 0%
    assert lines[5] == "Fill rate: - | Fee ratio: 0.0000% | Total funding: 0.0000 USDT"


def test_report_from_live_cores() -> None:
    tracker = PnlTracker(SOL_USDT)
    params = QuoteParams(
        spread_pct=D("0.2"), quantity=D("0.5"), max_orders=2, inventory_skew=D("0.5"), max_position=D("2")
    )
    plan = plan_quotes(bid=D("150.10"), ask=D("150.12"), rules=SOL_USDT, params=params, position=D("-1"))
    tracker.on_order_placed(4)
    tracker.on_fill(fill("9", "a", Side.SELL, "150.26", "0.5", fee="-0.0075"))
    tracker.on_mark(D("150.11"))
    text = render_report(
        plan,
        interval=tracker.close_interval(),
        totals=tracker.snapshot(),
        active_bid=plan.bid_price,
        active_ask=plan.ask_price,
        rules=SOL_USDT,
    )
    assert "持倉: 空頭 1.000 SOL | 目標: 0.0 | 上限: 2.0" in text
    # mid 150.11, half 0.15011: raw 149.95989 / 150.26011; short half of max, K 0.5 -> offset -0.075055
    assert "原始掛單: 買 149.960 | 賣 150.260" in text
    assert "偏移計算: 淨持倉 -1.000 | 偏移係數 0.50 | 偏移量 -0.0751" in text
    assert "調整後掛單: 買 150.034 | 賣 150.336" in text
    assert "成交: 買入 0.000 SOL | 賣出 0.500 SOL" in text
    assert "本次盈虧: 0.0075 USDT (手續費: -0.0075)" in text
    assert "累計盈虧: 0.0075 USDT | 未實現: 0.0750 USDT" in text
    assert "成交率: 25.00% | 手續費佔比: -0.0100% | 累計資金費: 0.0000 USDT" in text


@pytest.mark.parametrize(
    ("increment", "expected"), [(D("0.001"), 3), (D("0.010"), 2), (D("0.5"), 1), (D("1"), 0), (D("10"), 0)]
)
def test_places_follow_the_increment(increment: D, expected: int) -> None:
    assert places(increment) == expected


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (D("2.45"), 4, "2.4500"),
        (D("0.00005"), 4, "0.0001"),
        (D("-0.00004"), 4, "0.0000"),
        (D("-1.23456"), 2, "-1.23"),
        (D("1E+2"), 0, "100"),
        (None, 2, "-"),
    ],
)
def test_fixed(value: D | None, decimals: int, expected: str) -> None:
    assert fixed(value, decimals) == expected
