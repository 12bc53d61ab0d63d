"""The whole stack under a real supervisord started from the top-level ``supervisord.conf``.

    stack = SupervisedStack.start(run_dir, emulator)       # the four programs, metrics on free ports
    stack.wait_running()
    stack.ctl("stop", "all")                               # the real supervisorctl
    stack.close()                                          # always: supervisord and every child gone

The environment is the production one (``PERP_MM_CONFIG``, ``PERP_MM_RUN_DIR``,
``MM_LOG_DIR``, ``MM_EMULATOR``, ``MM_PYTHON``) pointed at the test's emulator; program
logs are ``<run_dir>/logs/<program>.err.log``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ROOT, Emulator, child_env, free_ports, wait_for, write_config

from services.supervise import PROGRAMS, SUPERVISORD_CONF, Supervisor, supervisord_env

CONF = SUPERVISORD_CONF
METRICS_PORT_SETTINGS = {
    "risk": "risk_metrics_port",
    "order_gateway": "orders_metrics_port",
    "md_gateway": "md_metrics_port",
    "strategy": "strategy_metrics_port",
}
_STOPPED_LINE = re.compile(r"^(\S+ \S+) \w+ stopped: (\w+) ")


@dataclass
class SupervisedStack:
    run_dir: Path
    logs_dir: Path
    config_path: Path
    env: dict[str, str]
    metrics_ports: dict[str, int]
    proc: subprocess.Popen[bytes]
    supervisor: Supervisor

    @classmethod
    def start(
        cls,
        run_dir: Path,
        emulator: Emulator | None,
        *,
        paper_port: int | None = None,
        extra_env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> SupervisedStack:
        """supervisord on ``CONF`` with the stack configured by ``overrides`` (metrics on free ports).

        With ``emulator`` the programs trade on it; with ``paper_port`` instead the paper switch is
        on and the emulator program serves on that port.
        """
        ports = dict(zip(PROGRAMS, free_ports(len(PROGRAMS)), strict=True))
        settings = {METRICS_PORT_SETTINGS[program]: port for program, port in ports.items()}
        config_path = write_config(run_dir, **{**settings, **overrides})
        logs_dir = run_dir / "logs"
        logs_dir.mkdir(mode=0o700, exist_ok=True)
        paper = (
            {"MM_EMULATOR": "false"}
            if paper_port is None
            else {
                "MM_EMULATOR": "true",
                "MM_EMULATOR_PORT": str(paper_port),
            }
        )
        production = supervisord_env(
            config_path=config_path, run_dir=run_dir, logs_dir=logs_dir, python=sys.executable
        )
        env = child_env(emulator, **{**production, **paper, **(extra_env or {})})
        with (logs_dir / "supervisord.stdout").open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "supervisor.supervisord", "-c", str(CONF)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack = cls(run_dir, logs_dir, config_path, env, ports, proc, Supervisor(run_dir / "supervisor.sock"))
        try:
            wait_for(stack._ready, 20, what="supervisord's control socket")
        except BaseException:
            stack.close()
            raise
        return stack

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"supervisord exited with {self.proc.returncode}:\n{self.log()}")
        return self.supervisor.ready()

    # ------------------------------------------------------------ looking

    def info(self, program: str) -> dict[str, Any]:
        """supervisord's process info (``statename``, ``pid``...) for one program of the group."""
        return self.supervisor.info(program)

    def states(self) -> dict[str, str]:
        return {program: self.info(program)["statename"] for program in (*PROGRAMS, "emulator")}

    def wait_running(self, *, timeout_s: float = 45.0) -> dict[str, int]:
        """Every program RUNNING (past ``startsecs``); their pids."""

        def running() -> dict[str, int] | None:
            infos = {program: self.info(program) for program in PROGRAMS}
            if any(i["statename"] == "FATAL" for i in infos.values()):
                raise AssertionError(f"a program failed: {self.states()}\n{self.logs()}")
            if all(i["statename"] == "RUNNING" for i in infos.values()):
                return {program: i["pid"] for program, i in infos.items()}
            return None

        return wait_for(running, timeout_s, interval_s=0.2, what="all four programs RUNNING")

    def ctl(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        """The real ``supervisorctl -c supervisord.conf ARGS`` in the stack's environment."""
        return subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(CONF), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def metrics(self, program: str) -> str:
        """The program's Prometheus exposition text."""
        url = f"http://127.0.0.1:{self.metrics_ports[program]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text: str = answer.read().decode()
            return text

    def stop_order(self) -> list[str]:
        """Programs in the order supervisord logged them stopped."""
        lines = (self.logs_dir / "supervisord.log").read_text().splitlines()
        return [m.group(2) for m in map(_STOPPED_LINE.match, lines) if m is not None]

    def log(self, name: str = "supervisord", *, lines: int = 40) -> str:
        path = self.logs_dir / (f"{name}.log" if name == "supervisord" else f"{name}.err.log")
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def logs(self) -> str:
        """The tail of every log, for a failing assertion's message."""
        return "\n".join(f"--- {name}\n{self.log(name)}" for name in ("supervisord", *PROGRAMS))

    # ------------------------------------------------------------ stopping

    def close(self) -> None:
        """Stop supervisord (it stops its programs); SIGKILL the whole session if it hangs."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=90)
        # Anything left in supervisord's session (a program it failed to stop) goes too; each program
        # has its own process group, so the session is what they all share.
        for pid in _session_members(self.proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


def _session_members(sid: int) -> list[int]:
    """Processes of session ``sid`` (started by ``start_new_session=True``), from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Fields after the parenthesised command: state ppid pgrp session ...
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            members.append(int(entry.name))
    return members
