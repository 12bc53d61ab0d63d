"""Running the processes under supervisord: the one config, its environment, and a small XML-RPC client.

Every way of running perp-mm under supervisord uses the top-level
``supervisord.conf`` (one group, ``perp-mm``), driven by the environment that
``supervisord_env`` returns: systemd sets the same variables from its
environment file, run.py from its resolved config.  The control socket is a
unix socket with mode 0700 and the XML-RPC interface is on, so the guardian
can restart the strategy (``risk.supervisor``).

A program supervisord started can ask it which of its peers are being stopped
(``stopping_peers``, ``outlive``): supervisord signals a whole group at once,
and a process that others depend on (the order gateway for the strategy's last
cancel, the guardian for everyone) waits for them before it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import xmlrpc.client
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TextIO

from supervisor import childutils
from supervisor.xmlrpc import Faults, SupervisorTransport

# The programs of the group in priority order: the guardian first up, last down.
PROGRAMS: tuple[str, ...] = ("risk", "order_gateway", "md_gateway", "strategy")
GROUP = "perp-mm"
SUPERVISORD_CONF = Path(__file__).resolve().parents[1] / "supervisord.conf"
SOCKET_NAME = "supervisor.sock"
# supervisord puts its control URL, and the program's name and group, in every child's environment.
SERVER_URL_VAR = "SUPERVISOR_SERVER_URL"
_STOPPING = "STOPPING"
_NAME_PREFIX = b"SUPERVISOR_PROCESS_NAME="
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (\w+)\s")
_LOUD = {"WARNING", "ERROR", "CRITICAL"}


class SupervisorError(RuntimeError):
    """supervisord refused or failed a request; the message says which program and why."""


def supervisord_env(*, config_path: Path, run_dir: Path, logs_dir: Path, python: str) -> dict[str, str]:
    """The variables ``supervisord.conf`` reads: settings file, run and log directories, interpreter;
    the paper-trading emulator off (run.py starts its own for ``--sim``)."""
    return {
        "PERP_MM_CONFIG": str(config_path),
        "PERP_MM_RUN_DIR": str(run_dir),
        "MM_LOG_DIR": str(logs_dir),
        "MM_PYTHON": python,
        "MM_EMULATOR": "false",
    }


def socket_alive(path: Path) -> bool:
    """True when something accepts connections on the unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


class Supervisor:
    """XML-RPC client of one supervisord over its unix socket (blocking calls).

    Programs are named plainly (``strategy``) and addressed in ``group``; ``g:name`` is taken as given.
    """

    def __init__(self, socket_path: Path, *, group: str = GROUP) -> None:
        self.group = group
        self._transport = SupervisorTransport(None, None, f"unix://{socket_path}")
        # The host part is ignored by the unix transport; ServerProxy only needs a valid URL.
        self._proxy: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=self._transport)

    def ready(self) -> bool:
        try:
            return self._proxy.supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            # The transport keeps a failed connection and would reuse it: drop it.
            self._transport.close()
            return False

    def spec(self, name: str) -> str:
        """supervisord's name for ``name``: ``group:name``."""
        return name if ":" in name else f"{self.group}:{name}"

    def stop(self, name: str) -> None:
        """Stop ``name`` (SIGTERM, then SIGKILL after its ``stopwaitsecs``); a stopped one is fine."""
        try:
            self._proxy.supervisor.stopProcess(self.spec(name), True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise SupervisorError(f"could not stop {name} ({fault.faultString})") from None
        except (OSError, xmlrpc.client.Error, http.client.HTTPException) as exc:
            self._transport.close()
            raise SupervisorError(f"could not stop {name}: supervisord does not answer ({exc})") from None

    def info(self, name: str) -> dict[str, Any]:
        """supervisord's ``statename``, ``exitstatus``, ``pid``... of ``name`` (else ``SupervisorError``)."""
        try:
            info: dict[str, Any] = self._proxy.supervisor.getProcessInfo(self.spec(name))
        except (OSError, xmlrpc.client.Error, http.client.HTTPException) as exc:
            self._transport.close()
            raise SupervisorError(f"no process info for {name} from supervisord ({exc})") from None
        return info

    def shutdown(self) -> None:
        try:
            self._proxy.supervisor.shutdown()
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return


def stopping_peers(env: Mapping[str, str], *, programs: Collection[str]) -> list[str]:
    """Which of ``programs`` in this process's supervisord group are being stopped now (blocking)."""
    group = env.get("SUPERVISOR_GROUP_NAME", "")
    own = env.get("SUPERVISOR_PROCESS_NAME", "")
    rpc = childutils.getRPCInterface(dict(env))
    try:
        infos = rpc.supervisor.getAllProcessInfo()
    except xmlrpc.client.Fault as fault:
        if fault.faultCode != Faults.SHUTDOWN_STATE:
            raise
        # supervisord is shutting down (SIGTERM, systemctl stop) and answers nothing more, but it is
        # stopping every program: the ones still alive are the ones still stopping.
        return living_programs(programs, parent_pid=os.getppid(), own=own)
    return sorted(
        info["name"]
        for info in infos
        if info["group"] == group
        and info["name"] != own
        and info["name"] in programs
        and info["statename"] == _STOPPING
    )


def living_programs(programs: Collection[str], *, parent_pid: int, own: str = "") -> list[str]:
    """Which of ``programs`` run as live children of ``parent_pid`` (named by the
    ``SUPERVISOR_PROCESS_NAME`` supervisord gave them), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Fields after the parenthesised command: state ppid ...
            state, ppid = (entry / "stat").read_text().rpartition(")")[2].split()[:2]
            if int(ppid) != parent_pid or state == "Z":
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
        names = [
            item[len(_NAME_PREFIX) :].decode(errors="replace")
            for item in environ
            if item.startswith(_NAME_PREFIX)
        ]
        found += [name for name in names if name in programs and name != own]
    return sorted(found)


async def outlive(
    env: Mapping[str, str],
    *,
    programs: Collection[str],
    timeout_s: float,
    interval_s: float = 0.25,
    tick: Callable[[], None] | None = None,
) -> list[str]:
    """Wait until none of ``programs`` is being stopped with this process; those still stopping at the
    deadline ([] when done, when not under supervisord or when supervisord does not answer)."""
    if SERVER_URL_VAR not in env:
        return []
    deadline_s = time.monotonic() + timeout_s
    while True:
        try:
            peers = await asyncio.to_thread(stopping_peers, env, programs=programs)
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return []  # supervisord is gone or broken: nobody to wait for through it
        if not peers or time.monotonic() >= deadline_s:
            return peers
        if tick is not None:
            tick()
        await asyncio.sleep(interval_s)


class LogTail:
    """Copies what is appended to one log file to the console; ``loud_only`` keeps warnings and worse."""

    def __init__(self, path: Path, out: TextIO, *, loud_only: bool) -> None:
        self.path = path
        self.out = out
        self.loud_only = loud_only
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = ""
        self._showing = False

    def pump(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        if not data:
            return
        self._offset += len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        *lines, self._partial = text.split("\n")
        for line in lines:
            if self._show(line):
                print(line, file=self.out, flush=True)

    def _show(self, line: str) -> bool:
        if not self.loud_only:
            return True
        match = _LOG_LINE.match(line)
        if match is not None:
            self._showing = match.group(1) in _LOUD
        elif line.startswith("{"):
            with contextlib.suppress(ValueError, AttributeError):
                self._showing = json.loads(line).get("level") in _LOUD
        # Lines without a prefix (tracebacks, report bodies) follow the record they belong to.
        return self._showing


def log_pattern(fmt: str) -> re.Pattern[str]:
    """A pattern for the lines a process logs with the %-format ``fmt`` (each field one word)."""
    parts = re.split(r"%[sdgf]", fmt.replace("%%", "\0"))
    return re.compile(r"\S+".join(re.escape(part).replace("\0", "%") for part in parts))


class LogWatch:
    """Follows a growing log file; remembers when (monotonic s) a line matching each pattern last came.

    Lines already in the file when it is made are not watched (an earlier run's)."""

    def __init__(self, path: Path, patterns: Mapping[str, re.Pattern[str]]) -> None:
        self.path = path
        self.patterns = dict(patterns)
        self.seen_at: dict[str, float] = {}
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = ""

    def seen(self, name: str) -> float | None:
        """When the line ``name`` was last read (None: not logged yet); reads what was appended first."""
        self._pump()
        return self.seen_at.get(name)

    def _pump(self) -> None:
        try:
            with self.path.open("rb") as f:
                if f.seek(0, os.SEEK_END) < self._offset:
                    self._offset, self._partial = 0, ""  # rotated: a new file from its start
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data.decode("utf-8", errors="replace")).split("\n")
        now = time.monotonic()
        for line in lines:
            for name, pattern in self.patterns.items():
                if pattern.search(line):
                    self.seen_at[name] = now


def tail_text(path: Path, *, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file (for error messages)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def reap(proc: subprocess.Popen[bytes] | None, *, timeout_s: float = 30.0) -> bool:
    """SIGTERM ``proc`` if it runs, wait, SIGKILL after ``timeout_s``; True when it ended by itself."""
    if proc is None:
        return True
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
    return True
