from __future__ import annotations

import dataclasses
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.config import build_parser, config_from_args
from services.config_checks import check, flag, label, show

VALID: dict[str, Any] = {
    f.name: getattr(cfg, f.name)
    for cfg in [
        config_from_args(
            build_parser().parse_args(
                [
                    "--exchange",
                    "backpack",
                    "--symbol",
                    "SOL_USDC_PERP",
                    "--spread",
                    "0.05",
                    "--quantity",
                    "0.1",
                ]
            ),
            env={},
        )
    ]
    for f in dataclasses.fields(cfg)
}


def problems_with(**changes: Any) -> list[str]:
    return check({**VALID, **changes})


def only_problem(**changes: Any) -> str:
    (problem,) = problems_with(**changes)
    return problem


def test_valid_settings_have_no_problems() -> None:
    assert check(VALID) == []


def test_missing_values_are_skipped_not_crashed_on() -> None:
    assert check({"spread": Decimal(0)}) == [
        "spread 0 must be above 0: it is the full quote width in percent of mid, e.g. 0.05"
    ]
    assert check({}) == []


@pytest.mark.parametrize("spread", ["0", "-0.1"])
def test_spread_must_be_positive(spread: str) -> None:
    assert only_problem(spread=Decimal(spread)).startswith(f"spread {spread} must be above 0")


def test_spread_must_leave_a_positive_bid() -> None:
    assert only_problem(spread=Decimal(200)).startswith("spread 200 must be below 200")


@pytest.mark.parametrize("quantity", ["0", "-0.5"])
def test_quantity_must_be_positive(quantity: str) -> None:
    assert only_problem(quantity=Decimal(quantity)) == (
        f"quantity {quantity} must be above 0: it is the size of each quote in base units"
    )


def test_quantity_cannot_exceed_max_position() -> None:
    assert only_problem(quantity=Decimal(2)) == "quantity 2 is above max-position 1: no quote could be placed"


def test_max_orders_at_least_one() -> None:
    assert only_problem(max_orders=0).startswith("max-orders 0 must be at least 1")


@pytest.mark.parametrize("skew", ["-0.1", "1.5"])
def test_skew_between_zero_and_one(skew: str) -> None:
    assert only_problem(inventory_skew=Decimal(skew)).startswith(
        f"inventory-skew {skew} must be between 0 and 1"
    )


def test_skew_bounds_are_allowed() -> None:
    assert problems_with(inventory_skew=Decimal(0)) == problems_with(inventory_skew=Decimal(1)) == []


@pytest.mark.parametrize("threshold", ["-0.1", "1", "2"])
def test_requote_threshold_is_a_fraction_below_one(threshold: str) -> None:
    assert only_problem(requote_threshold=Decimal(threshold)).startswith(
        f"requote-threshold {threshold} must be 0 or more and below 1"
    )


def test_requote_threshold_zero_means_every_tick_and_is_allowed() -> None:
    assert (
        problems_with(requote_threshold=Decimal(0)) == problems_with(requote_threshold=Decimal("0.5")) == []
    )


def test_positive_stop_loss_explains_the_sign() -> None:
    problem = only_problem(stop_loss=Decimal(25))
    assert problem.startswith("stop-loss 25 must be negative")
    assert "e.g. --stop-loss -25" in problem


def test_zero_stop_loss_is_refused() -> None:
    problem = only_problem(stop_loss=Decimal(0))
    assert problem.startswith("stop-loss 0 would close the position at the first cent of loss")
    assert "--stop-loss -25" in problem


@pytest.mark.parametrize("take_profit", ["0", "-5"])
def test_take_profit_must_be_positive(take_profit: str) -> None:
    assert only_problem(take_profit=Decimal(take_profit)).startswith(
        f"take-profit {take_profit} must be above 0"
    )


def test_max_position_below_target_plus_threshold_names_the_numbers() -> None:
    problem = only_problem(
        max_position=Decimal(1), target_position=Decimal("0.5"), position_threshold=Decimal("0.8")
    )
    assert problem.startswith("max-position 1 is below target-position 0.5 + position-threshold 0.8 = 1.3:")


def test_max_position_equal_to_target_plus_threshold_is_fine() -> None:
    assert (
        problems_with(
            max_position=Decimal("1.3"), target_position=Decimal("0.5"), position_threshold=Decimal("0.8")
        )
        == []
    )


@pytest.mark.parametrize(
    "name", ["target_position", "position_threshold", "max_order_notional", "sl_cooldown"]
)
def test_not_negative(name: str) -> None:
    assert only_problem(**{name: Decimal(-1)}).startswith(f"{label(name)} -1 must be 0 or more")


@pytest.mark.parametrize("name", ["interval", "duration", "hang_timeout", "md_stale", "order_rate_limit"])
def test_durations_and_rates_must_be_positive(name: str) -> None:
    assert only_problem(**{name: 0.0}).startswith(f"{label(name)} 0 must be above 0")


def test_max_position_must_be_positive() -> None:
    found = problems_with(max_position=Decimal(0), position_threshold=Decimal(0))
    assert "max-position 0 must be above 0: it is the hard limit on the absolute position" in found


def test_unknown_exchange_lists_the_choices() -> None:
    assert only_problem(exchange="binance") == (
        "exchange binance is not supported; choose one of: backpack, aster, paradex"
    )


def test_spot_is_refused_as_perp_only() -> None:
    assert only_problem(market_type="spot") == (
        "market-type spot is not supported: perp-mm trades perpetual futures only (use --market-type perp)"
    )


@pytest.mark.parametrize(
    ("name", "value", "listed"),
    [
        ("lang", "fr", "zh-TW, en"),
        ("on_hang", "ignore", "cancel, flatten"),
        ("reduce_mode", "twap", "market, maker"),
        ("log_format", "xml", "console, json"),
        ("log_level", "TRACE", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_other_choices(name: str, value: str, listed: str) -> None:
    assert only_problem(**{name: value}) == f"{label(name)} {value} is not supported; choose one of: {listed}"


def test_missing_symbol() -> None:
    assert only_problem(symbol="").startswith("missing symbol")


def test_symbol_must_be_a_perpetual_where_the_venue_marks_it() -> None:
    assert only_problem(symbol="SOL_USDC") == (
        "symbol SOL_USDC is not a backpack perpetual: perp symbols end in _PERP (SOL_USDC_PERP)"
    )
    assert "end in -PERP" in only_problem(exchange="paradex", symbol="BTC-USD")
    assert problems_with(exchange="paradex", symbol="BTC-USD-PERP") == []
    assert problems_with(exchange="aster", symbol="SOLUSDT") == []


def test_metrics_ports() -> None:
    assert only_problem(md_metrics_port=70000).startswith("md-metrics-port 70000 is not a TCP port")
    assert only_problem(risk_metrics_port=9101) == (
        "md-metrics-port and risk-metrics-port share port 9101: each process needs its own metrics port"
    )
    assert problems_with(md_metrics_port=0, orders_metrics_port=0) == []
    assert only_problem(metrics_host="").startswith("metrics-host is empty")


def test_endpoint_forms() -> None:
    assert (
        only_problem(md_endpoint="udp://x:1")
        == "md-endpoint udp://x:1 must start with ipc://, tcp:// or inproc://"
    )
    assert "must look like tcp://HOST:PORT" in problems_with(md_endpoint="tcp://host", keys_dir=Path("/k"))[0]
    assert problems_with(md_endpoint="tcp://host:0", keys_dir=Path("/k"))[0].endswith("tcp://HOST:PORT")
    assert problems_with(md_endpoint="inproc://md") == []


def test_tcp_needs_keys_dir() -> None:
    assert only_problem(md_endpoint="tcp://10.0.0.1:7001").startswith("tcp:// endpoints need --keys-dir")
    assert problems_with(md_endpoint="tcp://10.0.0.1:7001", keys_dir=Path("/k")) == []


def test_duplicate_endpoints() -> None:
    assert only_problem(exec_endpoint=VALID["md_endpoint"]) == (
        f"md-endpoint and exec-endpoint share {VALID['md_endpoint']}: each endpoint needs its own address"
    )


def test_ipc_path_must_fit_a_unix_socket() -> None:
    fits = "ipc:///" + "x" * 106
    assert problems_with(md_endpoint=fits) == []
    problem = only_problem(md_endpoint=fits + "y")
    assert problem.endswith(
        "is a 108-byte socket path; unix sockets allow at most 107: choose a shorter --run-dir"
    )


def test_flag_label_and_show() -> None:
    assert flag("max_position") == "--max-position"
    assert label("risk_ctl_endpoint") == "risk-ctl-endpoint"
    assert show(Decimal("1E+2")) == "100"
    assert show(Decimal("0.50")) == "0.5"
    assert show(1.5) == "1.5"
    assert show(1234567.0) == "1234567"
    assert show(-0.25) == "-0.25"


def test_cpu_lists_are_checked_against_this_machine() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    absent = max(cpus) + 1
    assert problems_with(md_cpus=str(cpus[0]), orders_cpus=f"{cpus[0]}-{cpus[-1]}", risk_cpus=None) == []
    assert problems_with(orders_cpus=str(absent), strategy_cpus="1-0") == [
        f"orders-cpus {absent} names CPU {absent}, which this machine does not give us: choose from "
        f"{cpus[0]}-{cpus[-1]}" + ", or leave it unset to run on any CPU",
        "strategy-cpus '1-0' has the range 1-0 backwards: write it 0-1",
    ]
