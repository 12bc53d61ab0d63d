"""deploy/launch.py: live programs run as they are; paper programs can only reach the local emulator."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from venues.emulator.credentials import AccountSpec, generate_account, write_accounts

ROOT = Path(__file__).resolve().parents[3]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("perp_mm_deploy_launch", ROOT / "deploy" / "launch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


launch = _load()
EXAMPLE = ROOT / "deploy" / "config.example.toml"
REAL = {
    "BACKPACK_API_KEY": "real-key",
    "BACKPACK_SECRET_KEY": "real-secret",
    "BACKPACK_SECRET_KEY_FILE": "/etc/perp-mm/secret",
    "BACKPACK_API_URL": "https://api.backpack.exchange",
    "RISK_BACKPACK_API_KEY": "risk-key",
    "ASTER_SIGNER_PRIVATE_KEY": "aster-key",
    "PERP_MM_CONFIG": str(EXAMPLE),
}


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port something accepts connections on (stands in for the emulator)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.mark.parametrize(("text", "paper"), [("true", True), ("1", True), ("false", False), ("", False)])
def test_paper_switch_words(text: str, paper: bool) -> None:
    assert launch.paper_mode({"MM_EMULATOR": text}) is paper


def test_paper_switch_refuses_anything_else() -> None:
    with pytest.raises(launch.LaunchError, match="MM_EMULATOR='maybe'"):
        launch.paper_mode({"MM_EMULATOR": "maybe"})


def test_live_program_keeps_its_environment() -> None:
    env = {**REAL, "MM_EMULATOR": "false"}
    assert launch.program_env("order_gateway", env, wait_s=0.0) == env


def test_unknown_program_is_refused() -> None:
    with pytest.raises(launch.LaunchError, match="unknown program 'bash'"):
        launch.program_env("bash", {}, wait_s=0.0)


def test_paper_env_points_at_loopback_and_drops_real_keys() -> None:
    account = generate_account()
    env = launch.paper_env({**REAL, "MM_EMULATOR": "true", "MM_EMULATOR_PORT": "9555"}, account)
    assert env["BACKPACK_API_URL"] == "http://127.0.0.1:9555"
    assert env["BACKPACK_WS_URL"] == "ws://127.0.0.1:9555/"
    assert (env["BACKPACK_API_KEY"], env["BACKPACK_SECRET_KEY"]) == (account.api_key, account.secret)
    for real in ("BACKPACK_SECRET_KEY_FILE", "RISK_BACKPACK_API_KEY", "ASTER_SIGNER_PRIVATE_KEY"):
        assert real not in env
    assert env["PERP_MM_CONFIG"] == REAL["PERP_MM_CONFIG"]


def test_paper_emulator_gets_no_real_key() -> None:
    env = launch.program_env("venues.emulator", {**REAL, "MM_EMULATOR": "true"}, wait_s=0.0)
    assert not [name for name in env if name.startswith(("BACKPACK_", "ASTER_", "RISK_"))]
    assert env["PERP_MM_CONFIG"] == REAL["PERP_MM_CONFIG"]


def test_paper_mode_refuses_a_config_for_another_exchange(tmp_path: Path) -> None:
    config = tmp_path / "aster.toml"
    text = EXAMPLE.read_text().replace('exchange = "backpack"', 'exchange = "aster"')
    config.write_text(text.replace('symbol = "SOL_USDC_PERP"', 'symbol = "SOLUSDT"'))
    env = {"MM_EMULATOR": "true", "PERP_MM_CONFIG": str(config)}
    with pytest.raises(launch.LaunchError, match="speaks backpack, and the config trades aster"):
        launch.program_env("risk", env, wait_s=0.0)
    with pytest.raises(launch.LaunchError, match="speaks backpack"):
        launch.program_env("venues.emulator", env, wait_s=0.0)


def test_paper_account_without_secret_cannot_sign() -> None:
    account = AccountSpec(api_key=generate_account().api_key)
    with pytest.raises(launch.LaunchError, match="has no secret"):
        launch.paper_env({"MM_EMULATOR": "true"}, account)


def test_emulator_generates_the_account_once_then_reuses_it(tmp_path: Path) -> None:
    env = {"MM_EMULATOR": "true", "PERP_MM_RUN_DIR": str(tmp_path), "MM_EMULATOR_PORT": "9555"}
    first = launch.emulator_args(env, accounts_exist=False)
    assert first[:6] == ["--venue", "backpack", "--host", "127.0.0.1", "--port", "9555"]
    assert first[-2:] == ["--write-accounts", str(tmp_path / "paper-accounts.json")]
    assert "SOL_USDC_PERP" in first and "BTC_USDC_PERP" in first
    assert launch.emulator_args(env, accounts_exist=True)[-2:] == [
        "--accounts",
        str(tmp_path / "paper-accounts.json"),
    ]


def test_paper_program_waits_for_the_account_and_the_port(tmp_path: Path, listening: int) -> None:
    accounts = tmp_path / "paper.json"
    account = generate_account()
    write_accounts(accounts, [account])
    env = {
        **REAL,
        "MM_EMULATOR": "true",
        "MM_EMULATOR_PORT": str(listening),
        "MM_EMULATOR_ACCOUNTS": str(accounts),
    }
    out = launch.program_env("risk", env, wait_s=5.0)
    assert out["BACKPACK_API_KEY"] == account.api_key
    assert out["BACKPACK_API_URL"] == f"http://127.0.0.1:{listening}"


def test_paper_program_gives_up_without_an_emulator(tmp_path: Path, listening: int) -> None:
    env = {
        "MM_EMULATOR": "true",
        "MM_EMULATOR_PORT": str(listening),
        "MM_EMULATOR_ACCOUNTS": str(tmp_path / "none"),
        "PERP_MM_CONFIG": str(EXAMPLE),
    }
    with pytest.raises(launch.LaunchError, match=r"no emulator on 127\.0\.0\.1"):
        launch.program_env("strategy", env, wait_s=0.3)


def test_bad_port_is_refused() -> None:
    with pytest.raises(launch.LaunchError, match="not a TCP port"):
        launch.emulator_port({"MM_EMULATOR_PORT": "99999"})


def test_main_without_a_program_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert launch.main([], env={}) == 2
    assert "usage: launch.py" in capsys.readouterr().err


def test_main_reports_a_bad_switch_without_starting_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert launch.main(["risk", "run"], env={"MM_EMULATOR": "maybe"}) == 2
    assert "launch.py risk: MM_EMULATOR='maybe'" in capsys.readouterr().err
