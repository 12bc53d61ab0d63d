"""Restarting the strategy over supervisord's XML-RPC interface (a loopback stand-in server)."""

from __future__ import annotations

import logging
import threading
import xmlrpc.client
from collections.abc import Iterator
from typing import Any
from xmlrpc.server import SimpleXMLRPCServer

import pytest
from supervisor.xmlrpc import Faults

from risk.supervisor import SupervisorRestarter, program_name


class FakeSupervisord:
    """Answers getProcessInfo/stopProcess/startProcess like supervisord.

    ``running`` says whether the program runs; else it ended with ``exitstatus``.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.running = True
        self.exitstatus = 0
        self.fail_start = False
        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
        self.server.register_function(self.info, "supervisor.getProcessInfo")
        self.server.register_function(self.stop, "supervisor.stopProcess")
        self.server.register_function(self.start, "supervisor.startProcess")
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def info(self, name: Any) -> dict[str, Any]:
        if self.running:
            return {"name": name, "statename": "RUNNING", "exitstatus": 0}
        return {"name": name, "statename": "EXITED", "exitstatus": self.exitstatus}

    def stop(self, name: Any, wait: Any) -> bool:
        self.calls.append(("stop", name))
        if not self.running:
            raise xmlrpc.client.Fault(Faults.NOT_RUNNING, "NOT_RUNNING")
        self.running = False
        return True

    def start(self, name: Any, wait: Any) -> bool:
        self.calls.append(("start", name))
        if self.fail_start:
            raise xmlrpc.client.Fault(Faults.SPAWN_ERROR, "SPAWN_ERROR")
        self.running = True
        return True


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


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "strategy"),
        ({"SUPERVISOR_GROUP_NAME": "risk", "SUPERVISOR_PROCESS_NAME": "risk"}, "strategy"),
        ({"SUPERVISOR_GROUP_NAME": "perp-mm", "SUPERVISOR_PROCESS_NAME": "risk"}, "perp-mm:strategy"),
    ],
)
def test_program_name(env: dict[str, str], name: str) -> None:
    assert program_name(env) == name


def test_only_under_supervisord() -> None:
    assert SupervisorRestarter.from_env({}) is None
    with pytest.raises(ValueError, match="SUPERVISOR_SERVER_URL"):
        SupervisorRestarter({})


async def test_restart_stops_then_starts_the_strategy_in_its_group(supervisord: FakeSupervisord) -> None:
    env = {
        "SUPERVISOR_SERVER_URL": supervisord.url,
        "SUPERVISOR_GROUP_NAME": "mm",
        "SUPERVISOR_PROCESS_NAME": "risk",
    }
    restarter = SupervisorRestarter.from_env(env)
    assert restarter is not None
    assert await restarter.restart()
    assert supervisord.calls == [("stop", "mm:strategy"), ("start", "mm:strategy")]
    assert restarter.restarts == 1


async def test_a_strategy_already_gone_is_just_started(supervisord: FakeSupervisord) -> None:
    supervisord.running, supervisord.exitstatus = False, 1
    restarter = SupervisorRestarter({"SUPERVISOR_SERVER_URL": supervisord.url})
    assert await restarter.restart()
    assert supervisord.calls == [("stop", "strategy"), ("start", "strategy")]


async def test_a_strategy_that_finished_its_run_is_left_down(
    supervisord: FakeSupervisord, caplog: pytest.LogCaptureFixture
) -> None:
    supervisord.running, supervisord.exitstatus = False, 0
    restarter = SupervisorRestarter({"SUPERVISOR_SERVER_URL": supervisord.url}, settle_s=0.0)
    caplog.set_level(logging.INFO, logger="risk.supervisor")
    assert not await restarter.restart()
    assert not await restarter.restart()
    assert supervisord.calls == []
    assert restarter.restarts == 0
    assert [r.getMessage() for r in caplog.records] == [
        "not restarting strategy: it finished its run (exit status 0)"
    ]


async def test_a_failed_start_is_reported_not_raised(supervisord: FakeSupervisord) -> None:
    supervisord.fail_start = True
    restarter = SupervisorRestarter({"SUPERVISOR_SERVER_URL": supervisord.url})
    assert not await restarter.restart()
    assert restarter.restarts == 0


async def test_an_unreachable_supervisord_is_reported_not_raised() -> None:
    restarter = SupervisorRestarter({"SUPERVISOR_SERVER_URL": "unix:///nonexistent/supervisor.sock"})
    assert not await restarter.restart()


async def test_a_fresh_instance_is_not_restarted_again_while_it_starts(supervisord: FakeSupervisord) -> None:
    now = {"s": 100.0}
    restarter = SupervisorRestarter(
        {"SUPERVISOR_SERVER_URL": supervisord.url}, settle_s=20.0, clock=lambda: now["s"]
    )
    assert await restarter.restart()
    now["s"] += 19.0
    assert not await restarter.restart()
    now["s"] += 1.0
    assert await restarter.restart()
    assert restarter.restarts == 2
    assert [call for call, _ in supervisord.calls] == ["stop", "start", "stop", "start"]
