"""The strategy watchdog inside the guardian's rules: steady, finished on purpose, or hung.

A pure core like ``risk.rules``, which owns one ``StrategyWatch`` and turns
its ``Verdict`` into actions.  A strategy counts as steady once one instance
has heartbeated fresh for ``Limits.hang_settle_s``.  One whose heartbeat is
older than ``hang_timeout_s`` (or that never beat within the start-up grace)
is hung: cancel everything and restart it, again every
``restart_interval_s`` while it stays hung.  One that announced a clean end
(``Observation.strategy_finished``) is finished: cancel once, never restart,
halt as "strategy_done" until a new instance is steady.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from risk.model import Limits, LogLevel, Observation, Reason, age_text

LogLine = tuple[str, LogLevel, str]


@dataclass(slots=True)
class Verdict:
    """One observation's outcome: why to halt (None: steady), what to cancel for, restart, log lines."""

    halt: Reason | None = None
    cancel: Reason | None = None
    restart: bool = False
    logs: list[LogLine] = field(default_factory=list)


class StrategyWatch:
    """The strategy's liveness across observations; feed it in time order."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.hung = False
        self._instance: str | None = None
        self._fresh_since_s: float | None = None
        self._finished: str | None = None
        self._done = False
        self._last_restart_s = 0.0

    def observe(self, obs: Observation, *, past_grace: bool) -> Verdict:
        """The verdict on ``obs``; ``past_grace``: the start-up grace is over (unseen means hung)."""
        verdict = Verdict()
        finished = obs.strategy_finished
        if finished is not None and finished != self._finished:
            self._finished, self._done = finished, True
            self.hung = False
            verdict.cancel = Reason.STRATEGY_DONE
            verdict.logs.append(("strategy_done", "info", f"instance={finished}"))
        if self._done and obs.strategy_instance in (None, self._finished):
            # The finished instance beating while it exits, or gone since: nobody quotes, nothing hangs.
            self._instance, self._fresh_since_s = self._finished, None
            verdict.halt = Reason.STRATEGY_DONE
            return verdict
        steady = self._heartbeat(obs, verdict, past_grace=past_grace)
        if steady or self.hung:
            self._done = False
        if not steady:
            verdict.halt = Reason.STRATEGY_DONE if self._done else Reason.STRATEGY_HANG
        return verdict

    def _heartbeat(self, obs: Observation, verdict: Verdict, *, past_grace: bool) -> bool:
        """True once one instance has heartbeated fresh for ``hang_settle_s``; reacts to a hang."""
        limits, now_s = self.limits, obs.now_s
        age = obs.strategy_heartbeat_age_s
        if age is not None and age <= limits.hang_timeout_s:
            if self._fresh_since_s is None or obs.strategy_instance != self._instance:
                if self._instance is not None and obs.strategy_instance != self._instance:
                    detail = f"instance={obs.strategy_instance} previous={self._instance}"
                    verdict.logs.append(("strategy_instance", "info", detail))
                self._instance = obs.strategy_instance
                self._fresh_since_s = now_s
            steady = now_s - self._fresh_since_s >= limits.hang_settle_s
            if steady and self.hung:
                self.hung = False
                verdict.logs.append(("strategy_recovered", "info", ""))
            return steady
        self._fresh_since_s = None
        if not self.hung:
            # A strategy not seen yet is still starting; after the grace it counts as hung.
            if age is None and not past_grace:
                return False
            self.hung = True
            self._last_restart_s = now_s
            verdict.cancel = verdict.cancel or Reason.STRATEGY_HANG
            verdict.restart = True
            detail = (
                f"heartbeat_age_s={age_text(age)} limit_s={limits.hang_timeout_s} on_hang={limits.on_hang}"
            )
            verdict.logs.append(("strategy_hang", "error", detail))
        elif now_s - self._last_restart_s >= limits.restart_interval_s:
            self._last_restart_s = now_s
            verdict.restart = True
        return False
