"""Restarting the strategy through supervisord's XML-RPC interface, when the guardian runs under it.

supervisord puts ``SUPERVISOR_SERVER_URL`` (``unix://...`` or ``http://...``) in
its children's environment, with ``SUPERVISOR_PROCESS_NAME`` and
``SUPERVISOR_GROUP_NAME``.  A program outside any group is its own group, so
the strategy is then addressed as plain ``strategy``; inside a group ``g``, as
``g:strategy``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import xmlrpc.client
from collections.abc import Callable, Mapping

from supervisor import childutils
from supervisor.xmlrpc import Faults

from services.supervise import SERVER_URL_VAR

log = logging.getLogger(__name__)


def program_name(env: Mapping[str, str], *, program: str = "strategy") -> str:
    """The supervisord name of ``program``, in the same group as this process when it has one."""
    group = env.get("SUPERVISOR_GROUP_NAME", "")
    own = env.get("SUPERVISOR_PROCESS_NAME", "")
    if not group or group == own:
        return program
    return f"{group}:{program}"


class SupervisorRestarter:
    """Stops and starts one supervisord program; a restart already under way is not started twice."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        program: str = "strategy",
        timeout_s: float = 30.0,
        settle_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if SERVER_URL_VAR not in env:
            raise ValueError(f"{SERVER_URL_VAR} is not set: not running under supervisord")
        self._env = dict(env)
        self.name = program_name(env, program=program)
        self.timeout_s = timeout_s
        self.settle_s = settle_s
        self.clock = clock
        self._busy = False
        self._restarted_s: float | None = None
        self.restarts = 0
        self._finished_logged = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SupervisorRestarter | None:
        """A restarter when supervisord started this process, else None."""
        return cls(env) if SERVER_URL_VAR in env else None

    async def restart(self) -> bool:
        """Stop (waiting for it to exit) and start the program; False when it was not done.

        Within ``settle_s`` of the last restart nothing is done: the new instance is
        still starting, and restarting it again would only delay its first heartbeat.
        A program that exited by itself with status 0 finished its run (``--duration``)
        and is left down, as supervisord's ``exitcodes = 0`` leaves it.
        """
        if self._busy:
            return False
        since_s = None if self._restarted_s is None else self.clock() - self._restarted_s
        if since_s is not None and since_s < self.settle_s:
            log.info("not restarting %s again: restarted %.1f s ago", self.name, since_s)
            return False
        self._busy = True
        try:
            async with asyncio.timeout(self.timeout_s):
                restarted = await asyncio.to_thread(self._restart_blocking)
        except (OSError, xmlrpc.client.Error, TimeoutError) as exc:
            log.error("could not restart %s through supervisord: %s", self.name, exc)
            return False
        finally:
            self._busy = False
        if not restarted:
            if not self._finished_logged:
                self._finished_logged = True
                log.info("not restarting %s: it finished its run (exit status 0)", self.name)
            return False
        self._restarted_s = self.clock()
        self.restarts += 1
        log.warning("restarted %s through supervisord", self.name)
        return True

    def _restart_blocking(self) -> bool:
        rpc = childutils.getRPCInterface(self._env)
        info = rpc.supervisor.getProcessInfo(self.name)
        if info["statename"] == "EXITED" and info["exitstatus"] == 0:
            return False
        try:
            rpc.supervisor.stopProcess(self.name, True)
        except xmlrpc.client.Fault as fault:
            # Not running is fine: it exited or was never started; start it below.
            if fault.faultCode != Faults.NOT_RUNNING:
                raise
        try:
            rpc.supervisor.startProcess(self.name, False)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode != Faults.ALREADY_STARTED:
                raise
        return True
