from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from services.config import Config, load_config
from services.supervise import SOCKET_NAME
from strategy.runner import RUN_STARTED_LOG

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


class SlowStartingStrategy:
    """supervisord's view of a run whose strategy logs its start ``late_s`` after the watch begins
    (a loaded machine) and ends by itself its --duration later."""

    def __init__(self, log: Path, *, late_s: float, duration_s: float) -> None:
        self.log = log
        self.start_at_s = time.monotonic() + late_s
        self.duration_s = duration_s
        self.started_s: float | None = None

    def info(self, name: str) -> dict[str, Any]:
        now = time.monotonic()
        if self.started_s is None and now >= self.start_at_s:
            self.started_s = now
            line = RUN_STARTED_LOG % ("SOL_USDC_PERP", "0.05", "0.1", 1, self.duration_s)
            with self.log.open("a") as f:
                f.write(f"2026-12-07 23:15:16.450 INFO  strategy: {line}\n")
        if name == "strategy" and self.started_s is not None and now >= self.started_s + self.duration_s:
            return {"statename": "EXITED", "exitstatus": 0}
        return {"statename": "RUNNING", "exitstatus": 0}


def test_the_strategy_gets_its_duration_from_the_start_it_logs_not_from_when_run_py_began_watching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "END_GRACE_S", 1.0)
    monkeypatch.setattr(run, "POLL_S", 0.05)
    live = launcher(tmp_path, "--duration", "2")
    live.logs_dir.mkdir(parents=True)
    # The strategy starts its run later than END_GRACE_S and ends after its --duration: on time.
    live.supervisor = SlowStartingStrategy(live.logs_dir / "strategy.err.log", late_s=1.5, duration_s=2.0)
    assert live.watch([]) == 0
