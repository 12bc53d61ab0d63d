"""What run.py does with the orders it finds after a stop: ours cancelled, foreign ones left and named."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

from order_gateway.journal import Journal
from order_gateway.leftovers import Leftovers, split
from services.wire import OrderStatus, OrderType, OrderUpdate, Place, Side

D = Decimal
SYM = "BTC-USD-PERP"


def resting(order_id: str, client_id: int | None, order_type: OrderType = OrderType.LIMIT) -> OrderUpdate:
    return OrderUpdate(
        symbol=SYM,
        order_id=order_id,
        client_id=client_id,
        side=Side.SELL,
        order_type=order_type,
        price=D(60000) if order_type is OrderType.LIMIT else None,
        quantity=D("0.01"),
        filled_quantity=D(0),
        status=OrderStatus.NEW,
        venue_type="STOP_MARKET" if order_type is OrderType.CONDITIONAL else "",
    )


def test_ours_are_the_journals_and_the_guardians_the_rest_stays(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.record_intent(
        Place(client_id=5, symbol=SYM, side=Side.SELL, quantity=D("0.01"), price=D(60000)), now_ns=1
    )
    journal.record_order(resting("1", 5), now_ns=2)
    mine, guardian = resting("1", 5), resting("2", 2**31 + 9)
    stop, by_hand = resting("3", None, OrderType.CONDITIONAL), resting("4", 77)
    ours, foreign = split([mine, guardian, stop, by_hand], journal)
    assert (ours, foreign) == ([mine, guardian], [stop, by_hand])
    # No journal: every plain order is taken for ours, a conditional one never.
    assert split([mine, stop], None) == ([mine], [stop])


def test_the_end_of_run_line_counts_ours_and_names_the_foreign_ones() -> None:
    assert Leftovers(0, ()).line(SYM) + "\n" == f"orders left open on {SYM} after stop: 0\n"
    stop = resting("3", None, OrderType.CONDITIONAL)
    line = Leftovers(2, (stop, dataclasses.replace(stop, order_id="5"))).line(SYM)
    assert line == (
        f"orders left open on {SYM} after stop: 2 (cancelled now); 2 foreign order(s) stay "
        "(2 STOP_MARKET): perp-mm did not place them"
    )
