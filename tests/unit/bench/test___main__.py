"""The bench runner's summary table and which modules it runs."""

from __future__ import annotations

from typing import Any

from bench.__main__ import BENCHMARKS, available, table

RESULTS: dict[str, Any] = {
    "bus": {
        "pub_sub": {"msgs_per_s": 106940},
        "req_rep": {"p50_us": 179.4, "p99_us": 312.6},
    },
    "tick_to_trade": {
        "measured": 500,
        "tick_to_trade_ms": {"p50": 9.05, "p99": 21.1},
        "tick_to_accept_ms": {"p50": 9.9, "p99": 25.0},
    },
    "risk_reaction": {
        name: {"p50": 6.3, "p99": 14.3, "n": 15}
        for name in ("stop_loss_bus", "stop_loss_poll", "hang_to_cancel_all")
    },
    "system": {
        "interval_s": 10.0,
        "system": {
            "reaction_ms": {"p50": 290.0},
            "time_at_correct_price": 0.87,
            "rest_per_min": 750.0,
            "rest_per_min_order_entry": 560.0,
            "book_updates_per_s": 104.0,
            "cpu_pct": {"strategy": 3.9, "emulator": 4.9},
            "rss_mb": {"strategy": 106.8, "emulator": 105.3},
        },
        "reference": {
            "reaction_ms": {"p50": 5200.0},
            "time_at_correct_price": 0.06,
            "rest_per_min": 30.0,
            "rest_per_min_order_entry": 12.0,
        },
        "reference_fast": {
            "interval_s": 1.0,
            "reaction_ms": {"p50": 600.0},
            "time_at_correct_price": 0.3,
            "rest_per_min": 290.0,
        },
        "ratios": {
            "reaction_p50_reference_over_system": 17.93,
            "rest_per_min_system_over_reference": 25.0,
            "time_at_correct_price_system_over_reference": 14.5,
        },
    },
    "soak": {"anything": 1},
    "rest_calls": {
        "get_limit_per_min": 60,
        "venues": {
            "paradex": {
                "rest_per_min": 420.4,
                "rest_per_min_by_method": {"DELETE": 200.2, "GET": 12.0, "POST": 208.2},
            },
        },
    },
}


def test_table_has_one_markdown_row_per_headline_figure() -> None:
    lines = table(RESULTS).splitlines()
    assert lines[:2] == ["| benchmark | result | target |", "|---|---|---|"]
    assert len(lines) == 2 + 2 + 2 + 3 + 6 + 1
    assert lines[-1] == (
        "| REST calls per minute, steady state, paradex (the seed's line, counted at the exchange) "
        "| 420 (DELETE 200, GET 12, POST 208) | GET < 60/min |"
    )
    assert "new order arriving at the exchange | p50 9.1 ms, p99 21.1 ms (500 moves; unpinned) |" in lines[4]
    assert "acceptance of that order | p50 9.9 ms, p99 25.0 ms |" in lines[5]
    assert "| 106,940 msgs/s | >= 100,000 |" in lines[2]
    assert "290 ms vs 5.2 s (18x faster)" in table(RESULTS)
    assert "87.0% vs 6.0% (14x as long)" in table(RESULTS)
    assert "750 vs 30 (25x as many; placing or cancelling one order 560 vs 12)" in table(RESULTS)
    assert "strategy 3.9%" in table(RESULTS) and "emulator" not in table(RESULTS)
    assert "| reference loop at --interval 1 s | reaction p50 600 ms, at the correct price 30.0%" in table(
        RESULTS
    )
    without_fast = {
        **RESULTS,
        "system": {k: v for k, v in RESULTS["system"].items() if k != "reference_fast"},
    }
    assert len(table(without_fast).splitlines()) == len(lines) - 1


def test_a_result_missing_a_figure_says_so_and_absent_ones_are_skipped() -> None:
    lines = table({"bus": {"pub_sub": {}}}).splitlines()
    assert len(lines) == 3 and lines[2].startswith("| bus | result file lacks")


def test_small_ratios_keep_a_decimal() -> None:
    few = {
        **RESULTS["system"],
        "ratios": {**RESULTS["system"]["ratios"], "reaction_p50_reference_over_system": 1.43},
    }
    assert "(1.4x faster)" in table({"system": few})


def test_the_default_run_is_every_benchmark_and_not_the_reference_program() -> None:
    assert set(BENCHMARKS) <= set(available())
    assert "reference_loop" not in available()


def test_the_tick_to_trade_row_says_where_the_processes_ran() -> None:
    pinned = {**RESULTS["tick_to_trade"], "cpus_pinned": {"strategy": "0", "order_gateway": "1"}}
    lines = table({**RESULTS, "tick_to_trade": pinned}).splitlines()
    (row,) = [line for line in lines if "tick to trade" in line]
    assert "(500 moves; strategy on CPU 0, order_gateway on CPU 1)" in row
