"""The system benchmark's judgement: the quoter's target for a book, our resting quotes, the ratios."""

from __future__ import annotations

from decimal import Decimal

from bench.system import SETTINGS, _ratios, market_top, resting_prices, target_prices
from services.config import load_config
from services.wire import Side

D = Decimal
CFG = load_config([*SETTINGS, "--interval", "10"], env={})


def test_target_is_the_quoters_ladder_for_the_book_and_position() -> None:
    top = (D("149.94"), D("150.06"))
    assert target_prices(top, D(0), CFG) == {(Side.BUY, D("149.96")), (Side.SELL, D("150.04"))}
    # At the position limit only the reducing side is quoted.
    assert target_prices(top, D(5), CFG) == {(Side.SELL, D("150.04"))}
    assert target_prices((None, D("150.06")), D(0), CFG) == set()


def test_the_book_is_judged_without_the_designs_own_quotes() -> None:
    market = {
        "bids": [["149.96", "0.1"], ["149.94", "3"]],
        "asks": [["150.04", "0.5"], ["150.06", "3"]],
    }

    def mine(side: str, price: str, quantity: str, filled: str = "0") -> dict[str, object]:
        fields = {"order_id": price, "client_id": 1, "side": side, "price": price}
        return fields | {"quantity": quantity, "filled_quantity": filled}

    # Our bid is the whole best bid; our ask, partly filled, a part of the best ask.
    account = {"open_orders": [mine("buy", "149.96", "0.1"), mine("sell", "150.04", "0.3", "0.1")]}
    assert market_top(market, account) == (D("149.94"), D("150.04"))
    assert market_top(market, {"open_orders": []}) == (D("149.96"), D("150.04"))


def test_resting_prices_read_the_emulators_open_orders() -> None:
    account = {
        "open_orders": [
            {"side": "buy", "price": "149.96"},
            {"side": "sell", "price": "150.04"},
            {"side": "sell", "price": None},
        ]
    }
    assert resting_prices(account) == {(Side.BUY, D("149.96")), (Side.SELL, D("150.04"))}


def test_ratios_say_how_many_times_better_and_none_without_a_figure() -> None:
    system = {"reaction_ms": {"p50": 20.0}, "rest_per_min": 300.0, "time_at_correct_price": 0.9}
    reference = {"reaction_ms": {"p50": 5000.0}, "rest_per_min": 30.0, "time_at_correct_price": 0.1}
    assert _ratios(system, reference) == {
        "reaction_p50_reference_over_system": 250.0,
        "rest_per_min_system_over_reference": 10.0,
        "time_at_correct_price_system_over_reference": 9.0,
    }
    assert _ratios({**system, "reaction_ms": {}}, reference)["reaction_p50_reference_over_system"] is None
