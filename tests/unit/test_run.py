from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from services.config import Config, load_config
from services.supervise import SOCKET_NAME

ROOT = Path(__file__).resolve().parents[2]
BASE_ARGS = ["--exchange", "backpack", "--symbol", "SOL_USDC_PERP", "--spread", "0.05", "--quantity", "0.1"]
NO_METRICS = "--md-metrics-port 0 --orders-metrics-port 0 --strategy-metrics-port 0 --risk-metrics-port 0"


def load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("perp_mm_run", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["perp_mm_run"] = module
    spec.loader.exec_module(module)
    return module


run = load_run()


def args(tmp_path: Path, *extra: str) -> list[str]:
    dirs = ["--run-dir", str(tmp_path / "r"), "--data-dir", str(tmp_path / "d")]
    return [*BASE_ARGS, *dirs, *NO_METRICS.split(), *extra]


def config(tmp_path: Path, *extra: str) -> Config:
    return load_config(args(tmp_path, *extra), env={})


def launcher(tmp_path: Path, *extra: str, emulator_port: int = 0) -> Any:
    return run.Launcher(config(tmp_path, *extra), emulator_port=emulator_port, emulator_seed=1)


def test_a_sim_run_journals_in_its_own_directory(tmp_path: Path) -> None:
    cfg = config(tmp_path, "--sim")
    sim = run._sim_config(cfg)
    assert sim.data_dir.parent == tmp_path / "d" / "sim"
    assert sim.data_dir.name.endswith(f"-{os.getpid()}")
    assert sim.symbol == cfg.symbol


def test_check_local_makes_the_run_dir_private(tmp_path: Path) -> None:
    launcher(tmp_path, "--sim").check_local()
    assert (tmp_path / "r").stat().st_mode & 0o777 == 0o700


def test_check_local_names_missing_keys_before_any_network_call(tmp_path: Path) -> None:
    live = launcher(tmp_path)
    live.env = {}
    with pytest.raises(run.LaunchError, match="set BACKPACK_API_KEY and BACKPACK_SECRET_KEY") as refused:
        live.check_local()
    assert refused.value.code == 2
    live.env = {"BACKPACK_API_KEY": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="}
    with pytest.raises(run.LaunchError, match="missing: BACKPACK_SECRET_KEY"):
        live.check_local()


def test_check_local_refuses_a_run_dir_in_use(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(tmp_path / "r" / SOCKET_NAME))
        server.listen(1)
        with pytest.raises(run.LaunchError, match="another perp-mm is running") as caught:
            launcher(tmp_path).check_local()
    assert caught.value.code == 2


def test_check_local_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(run.LaunchError, match=rf"port {port} \(risk-metrics-port\) is taken"):
            launcher(tmp_path, "--risk-metrics-port", str(port)).check_local()
        with pytest.raises(run.LaunchError, match=rf"port {port} \(emulator-port\) is taken"):
            launcher(tmp_path, "--sim", emulator_port=port).check_local()


def test_check_local_refuses_a_symbol_the_emulator_does_not_list(tmp_path: Path) -> None:
    with pytest.raises(run.LaunchError, match=r"unknown symbol SOL_USD_PERP .* did you mean SOL_USDC_PERP"):
        launcher(tmp_path, "--sim", "--symbol", "SOL_USD_PERP").check_local()


def test_main_prints_the_refusal_and_returns_its_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r").mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(tmp_path / "r" / SOCKET_NAME))
        server.listen(1)
        code = run.main(args(tmp_path))
    assert code == 2
    assert capsys.readouterr().err.startswith("run.py: another perp-mm is running in")
