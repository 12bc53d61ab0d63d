from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from xmlrpc.server import SimpleXMLRPCServer

import pytest
from supervisor.options import ServerOptions
from supervisor.xmlrpc import Faults

from services.supervise import (
    GROUP,
    PROGRAMS,
    SOCKET_NAME,
    SUPERVISORD_CONF,
    LogTail,
    LogWatch,
    Supervisor,
    living_programs,
    log_pattern,
    outlive,
    reap,
    socket_alive,
    stopping_peers,
    supervisord_env,
    tail_text,
)
from strategy.runner import RUN_ENDED_LOG, RUN_STARTED_LOG


def test_the_top_level_config_with_its_environment_is_what_supervisord_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = supervisord_env(
        config_path=tmp_path / "config.toml", run_dir=tmp_path, logs_dir=tmp_path, python="/py"
    )
    assert env["MM_EMULATOR"] == "false"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = ServerOptions()
    options.realize(["-c", str(SUPERVISORD_CONF)])
    (group,) = options.process_group_configs
    assert group.name == GROUP
    programs = {p.name: p for p in group.process_configs}
    assert sorted(programs) == sorted([*PROGRAMS, "emulator"])
    assert [p.name for p in sorted(programs[n] for n in PROGRAMS)] == list(PROGRAMS)
    risk = programs["risk"].command
    assert risk.startswith("/py ") and risk.endswith(f"risk run --config {tmp_path / 'config.toml'}")
    assert options.server_configs[0]["file"] == str(tmp_path / SOCKET_NAME)
    assert not programs["emulator"].autostart


def test_supervisor_names_programs_in_their_group(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / SOCKET_NAME)
    assert supervisor.spec("strategy") == "perp-mm:strategy"
    assert supervisor.spec("other:strategy") == "other:strategy"
    assert Supervisor(tmp_path / SOCKET_NAME, group="g").spec("risk") == "g:risk"


def test_log_tail_copies_new_lines_and_keeps_warnings_with_their_traceback(tmp_path: Path) -> None:
    log = tmp_path / "x.err.log"
    log.write_text("2026-11-24 00:00:00.000 ERROR old: before the tail started\n")
    out = io.StringIO()
    tail = LogTail(log, out, loud_only=True)
    with log.open("a") as f:
        f.write("2026-11-24 00:00:01.000 INFO  x: quiet\n")
        f.write("2026-11-24 00:00:02.000 WARNING x: loud\n")
        f.write("Traceback (most recent call last):\n  boom\n")
        f.write("2026-11-24 00:00:03.000 INFO  x: quiet again\n")
        f.write('{"level":"ERROR","msg":"json loud"}\n')
        f.write("2026-11-24 00:00:04.000 ERROR x: half a li")
    tail.pump()
    assert out.getvalue().splitlines() == [
        "2026-11-24 00:00:02.000 WARNING x: loud",
        "Traceback (most recent call last):",
        "  boom",
        '{"level":"ERROR","msg":"json loud"}',
    ]
    with log.open("a") as f:
        f.write("ne\n")
    tail.pump()
    assert out.getvalue().splitlines()[-1] == "2026-11-24 00:00:04.000 ERROR x: half a line"


def test_log_tail_copies_everything_when_not_loud_only(tmp_path: Path) -> None:
    log = tmp_path / "strategy.out.log"
    out = io.StringIO()
    tail = LogTail(log, out, loud_only=False)
    tail.pump()
    log.write_text("=== 市場狀態 ===\nMid: 150\n")
    tail.pump()
    assert out.getvalue() == "=== 市場狀態 ===\nMid: 150\n"


def test_tail_text_and_missing_files(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("\n".join(str(i) for i in range(30)) + "\n")
    assert tail_text(log, lines=3) == "27\n28\n29"
    assert tail_text(tmp_path / "none.log") == "(no output)"


def test_socket_alive(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    assert not socket_alive(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        assert socket_alive(path)
    assert not socket_alive(path)


def test_reap_terminates_a_running_process_and_accepts_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert reap(proc, timeout_s=10)
    assert proc.returncode is not None
    assert reap(None)


class FakeSupervisord:
    """Answers getAllProcessInfo like supervisord, over loopback XML-RPC."""

    def __init__(self) -> None:
        self.processes: list[dict[str, str]] = []
        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
        self.server.register_function(lambda: self.processes, "supervisor.getAllProcessInfo")
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def supervisord() -> Iterator[FakeSupervisord]:
    fake = FakeSupervisord()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def _env(fake: FakeSupervisord) -> dict[str, str]:
    return {
        "SUPERVISOR_SERVER_URL": fake.url,
        "SUPERVISOR_GROUP_NAME": "mm",
        "SUPERVISOR_PROCESS_NAME": "risk",
    }


def test_stopping_peers_are_the_named_programs_of_the_group_being_stopped(
    supervisord: FakeSupervisord,
) -> None:
    supervisord.processes = [
        {"group": "mm", "name": "risk", "statename": "STOPPING"},
        {"group": "mm", "name": "strategy", "statename": "STOPPING"},
        {"group": "mm", "name": "order_gateway", "statename": "STOPPING"},
        {"group": "mm", "name": "md_gateway", "statename": "STOPPED"},
        {"group": "mm", "name": "emulator", "statename": "STOPPING"},
        {"group": "other", "name": "strategy", "statename": "STOPPING"},
    ]
    trading = ("strategy", "order_gateway", "md_gateway")
    assert stopping_peers(_env(supervisord), programs=trading) == ["order_gateway", "strategy"]
    # Never itself, and only what was asked for.
    assert stopping_peers(_env(supervisord), programs=("risk", "emulator")) == ["emulator"]


def test_stopping_peers_raises_when_supervisord_is_unreachable() -> None:
    with pytest.raises(OSError):
        stopping_peers(
            {"SUPERVISOR_SERVER_URL": "unix:///nonexistent/supervisor.sock"}, programs=("strategy",)
        )


async def test_outlive_returns_once_the_peers_have_stopped(supervisord: FakeSupervisord) -> None:
    supervisord.processes = [{"group": "mm", "name": "strategy", "statename": "STOPPING"}]
    ticks = []

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 3:
            supervisord.processes = [{"group": "mm", "name": "strategy", "statename": "STOPPED"}]

    left = await outlive(_env(supervisord), programs=("strategy",), timeout_s=10, interval_s=0.01, tick=tick)
    assert left == []
    assert len(ticks) == 3


async def test_outlive_gives_up_at_the_deadline_naming_who_is_still_stopping(
    supervisord: FakeSupervisord,
) -> None:
    supervisord.processes = [{"group": "mm", "name": "strategy", "statename": "STOPPING"}]
    left = await outlive(_env(supervisord), programs=("strategy",), timeout_s=0.1, interval_s=0.01)
    assert left == ["strategy"]


async def test_outlive_waits_for_nothing_outside_supervisord_or_when_it_is_gone() -> None:
    assert await outlive({}, programs=("strategy",), timeout_s=10) == []
    gone = {"SUPERVISOR_SERVER_URL": "unix:///nonexistent/supervisor.sock"}
    assert await outlive(gone, programs=("strategy",), timeout_s=10) == []


def test_living_programs_are_the_named_live_children(tmp_path: Path) -> None:
    env = {**os.environ, "SUPERVISOR_PROCESS_NAME": "strategy"}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        me = os.getpid()
        wait = 0
        while living_programs(("strategy",), parent_pid=me) != ["strategy"] and wait < 50:
            time.sleep(0.02)  # the child's environment is readable once it has exec'd
            wait += 1
        assert living_programs(("strategy", "order_gateway"), parent_pid=me) == ["strategy"]
        assert living_programs(("order_gateway",), parent_pid=me) == []
        assert living_programs(("strategy",), parent_pid=me, own="strategy") == []
    finally:
        child.kill()
        child.wait()
    assert living_programs(("strategy",), parent_pid=os.getpid()) == []


def test_a_supervisord_shutting_down_is_answered_from_proc(supervisord: FakeSupervisord) -> None:
    def shutting_down() -> None:
        raise xmlrpc.client.Fault(Faults.SHUTDOWN_STATE, "SHUTDOWN_STATE")

    supervisord.server.register_function(shutting_down, "supervisor.getAllProcessInfo")
    # This test process has no sibling named like a program: nothing is left to wait for.
    assert stopping_peers(_env(supervisord), programs=("a-program-nobody-runs",)) == []


STARTED = "2026-12-07 23:15:16.450 INFO  strategy: " + RUN_STARTED_LOG % (
    "SOL_USDC_PERP",
    "0.05",
    "0.1",
    2,
    120,
)


def test_the_patterns_match_the_lines_the_strategy_logs_and_nothing_else() -> None:
    started, ended = log_pattern(RUN_STARTED_LOG), log_pattern(RUN_ENDED_LOG)
    assert started.search(STARTED)
    assert ended.search("2026-12-07 23:17:16.451 INFO  strategy: " + RUN_ENDED_LOG % 120.0)
    assert not ended.search(STARTED)
    assert not started.search("2026-12-07 23:15:16.530 INFO  strategy: mode quote")


def test_a_log_watch_reads_only_what_was_appended_and_waits_for_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "strategy.err.log"
    watch = LogWatch(path, {"started": log_pattern(RUN_STARTED_LOG)})
    assert watch.seen("started") is None  # no file yet
    half = len(STARTED) // 2
    path.write_text("a line before\n" + STARTED[:half])
    assert watch.seen("started") is None  # half a line is not the event yet
    with path.open("a") as f:
        f.write(STARTED[half:] + "\n")
    first = watch.seen("started")
    assert first is not None
    assert watch.seen("started") == first  # nothing new read
    with path.open("a") as f:
        f.write(STARTED + "\n")
    again = watch.seen("started")
    assert again is not None and again > first  # a restarted strategy's run starts anew
    path.write_text(STARTED + "\n")  # rotated: the new file is read from its start
    rotated = watch.seen("started")
    assert rotated is not None and rotated > again
    # A line already there when the watch is made belongs to an earlier run.
    assert LogWatch(path, {"started": log_pattern(RUN_STARTED_LOG)}).seen("started") is None
