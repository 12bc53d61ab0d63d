"""deploy/config.example.toml: every setting documented, and the file loads as every process loads it."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import pytest

from services.config import Config, ConfigError, build_parser, config_from_args, load_config

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "deploy" / "config.example.toml"
SETTINGS = [f.name for f in fields(Config)]
# A setting line, live (`key = value`) or shown commented out (`# key = value`).
_SETTING_LINE = re.compile(r"^(#\s*)?([a-z_]+)\s*=\s*(.+)$")


def _setting_lines() -> dict[str, tuple[int, bool]]:
    """Line index and whether it is commented out, for every setting the file mentions."""
    found: dict[str, tuple[int, bool]] = {}
    for index, line in enumerate(EXAMPLE.read_text().splitlines()):
        match = _SETTING_LINE.match(line)
        if match is not None and match.group(2) in SETTINGS:
            found.setdefault(match.group(2), (index, match.group(1) is not None))
    return found


def test_example_loads_through_services_config_and_validates() -> None:
    cfg = load_config(["--config", str(EXAMPLE)], env={})
    assert cfg.exchange == "backpack"
    assert cfg.symbol == "SOL_USDC_PERP"
    assert cfg.sim is False


def test_example_carries_the_original_parameters() -> None:
    cfg = load_config(["--config", str(EXAMPLE)], env={})
    assert (cfg.spread, cfg.quantity, cfg.max_orders) == (Decimal("0.01"), Decimal("0.1"), 2)
    assert (cfg.target_position, cfg.max_position, cfg.position_threshold) == (0, 5, 2)
    assert (cfg.inventory_skew, cfg.stop_loss, cfg.take_profit) == (0, Decimal(-1), 5)
    assert (cfg.duration, cfg.interval) == (3600.0, 10.0)


def test_money_is_read_as_exact_decimals() -> None:
    with EXAMPLE.open("rb") as f:
        doc = tomllib.load(f, parse_float=Decimal)
    cfg = load_config(["--config", str(EXAMPLE)], env={})
    assert cfg.spread == doc["spread"] == Decimal("0.01")
    assert isinstance(cfg.stop_loss, Decimal)


def test_every_setting_is_in_the_file_with_a_comment_above_it() -> None:
    lines = EXAMPLE.read_text().splitlines()
    found = _setting_lines()
    assert sorted(found) == sorted(SETTINGS), f"missing: {sorted(set(SETTINGS) - set(found))}"
    setting_rows = {index for index, _ in found.values()}
    for name, (index, _) in found.items():
        # A block of example lines (the six endpoints) shares the comment above the block.
        above = index - 1
        while above in setting_rows:
            above -= 1
        assert lines[above].startswith("#") and lines[above] != "#", f"{name} has no comment above it"


def test_the_four_metrics_ports_are_the_defaults_prometheus_scrapes() -> None:
    cfg = load_config(["--config", str(EXAMPLE)], env={})
    ports = (cfg.md_metrics_port, cfg.orders_metrics_port, cfg.strategy_metrics_port, cfg.risk_metrics_port)
    assert ports == (9101, 9102, 9103, 9104)
    scrape = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    for port in ports:
        assert f"127.0.0.1:{port}" in scrape


def test_commented_out_examples_are_valid_when_uncommented(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    commented = [name for name, (_, is_comment) in _setting_lines().items() if is_comment]
    assert {"run_dir", "keys_dir", "md_endpoint"} <= set(commented)
    pattern = re.compile(r"^#\s*(" + "|".join(commented) + r")\s*=", re.MULTILINE)
    uncommented = tmp_path / "all.toml"
    uncommented.write_text(pattern.sub(r"\1 =", text))
    cfg = load_config(["--config", str(uncommented)], env={})
    assert cfg.run_dir == Path("/run/perp-mm")
    assert cfg.md_endpoint == "ipc:///run/perp-mm/md.sock"


def test_supervisord_run_dir_from_the_environment_wins_over_the_file() -> None:
    cfg = load_config(["--config", str(EXAMPLE)], env={"PERP_MM_RUN_DIR": "/run/perp-mm"})
    assert cfg.run_dir == Path("/run/perp-mm")
    assert cfg.risk_ctl_endpoint == "ipc:///run/perp-mm/risk_ctl.sock"


def test_a_broken_copy_is_refused_with_the_setting_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(EXAMPLE.read_text().replace("stop_loss = -1", "stop_loss = 1"))
    args = build_parser().parse_args(["--config", str(broken)])
    with pytest.raises(ConfigError, match="stop-loss 1 must be negative"):
        config_from_args(args, env={})
