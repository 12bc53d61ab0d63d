from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from services.config import (
    Config,
    ConfigError,
    build_parser,
    config_from_args,
    config_to_toml,
    load_config,
    parse_config,
)

BASE = ["--exchange", "backpack", "--symbol", "SOL_USDC_PERP", "--spread", "0.05", "--quantity", "0.1"]


def load(argv: list[str], env: dict[str, str] | None = None) -> Config:
    return config_from_args(build_parser().parse_args(argv), env={} if env is None else env)


def problems(argv: list[str], env: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load(argv, env)
    return caught.value.problems


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults() -> None:
    cfg = load(BASE)
    assert (cfg.exchange, cfg.market_type, cfg.symbol) == ("backpack", "perp", "SOL_USDC_PERP")
    assert cfg.max_orders == 3
    assert (cfg.interval, cfg.duration) == (60.0, 3600.0)
    assert (cfg.target_position, cfg.max_position, cfg.position_threshold) == (0, 1, Decimal("0.1"))
    assert cfg.inventory_skew == 0
    assert cfg.stop_loss is None and cfg.take_profit is None
    assert cfg.sim is False and cfg.close_on_exit is False
    assert cfg.lang == "zh-TW"
    assert (cfg.hang_timeout, cfg.on_hang, cfg.sl_cooldown, cfg.md_stale) == (1.5, "cancel", 0.0, 5.0)
    assert (cfg.reduce_mode, cfg.max_order_notional, cfg.order_rate_limit) == ("market", 0, 10.0)
    assert (cfg.log_format, cfg.log_level, cfg.keys_dir) == ("console", "INFO", None)
    assert cfg.metrics_host == "127.0.0.1"
    ports = (cfg.md_metrics_port, cfg.orders_metrics_port, cfg.strategy_metrics_port, cfg.risk_metrics_port)
    assert ports == (9101, 9102, 9103, 9104)
    assert cfg.run_dir == Path(f"/tmp/perp-mm-{os.getuid()}")
    assert cfg.data_dir == Path.cwd() / "data"
    assert cfg.md_endpoint == f"ipc:///tmp/perp-mm-{os.getuid()}/md.sock"
    assert cfg.risk_ctl_endpoint == f"ipc:///tmp/perp-mm-{os.getuid()}/risk_ctl.sock"


def test_run_dir_follows_xdg_runtime_dir_and_endpoints_follow_run_dir() -> None:
    cfg = load(BASE, {"XDG_RUNTIME_DIR": "/run/user/1000"})
    assert cfg.run_dir == Path("/run/user/1000/perp-mm")
    assert cfg.exec_endpoint == "ipc:///run/user/1000/perp-mm/exec.sock"
    cfg = load(
        [*BASE, "--run-dir", "/srv/mm", "--orders-endpoint", "tcp://10.0.0.2:7002", "--keys-dir", "/k"]
    )
    assert cfg.strategy_endpoint == "ipc:///srv/mm/strategy.sock"
    assert cfg.orders_endpoint == "tcp://10.0.0.2:7002"
    assert cfg.keys_dir == Path("/k")


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load([*BASE, "--data-dir", "journal", "--run-dir", "run"])
    assert cfg.data_dir == tmp_path / "journal"
    assert cfg.md_endpoint == f"ipc://{tmp_path / 'run' / 'md.sock'}"


def test_money_is_exact_decimal_from_every_source(tmp_path: Path) -> None:
    from_cli = load([*BASE[:6], "--quantity", "0.1", "--inventory-skew", "0.3"])
    conf = write(tmp_path / "c.toml", "quantity = 0.1\nstop_loss = -0.3\n")
    from_toml = load([*BASE[:6], "--config", str(conf)])
    from_env = load(BASE[:6], {"PERP_MM_QUANTITY": "0.1", "PERP_MM_TAKE_PROFIT": "1e-1"})
    for cfg in (from_cli, from_toml, from_env):
        assert type(cfg.quantity) is Decimal
        assert cfg.quantity.as_tuple() == Decimal("0.1").as_tuple()
        assert cfg.quantity * 3 == Decimal("0.3")
    assert from_cli.inventory_skew.as_tuple() == Decimal("0.3").as_tuple()
    assert from_toml.stop_loss is not None and from_toml.stop_loss.as_tuple() == Decimal("-0.3").as_tuple()
    assert from_env.take_profit == Decimal("0.1")
    assert type(from_cli.interval) is float


def test_precedence_cli_over_env_over_toml_over_default(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "c.toml",
        'exchange = "backpack"\nsymbol = "SOL_USDC_PERP"\n'
        "spread = 0.01\nquantity = 0.2\nmax_orders = 4\nmax_position = 3\n",
    )
    env = {"PERP_MM_SPREAD": "0.02", "PERP_MM_QUANTITY": "0.3", "PERP_MM_CONFIG": str(conf)}
    cfg = load(["--spread", "0.03"], env)
    assert cfg.spread == Decimal("0.03")  # command line
    assert cfg.quantity == Decimal("0.3")  # environment
    assert cfg.max_orders == 4  # file
    assert cfg.max_position == 3  # file
    assert cfg.interval == 60.0  # default
    assert load(["--config", str(conf)], {}).spread == Decimal("0.01")


def test_booleans_from_every_source(tmp_path: Path) -> None:
    assert load([*BASE, "--sim"]).sim is True
    assert load(BASE, {"PERP_MM_SIM": "yes"}).sim is True
    assert load([*BASE, "--no-sim"], {"PERP_MM_SIM": "1"}).sim is False
    conf = write(tmp_path / "c.toml", "close_on_exit = true\n")
    assert load([*BASE, "--config", str(conf)]).close_on_exit is True


def test_choices_ignore_case_and_keep_canonical_spelling() -> None:
    cfg = load(
        ["--exchange", "Aster", "--symbol", "SOLUSDT", *BASE[4:], "--log-level", "debug", "--lang", "EN"]
    )
    assert (cfg.exchange, cfg.log_level, cfg.lang) == ("aster", "DEBUG", "en")


def test_negative_numbers_parse_on_the_command_line() -> None:
    assert load([*BASE, "--stop-loss", "-25"]).stop_loss == Decimal("-25")


def test_env_values_of_the_wrong_type_name_the_variable() -> None:
    found = problems(
        BASE,
        {
            "PERP_MM_MAX_ORDERS": "two",
            "PERP_MM_SIM": "maybe",
            "PERP_MM_INTERVAL": "nan",
            "PERP_MM_SPREAD": "x",
        },
    )
    assert "PERP_MM_MAX_ORDERS = 'two': expected a whole number" in found
    assert "PERP_MM_SIM = 'maybe': expected true or false" in found
    assert "PERP_MM_INTERVAL = 'nan': expected a number of seconds, not nan" in found
    # The command line wins, so the bad PERP_MM_SPREAD is never read.
    assert not any("PERP_MM_SPREAD" in p for p in found)


def test_unknown_env_setting_is_refused_with_a_suggestion() -> None:
    (problem,) = problems(BASE, {"PERP_MM_MAX_POSITON": "5", "OTHER_VAR": "x"})
    assert (
        problem
        == "environment variable PERP_MM_MAX_POSITON is not a setting (did you mean PERP_MM_MAX_POSITION?)"
    )


def test_toml_problems_name_the_key(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "c.toml", 'sprad = 1\nmax-orders = 2\nsymbol = 5\nmax_orders = "many"\n[bus]\nx = 1\n'
    )
    found = problems([*BASE, "--config", str(conf)])
    assert f"config file {conf}: unknown key sprad (did you mean spread?)" in found
    assert f"config file {conf}: write key max-orders as max_orders" in found
    assert f"config file {conf}: unknown key bus" in found
    assert f"max_orders in {conf} = 'many': expected a whole number" in found
    assert not any("symbol in" in p for p in found)  # --symbol on the command line wins
    found = problems(["--config", str(conf), *BASE[:2], *BASE[4:]])
    assert f"symbol in {conf} = 5: expected text" in found


def test_unreadable_or_invalid_toml_is_reported(tmp_path: Path) -> None:
    (problem,) = problems([*BASE, "--config", str(tmp_path / "none.toml")])
    assert problem.startswith(f"config file {tmp_path / 'none.toml'}: cannot read it")
    bad = write(tmp_path / "bad.toml", "spread = = 1\n")
    (problem,) = problems([*BASE, "--config", str(bad)])
    assert problem.startswith(f"config file {bad}: not valid TOML")


def test_missing_required_settings_are_all_named() -> None:
    found = problems([])
    for name, flag, env in (
        ("exchange", "--exchange", "PERP_MM_EXCHANGE"),
        ("symbol", "--symbol", "PERP_MM_SYMBOL"),
        ("spread", "--spread", "PERP_MM_SPREAD"),
        ("quantity", "--quantity", "PERP_MM_QUANTITY"),
    ):
        (problem,) = [p for p in found if p.startswith(f"missing {name} ")]
        assert flag in problem and env in problem


def test_one_error_carries_every_problem() -> None:
    found = problems(
        [
            *BASE[:4],
            "--spread",
            "0",
            "--quantity",
            "-1",
            "--max-orders",
            "0",
            "--exchange",
            "ftx",
            "--interval",
            "0",
        ]
    )
    assert len(found) == 5
    assert "exchange ftx is not supported; choose one of: backpack, aster, paradex" in found
    text = str(ConfigError(found))
    assert text.startswith("invalid configuration:\n  - ")
    assert all(p in text for p in found)


def test_max_position_rule_names_the_three_numbers() -> None:
    found = problems(
        [*BASE, "--max-position", "1", "--target-position", "0.5", "--position-threshold", "0.8"]
    )
    assert found[0].startswith("max-position 1 is below target-position 0.5 + position-threshold 0.8 = 1.3")


def test_load_config_prints_problems_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        load_config([*BASE, "--market-type", "spot", "--stop-loss", "25"], env={}, prog="strategy")
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("strategy: invalid configuration:")
    assert "market-type spot is not supported: perp-mm trades perpetual futures only" in err
    assert "stop-loss 25 must be negative" in err
    assert "Traceback" not in err


def test_parse_config_returns_a_process_s_own_arguments() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--instance", default="a")

    cfg, args = parse_config([*BASE, "--instance", "b"], env={}, add_arguments=extra)
    assert args.instance == "b"
    assert cfg.symbol == "SOL_USDC_PERP"


def test_constructing_an_invalid_config_is_refused() -> None:
    cfg = load(BASE)
    with pytest.raises(ConfigError, match="quantity 0 must be above 0"):
        dataclasses.replace(cfg, quantity=Decimal(0))


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = load(
        [
            "--exchange", "aster", "--symbol", "SOLUSDT", "--spread", "0.0123", "--quantity", "0.10",
            "--max-position", "12.5", "--target-position", "1", "--position-threshold", "2",
            "--inventory-skew", "0.35", "--stop-loss", "-25.5", "--take-profit", "1E+2",
            "--interval", "2.5", "--duration", "1e-3", "--sim", "--lang", "en",
            "--metrics-host", 'odd "host" \\ \x01\x7f', "--keys-dir", "/keys", "--risk-metrics-port", "0",
            "--md-endpoint", "tcp://127.0.0.1:7001", "--log-format", "json",
            "--orders-cpus", str(min(os.sched_getaffinity(0))),
        ]
    )  # fmt: skip
    text = config_to_toml(cfg)
    doc = tomllib.loads(text)
    assert doc["resolved"] is True
    assert "stop_loss" in doc and "take_profit" in doc
    assert doc["orders_cpus"] == str(min(os.sched_getaffinity(0))) and "md_cpus" not in doc
    path = write(tmp_path / "resolved.toml", text)
    again = load(["--config", str(path)], {"PERP_MM_SPREAD": "9", "PERP_MM_BOGUS": "1"})
    assert again == cfg
    assert again.take_profit == Decimal(100)
    assert load(["--config", str(path), "--spread", "0.5"]).spread == Decimal("0.5")


def test_toml_round_trip_leaves_unset_values_out(tmp_path: Path) -> None:
    cfg = load(BASE)
    text = config_to_toml(cfg)
    assert "stop_loss" not in text and "keys_dir" not in text
    assert load(["--config", str(write(tmp_path / "r.toml", text))]) == cfg


def test_help_lists_every_flag_with_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(prog="perp-mm").parse_args(["--help"])
    out = capsys.readouterr().out
    for field in dataclasses.fields(Config):
        assert "--" + field.name.replace("_", "-") in out
    assert "{backpack,aster,paradex}" in out
    assert "(default: 9101)" in out
