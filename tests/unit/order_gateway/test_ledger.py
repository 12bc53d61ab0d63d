"""The journal's PnL: fills and funding replayed by average cost, other markets and replays left out."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from order_gateway.journal import Journal
from order_gateway.ledger import journal_pnl
from services.wire import Fill, FundingPayment, Side
from venues.emulator.accounts import PositionState
from venues.precision import MarketRules

D = Decimal
SYM = "SOL_USDC_PERP"
RULES = MarketRules(
    symbol=SYM,
    base_asset="SOL",
    quote_asset="USDC",
    tick_size=D("0.01"),
    step_size=D("0.01"),
    min_quantity=D("0.01"),
)
# (trade id, side, price, quantity, fee): in at 100 and 110, out 1.5 at 120, short 0.5 through zero at 90.
TRADES = [
    ("t1", Side.BUY, "100", "1", "0.02"),
    ("t2", Side.BUY, "110", "1", "0.022"),
    ("t3", Side.SELL, "120", "1.5", "-0.009"),
    ("t4", Side.SELL, "90", "1", "0.045"),
]


def fill(trade_id: str, side: Side, price: str, quantity: str, fee: str, *, symbol: str = SYM) -> Fill:
    return Fill(
        symbol=symbol,
        trade_id=trade_id,
        order_id=f"o-{trade_id}",
        client_id=1,
        side=side,
        price=D(price),
        quantity=D(quantity),
        fee=D(fee),
        fee_asset="USDC",
        is_maker=True,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    journal = Journal(tmp_path / "journal.sqlite")
    for ts_ns, trade in enumerate(TRADES):
        journal.add_fill(fill(*trade), ts_ns=ts_ns)
    journal.add_fill(fill(*TRADES[0]), ts_ns=10)  # the same trade again (REST history after the stream)
    journal.add_fill(fill("x1", Side.BUY, "60000", "1", "12", symbol="BTC_USDC_PERP"), ts_ns=11)
    journal.add_funding(FundingPayment(symbol=SYM, payment_id="f1", amount=D("0.5")), ts_ns=12)
    journal.add_funding(FundingPayment(symbol=SYM, payment_id="f2", amount=D("-0.2")), ts_ns=13)
    journal.add_funding(FundingPayment(symbol="BTC_USDC_PERP", payment_id="f3", amount=D("-9")), ts_ns=14)
    return journal


def test_realized_fees_funding_and_position_from_the_journal(journal: Journal) -> None:
    snap = journal_pnl(journal, RULES, mark=D("95"))
    # 1.5 closed at 120 against an average of 105, then 0.5 closed at 90: 22.5 - 7.5.
    assert snap.realized == D("15")
    assert snap.fees == D("0.078")
    assert snap.funding == D("0.3")
    assert snap.net_realized == D("15.222")
    assert snap.position == D("-0.5")
    assert snap.entry_price == D("90")
    assert snap.unrealized == D("-2.5")  # short 0.5 from 90, marked at 95
    assert snap.fill_count == 4


def test_the_unrealized_pnl_is_unknown_without_a_mark_unless_flat(journal: Journal, tmp_path: Path) -> None:
    assert journal_pnl(journal, RULES, mark=None).unrealized is None
    empty = Journal(tmp_path / "empty.sqlite")
    flat = journal_pnl(empty, RULES, mark=None)
    assert (flat.position, flat.realized, flat.unrealized) == (0, 0, 0)


def test_agrees_with_the_emulators_position_arithmetic(journal: Journal) -> None:
    venue = PositionState(position_id="p")
    for _, side, price, quantity, _ in TRADES:
        venue.apply_fill(side, D(quantity), D(price))
    snap = journal_pnl(journal, RULES, mark=D("95"))
    assert snap.realized == venue.realized_pnl
    assert snap.position == venue.quantity
    assert snap.unrealized == venue.unrealized(D("95"))
