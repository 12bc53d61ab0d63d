"""The command line: commands, bad input, settings the kill switch does not need."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from risk.cli import main

SOL = ["--exchange", "backpack", "--symbol", "SOL_USDC_PERP"]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``main`` sets up process logging on the captured stderr; later tests must not write to it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_a_positive_stop_loss_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", *SOL, "--stop-loss", "25"], env={}) == 2
    assert "stop-loss 25 must be negative" in capsys.readouterr().err


def test_missing_keys_are_refused_before_anything_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flatten", *SOL], env={}) == 2
    assert "BACKPACK_API_KEY" in capsys.readouterr().err


def test_a_missing_symbol_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--exchange", "backpack"], env={}) == 2
    assert "missing symbol" in capsys.readouterr().err


def test_guardian_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", *SOL, "--poll-interval", "0"], env={}) == 2
    assert "poll-interval 0 must be above 0" in capsys.readouterr().err
    assert main(["watch", *SOL, "--leverage", "ten"], env={}) == 2
    assert "--leverage = 'ten': expected a number" in capsys.readouterr().err
    assert main(["watch", *SOL, "--margin-fraction-limit", "-1"], env={}) == 2
    assert "margin-fraction-limit -1 must be above 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["flatten", *SOL, "--timeout", "0"], env={})
    assert "--timeout 0.0 must be above 0 seconds" in capsys.readouterr().err


def test_guardian_settings_come_from_the_shared_config_file(tmp_path: Path) -> None:
    from risk.cli import _guard_options
    from services.config import build_parser, config_from_args

    config = tmp_path / "c.toml"
    config.write_text(
        "margin_fraction_limit = 0.08\nleverage = 5\npoll_interval = 0.5\ndead_man_timeout = 60\n"
    )
    parser = build_parser()
    parser.add_argument("--skip-margin-check", action="store_true")
    args = parser.parse_args([*SOL, "--spread", "1", "--quantity", "0.1", "--config", str(config)])
    options = _guard_options(config_from_args(args, env={}), args)
    assert (options.margin_fraction_limit, options.leverage) == (Decimal("0.08"), Decimal("5"))
    assert (options.poll_interval_s, options.dead_man_timeout_s, options.check_margin) == (0.5, 60.0, True)


def test_status_needs_no_market_settings_and_says_when_nobody_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = Path("/tmp") / f"pmcli{tmp_path.name[-6:]}"
    assert main(["status", "--run-dir", str(run_dir), "--timeout", "0.2"], env={}) == 1
    assert "no guardian answered on ipc://" in capsys.readouterr().err


def test_status_takes_the_endpoint_from_a_full_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        'exchange = "paradex"\nsymbol = "BTC-USD-PERP"\nspread = 0.1\nquantity = 0.01\n'
        'risk_ctl_endpoint = "tcp://127.0.0.1:1"\nkeys_dir = "/nonexistent"\n'
    )
    assert main(["halt", "--config", str(config), "--timeout", "0.2"], env={}) == 1
    err = capsys.readouterr().err
    assert "cannot load CURVE key" in err or "no guardian answered on tcp://127.0.0.1:1" in err
