from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategy_fakes import RULES

from services.wire import Fill, FundingPayment, Side
from strategy.pnl import IntervalPnl, PnlTracker

_ids = iter(range(1, 10**9))


def fill(
    side: Side,
    quantity: str | D,
    price: str | D,
    *,
    fee: str = "0",
    fee_asset: str = "USDC",
    trade_id: str | None = None,
    order_id: str | None = None,
    symbol: str = RULES.symbol,
) -> Fill:
    n = next(_ids)
    # Built from a dict: services.codec.message has no dataclass_transform, so mypy cannot see the fields.
    fields: dict[str, Any] = dict(
        symbol=symbol,
        trade_id=trade_id if trade_id is not None else f"t{n}",
        order_id=order_id if order_id is not None else f"o{n}",
        client_id=None,
        side=side,
        price=D(price),
        quantity=D(quantity),
        fee=D(fee),
        fee_asset=fee_asset,
        is_maker=True,
    )
    return Fill(**fields)


def funding(amount: str, payment_id: str, *, symbol: str = RULES.symbol) -> FundingPayment:
    fields: dict[str, Any] = dict(symbol=symbol, payment_id=payment_id, amount=D(amount))
    return FundingPayment(**fields)


def tracker(**kw: object) -> PnlTracker:
    return PnlTracker(RULES, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- average cost


def test_round_trip_realizes_the_difference() -> None:
    t = tracker()
    t.on_fill(fill(Side.BUY, "1", "100"))
    t.on_fill(fill(Side.SELL, "1", "110"))
    s = t.snapshot()
    assert s.realized == D("10") and s.position == 0 and s.entry_price is None
    assert s.unrealized == 0


def test_adding_moves_the_average() -> None:
    t = tracker()
    t.on_fill(fill(Side.BUY, "1", "100"))
    t.on_fill(fill(Side.BUY, "1", "110"))
    assert t.snapshot().entry_price == D("105")
    t.on_fill(fill(Side.SELL, "1", "120"))
    s = t.snapshot()
    assert s.realized == D("15") and s.position == D("1") and s.entry_price == D("105")


def test_partial_closes_at_a_repeating_average_sum_exactly() -> None:
    t = tracker()
    t.on_fill(fill(Side.BUY, "1", "100"))
    t.on_fill(fill(Side.BUY, "2", "101"))  # average 100.666...
    t.on_fill(fill(Side.SELL, "1", "102"))
    assert t.snapshot().realized == D("1.333333333333")
    t.on_fill(fill(Side.SELL, "2", "102"))
    s = t.snapshot()
    # 3 * 102 - 302: the rounding of the first close is taken back by the last
    assert s.realized == D("4") and s.position == 0


def test_full_close_of_a_fine_grained_position_leaves_nothing_behind() -> None:
    # 1e-8 ticks and steps: the cost basis has 16 decimals, finer than a partial close's rounding
    t = tracker()
    t.on_fill(fill(Side.BUY, "12.34567891", "0.00012345"))
    t.on_fill(fill(Side.BUY, "3.00000007", "0.00012399"))
    t.on_fill(fill(Side.SELL, "15.34567898", "0.00012401"))
    s = t.snapshot()
    cash = (
        D("15.34567898") * D("0.00012401")
        - D("12.34567891") * D("0.00012345")
        - D("3.00000007") * D("0.00012399")
    )
    assert s.position == 0 and s.realized == cash and s.unrealized == 0


def test_short_positions() -> None:
    t = tracker()
    t.on_fill(fill(Side.SELL, "2", "100"))
    t.on_fill(fill(Side.BUY, "0.5", "90"))
    s = t.snapshot()
    assert s.realized == D("5") and s.position == D("-1.5") and s.entry_price == D("100")
    t.on_mark(D("104"))
    assert t.snapshot().unrealized == D("-6")


def test_flip_through_zero_closes_then_opens_at_the_fill_price() -> None:
    t = tracker()
    t.on_fill(fill(Side.BUY, "1", "100"))
    t.on_fill(fill(Side.SELL, "3", "110"))
    s = t.snapshot()
    assert s.realized == D("10") and s.position == D("-2") and s.entry_price == D("110")
    t.on_fill(fill(Side.BUY, "3", "105"))
    s = t.snapshot()
    assert s.realized == D("20") and s.position == D("1") and s.entry_price == D("105")


def test_unrealized_needs_a_mark() -> None:
    t = tracker()
    t.on_fill(fill(Side.BUY, "2", "100"))
    assert t.snapshot().unrealized is None and t.snapshot().total is None
    t.on_mark(D("105.5"))
    s = t.snapshot()
    assert s.unrealized == D("11") and s.mark_price == D("105.5")
    with pytest.raises(ValueError):
        t.on_mark(D("0"))


def test_starts_from_an_existing_position() -> None:
    t = tracker(position=D("-3"), entry_price=D("50"))
    t.on_mark(D("48"))
    assert t.snapshot().unrealized == D("6")
    t.on_fill(fill(Side.BUY, "3", "49"))
    assert t.snapshot().realized == D("3")
    with pytest.raises(ValueError):
        tracker(position=D("1"))


# ---------------------------------------------------------------- fees, funding, rates


def test_fees_in_quote_base_and_rebates() -> None:
    t = tracker()
    t.on_fill(fill(Side.BUY, "1", "100", fee="0.02"))
    t.on_fill(fill(Side.SELL, "1", "100", fee="-0.01"))  # maker rebate
    t.on_fill(fill(Side.BUY, "1", "100", fee="0.001", fee_asset="SOL"))  # base fee at the fill price
    t.on_fill(fill(Side.SELL, "1", "100", fee="0.5", fee_asset="BNB"))
    s = t.snapshot()
    assert s.fees == D("0.11")
    assert s.other_fees == {"BNB": D("0.5")}


def test_a_usd_market_counts_its_usdc_fees_at_par() -> None:
    # Paradex lists BTC-USD-PERP quoted in USD and charges fees in USDC, its settlement asset.
    usd = dataclasses.replace(RULES, symbol="BTC-USD-PERP", base_asset="BTC", quote_asset="USD")
    t = PnlTracker(usd)
    t.on_fill(fill(Side.BUY, "0.005", "60000", fee="0.06", symbol=usd.symbol))
    t.on_fill(fill(Side.SELL, "0.005", "60010", fee="0.15", fee_asset="USDT", symbol=usd.symbol))
    s = t.snapshot()
    assert s.fees == D("0.06")
    assert s.other_fees == {"USDT": D("0.15")}


def test_funding_is_signed_and_deduplicated() -> None:
    t = tracker()
    assert t.on_funding(funding("-0.25", "f1"))
    assert t.on_funding(funding("0.05", "f2"))
    assert not t.on_funding(funding("-0.25", "f1"))
    assert t.snapshot().funding == D("-0.20")
    with pytest.raises(ValueError):
        t.on_funding(funding("1", "x", symbol="BTC"))


def test_rates_volume_and_deviation() -> None:
    t = tracker(target_position=D("1"))
    assert (
        t.snapshot().fill_rate is None and t.snapshot().fee_ratio is None and t.snapshot().wear_rate is None
    )
    t.on_order_placed(4)
    t.on_fill(fill(Side.BUY, "1", "100", fee="0.02", order_id="a"))
    t.on_fill(fill(Side.BUY, "1", "100", fee="0.02", order_id="a"))  # the same order, partly filled twice
    t.on_fill(fill(Side.SELL, "1", "104", fee="0.02", order_id="b"))
    t.on_funding(funding("-0.04", "f"))
    s = t.snapshot()
    assert (s.fill_count, s.filled_orders, s.orders_placed) == (3, 2, 4)
    assert s.fill_rate == D("0.5")
    assert s.volume_base == D("3") and s.volume_quote == D("304")
    assert s.fee_ratio == D("0.06") / D("304")
    # realized 4, fees 0.06, funding -0.04: net 3.90, a gain, so wear is negative
    assert s.net_realized == D("3.90")
    assert s.wear_rate == D("-3.90") / D("304")
    assert s.position_deviation == D("0")


def test_duplicate_fill_counts_once() -> None:
    t = tracker()
    first = fill(Side.BUY, "1", "100", fee="0.01", trade_id="dup")
    assert t.on_fill(first)
    assert not t.on_fill(first)
    s = t.snapshot()
    assert (s.position, s.fees, s.fill_count, s.volume_quote) == (D("1"), D("0.01"), 1, D("100"))


def test_dedup_window_is_bounded() -> None:
    t = tracker(dedup_window=2)
    for trade_id in ("a", "b", "c"):
        t.on_fill(fill(Side.BUY, "1", "100", trade_id=trade_id))
    assert not t.on_fill(fill(Side.BUY, "1", "100", trade_id="c"))
    assert t.on_fill(fill(Side.BUY, "1", "100", trade_id="a"))  # forgotten: long past any replay


def test_rejects_foreign_or_nonsense_fills() -> None:
    t = tracker()
    with pytest.raises(ValueError):
        t.on_fill(fill(Side.BUY, "1", "100", symbol="BTC_USDC_PERP"))
    with pytest.raises(ValueError):
        t.on_fill(fill(Side.BUY, "0", "100"))


# ---------------------------------------------------------------- intervals


def test_interval_view_since_last_report() -> None:
    t = tracker()
    t.on_fill(fill(Side.BUY, "0.2", "100", fee="0.01"))
    t.on_fill(fill(Side.SELL, "0.1", "110", fee="0.01"))
    first = t.close_interval()
    assert first == IntervalPnl(
        bought_base=D("0.2"),
        sold_base=D("0.1"),
        fills=2,
        volume_quote=D("31"),
        realized=D("1"),
        fees=D("0.02"),
    )
    assert first.pnl == D("0.98")
    assert t.interval() == IntervalPnl()
    t.on_fill(fill(Side.SELL, "0.1", "90", fee="0.01"))
    t.on_funding(funding("0.5", "f"))
    second = t.interval()
    assert (second.sold_base, second.bought_base, second.realized, second.funding) == (
        D("0.1"),
        0,
        D("-1"),
        D("0.5"),
    )
    assert second.pnl == D("-0.51")
    assert t.close_interval() == second and t.interval() == IntervalPnl()
    assert t.snapshot().realized == 0


# ---------------------------------------------------------------- properties

fills_strategy = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.decimals(min_value=D("0.01"), max_value=D("50"), places=2),
        st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
        st.decimals(min_value=D("-1"), max_value=D("1"), places=4),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(trades=fills_strategy, mark=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=3))
def test_realized_plus_unrealized_is_the_cash_flow_marked_to_market(
    trades: list[tuple[Side, D, D, D]], mark: D
) -> None:
    t = tracker()
    t.on_mark(mark)
    cash = D(0)
    position = D(0)
    fees = D(0)
    for side, quantity, price, fee in trades:
        t.on_fill(fill(side, quantity, price, fee=str(fee)))
        cash -= side.sign * quantity * price
        position += side.sign * quantity
        fees += fee
    s = t.snapshot()
    assert s.position == position
    assert s.unrealized is not None
    assert s.realized + s.unrealized == cash + position * mark
    assert s.total == cash + position * mark - fees
    if position == 0:
        assert s.realized == cash


@settings(max_examples=200, deadline=None)
@given(trades=fills_strategy, data=st.data())
def test_replayed_fills_count_once(trades: list[tuple[Side, D, D, D]], data: st.DataObject) -> None:
    fills = [fill(side, quantity, price, fee=str(fee)) for side, quantity, price, fee in trades]
    once, replayed = tracker(), tracker()
    for f in fills:
        once.on_fill(f)
    # a reconnect replays an arbitrary selection of already-seen fills in between
    for i, f in enumerate(fills):
        replayed.on_fill(f)
        for again in data.draw(st.lists(st.sampled_from(fills[: i + 1]), max_size=3)):
            assert not replayed.on_fill(again)
    assert replayed.snapshot() == once.snapshot()
