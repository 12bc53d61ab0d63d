"""The cycle report's three blocks (market state, price calculation, execution summary), as text.

Pure formatting of figures computed elsewhere, in Traditional Chinese
(``zh-TW``, the original's default) or English (``en``).  Prices show the
tick's decimals, sizes the step's, PnL, fees and funding four; a side without
a quote shows ``-``.  Rounding is half-up and never prints ``-0``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from services.wire import Side
from strategy.pnl import IntervalPnl, PnlSnapshot
from strategy.quoter import QuotePlan, SuppressReason
from venues.precision import MarketRules, fmt

Lang = Literal["zh-TW", "en"]
LANGS: tuple[Lang, ...] = ("zh-TW", "en")
_DASH = "-"
_MONEY_PLACES = 4
_HUNDRED = Decimal(100)

_TEXT: dict[Lang, dict[str, str]] = {
    "zh-TW": {
        "market": "=== 市場狀態 ===",
        "book": "盤口: Bid {bid} | Ask {ask} | 價差 {spread}",
        "mid": "中間價: {mid}",
        "position": "持倉: {word} {size} {base} | 目標: {target} | 上限: {max}",
        "long": "多頭",
        "short": "空頭",
        "flat": "無持倉",
        "prices": "=== 價格計算 ===",
        "raw": "原始掛單: 買 {buy} | 賣 {sell}",
        "skew": "偏移計算: 淨持倉 {pos} | 偏移係數 {k} | 偏移量 {offset}",
        "adjusted": "調整後掛單: 買 {buy} | 賣 {sell}",
        "paused": "{side}暫停: {reason}",
        "paused_buy": "買單",
        "paused_sell": "賣單",
        "summary": "=== 本次執行總結 ===",
        "fills": "成交: 買入 {bought} {base} | 賣出 {sold} {base}",
        "interval": "本次盈虧: {pnl} {quote} (手續費: {fees})",
        "total": "累計盈虧: {net} {quote} | 未實現: {unrealized} {quote}",
        "active": "活躍訂單: 買 {buy} | 賣 {sell} | 價差 {spread}",
        "rates": "成交率: {fill_rate} | 手續費佔比: {fee_ratio} | 累計資金費: {funding} {quote}",
        SuppressReason.MAX_POSITION: "已達持倉上限",
        SuppressReason.MIN_SIZE: "低於最小下單量",
        SuppressReason.BAD_PRICE: "價格無效",
        SuppressReason.BAD_BOOK: "盤口異常",
    },
    "en": {
        "market": "=== Market State ===",
        "book": "Book: Bid {bid} | Ask {ask} | Spread {spread}",
        "mid": "Mid: {mid}",
        "position": "Position: {word} {size} {base} | Target: {target} | Max: {max}",
        "long": "Long",
        "short": "Short",
        "flat": "Flat",
        "prices": "=== Price Calculation ===",
        "raw": "Raw quotes: Buy {buy} | Sell {sell}",
        "skew": "Skew: Net position {pos} | Skew factor {k} | Offset {offset}",
        "adjusted": "Adjusted quotes: Buy {buy} | Sell {sell}",
        "paused": "{side} paused: {reason}",
        "paused_buy": "buy side",
        "paused_sell": "sell side",
        "summary": "=== Execution Summary ===",
        "fills": "Fills: Bought {bought} {base} | Sold {sold} {base}",
        "interval": "Interval PnL: {pnl} {quote} (fees: {fees})",
        "total": "Total PnL: {net} {quote} | Unrealized: {unrealized} {quote}",
        "active": "Active orders: Buy {buy} | Sell {sell} | Spread {spread}",
        "rates": "Fill rate: {fill_rate} | Fee ratio: {fee_ratio} | Total funding: {funding} {quote}",
        SuppressReason.MAX_POSITION: "max position",
        SuppressReason.MIN_SIZE: "below the minimum size",
        SuppressReason.BAD_PRICE: "invalid price",
        SuppressReason.BAD_BOOK: "unusable book",
    },
}


def places(increment: Decimal) -> int:
    """Decimals an increment shows (0.001 -> 3, 0.5 -> 1, 10 -> 0)."""
    exponent = increment.normalize().as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite increment: {increment}")
    return max(0, -exponent)


def fixed(value: Decimal | None, decimals: int) -> str:
    """``value`` with exactly ``decimals`` decimals, rounded half-up; ``-`` for None."""
    if value is None:
        return _DASH
    rounded = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return format(abs(rounded) if rounded == 0 else rounded, "f")


def _percent(ratio_pct: Decimal | None, decimals: int) -> str:
    return _DASH if ratio_pct is None else f"{fixed(ratio_pct, decimals)}%"


def _parameter(value: Decimal) -> str:
    """A trader's parameter as the original printed it: at least one decimal ('1' -> '1.0')."""
    text = fmt(value)
    return text if "." in text else f"{text}.0"


def _gap(
    low: Decimal | None, high: Decimal | None, mid: Decimal, *, price_places: int, pct_places: int
) -> str:
    """'<high - low> (<pct of mid>%)', or '-' when a side is missing."""
    if low is None or high is None or mid <= 0:
        return _DASH
    width = high - low
    return f"{fixed(width, price_places)} ({_percent(width / mid * _HUNDRED, pct_places)})"


def market_block(plan: QuotePlan, *, rules: MarketRules, lang: Lang = "zh-TW") -> str:
    """=== 市場狀態 ===: book, mid, position against target and max."""
    text, price_places = _TEXT[lang], places(rules.tick_size)
    position = plan.position
    word = text["long"] if position > 0 else text["short"] if position < 0 else text["flat"]
    return "\n".join(
        [
            text["market"],
            text["book"].format(
                bid=fixed(plan.bid, price_places),
                ask=fixed(plan.ask, price_places),
                spread=_gap(plan.bid, plan.ask, plan.mid, price_places=price_places, pct_places=3),
            ),
            text["mid"].format(mid=fixed(plan.mid, price_places)),
            text["position"].format(
                word=word,
                size=fixed(abs(position), places(rules.step_size)),
                base=rules.base_asset,
                target=_parameter(plan.params.target_position),
                max=_parameter(plan.params.max_position),
            ),
        ]
    )


def price_block(plan: QuotePlan, *, rules: MarketRules, lang: Lang = "zh-TW") -> str:
    """=== 價格計算 ===: raw quotes, the skew and the quotes actually wanted."""
    text, price_places = _TEXT[lang], places(rules.tick_size)
    buy = fixed(plan.bid_price, price_places) if plan.bids else _DASH
    sell = fixed(plan.ask_price, price_places) if plan.asks else _DASH
    adjusted = text["adjusted"].format(buy=buy, sell=sell)
    notes = [
        text["paused"].format(side=text[f"paused_{side.value}"], reason=text[reason])
        for side, layers in ((Side.BUY, plan.bids), (Side.SELL, plan.asks))
        if not layers and (reason := plan.reason(side)) is not None
    ]
    if notes:
        adjusted += f" ({'; '.join(notes)})"
    return "\n".join(
        [
            text["prices"],
            text["raw"].format(buy=fixed(plan.raw_bid, price_places), sell=fixed(plan.raw_ask, price_places)),
            text["skew"].format(
                pos=fixed(plan.position, places(rules.step_size)),
                k=fixed(plan.params.inventory_skew, 2),
                offset=fixed(plan.skew_offset, _MONEY_PLACES),
            ),
            adjusted,
        ]
    )


def summary_block(
    *,
    interval: IntervalPnl,
    totals: PnlSnapshot,
    active_bid: Decimal | None,
    active_ask: Decimal | None,
    mid: Decimal,
    rules: MarketRules,
    lang: Lang = "zh-TW",
) -> str:
    """=== 本次執行總結 ===: fills and PnL of the interval, running totals, resting quotes, rates."""
    text, size_places = _TEXT[lang], places(rules.step_size)
    base, quote = rules.base_asset, rules.quote_asset
    fill_rate = None if totals.fill_rate is None else totals.fill_rate * _HUNDRED
    fee_ratio = None if totals.fee_ratio is None else totals.fee_ratio * _HUNDRED
    return "\n".join(
        [
            text["summary"],
            text["fills"].format(
                bought=fixed(interval.bought_base, size_places),
                sold=fixed(interval.sold_base, size_places),
                base=base,
            ),
            text["interval"].format(
                pnl=fixed(interval.pnl, _MONEY_PLACES), fees=fixed(interval.fees, _MONEY_PLACES), quote=quote
            ),
            text["total"].format(
                net=fixed(totals.net_realized, _MONEY_PLACES),
                unrealized=fixed(totals.unrealized, _MONEY_PLACES),
                quote=quote,
            ),
            text["active"].format(
                buy=fixed(active_bid, places(rules.tick_size)),
                sell=fixed(active_ask, places(rules.tick_size)),
                spread=_gap(active_bid, active_ask, mid, price_places=places(rules.tick_size), pct_places=2),
            ),
            text["rates"].format(
                fill_rate=_percent(fill_rate, 2),
                fee_ratio=_percent(fee_ratio, 4),
                funding=fixed(totals.funding, _MONEY_PLACES),
                quote=quote,
            ),
        ]
    )


def render_report(
    plan: QuotePlan,
    *,
    interval: IntervalPnl,
    totals: PnlSnapshot,
    active_bid: Decimal | None,
    active_ask: Decimal | None,
    rules: MarketRules,
    lang: Lang = "zh-TW",
) -> str:
    """The three blocks, separated by a blank line, as the original printed them each cycle."""
    return "\n\n".join(
        [
            market_block(plan, rules=rules, lang=lang),
            price_block(plan, rules=rules, lang=lang),
            summary_block(
                interval=interval,
                totals=totals,
                active_bid=active_bid,
                active_ask=active_ask,
                mid=plan.mid,
                rules=rules,
                lang=lang,
            ),
        ]
    )
