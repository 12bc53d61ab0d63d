"""The real processes against the emulator, for fault tests: start, kill, restart, read /metrics and logs."""

from __future__ import annotations

import subprocess
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness import (
    Children,
    Emulator,
    account_state,
    child_env,
    emulator_control,
    free_ports,
    kill_process,
    process_log,
    write_config,
)
from prometheus_client.parser import text_string_to_metric_families

from services.secrets import ParadexCredentials, Secret, credentials_env

SYM = "SOL_USDC_PERP"
PORT_KEYS = {
    "md_gateway": "md_metrics_port",
    "order_gateway": "orders_metrics_port",
    "strategy": "strategy_metrics_port",
    "risk": "risk_metrics_port",
}


@dataclass
class Stack:
    """Processes of one test sharing a config; each exports /metrics on its own free port."""

    emulator: Emulator
    config: Path
    children: Children
    env: dict[str, str]
    ports: dict[str, int]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """Start (or start again) process ``name``; a restarted one keeps its place in the stop order."""
        proc = self.children.start(name, self.config, self.env)
        old = self.procs.get(name)
        if old is not None and old in self.children.procs:
            # Children stop in reverse start order: the strategy before the gateway it cancels through.
            self.children.procs.remove(proc)
            self.children.procs[self.children.procs.index(old)] = proc
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL process ``name`` and reap it."""
        kill_process(self.procs[name])

    def alive(self) -> bool:
        """True while every process started is still running."""
        return all(proc.poll() is None for proc in self.procs.values())

    def metric(self, process: str, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` on ``process``'s /metrics whose labels include ``labels``."""
        url = f"http://127.0.0.1:{self.ports[process]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def log(self, process: str, *, lines: int = 400) -> str:
        return process_log(self.config, process, lines=lines)

    def logs(self) -> str:
        """The tail of every process's output, for a failing assertion's message."""
        return "\n".join(f"--- {name} ---\n{self.log(name, lines=40)}" for name in self.procs)


def make_stack(
    run_dir: Path, emulator: Emulator, children: Children, *, env: dict[str, str] | None = None, **config: Any
) -> Stack:
    """A stack on ``emulator`` with ``config`` overrides (nothing started yet); its metrics ports are
    distinct, and apart from any tcp:// endpoint port in ``config``."""
    endpoint_ports = [int(v.rpartition(":")[2]) for v in config.values() if str(v).startswith("tcp://")]
    ports = dict(zip(PORT_KEYS, free_ports(len(PORT_KEYS), taken=endpoint_ports), strict=True))
    settings: dict[str, Any] = {"max_orders": 1, "interval": 300, "duration": 600, "md_stale": 2}
    settings.update({PORT_KEYS[name]: port for name, port in ports.items()})
    settings.update(config)
    path = write_config(run_dir, **settings)
    return Stack(emulator, path, children, env if env is not None else child_env(emulator), ports)


def paradex_stack(run_dir: Path, emulator: Emulator, children: Children, **config: Any) -> Stack:
    """A stack trading ``emulator`` (a Paradex one, taker flow paused) with its first account."""
    creds = ParadexCredentials(account_address=emulator.api_key, l2_private_key=Secret(emulator.secret))
    env = child_env(
        None,
        PARADEX_API_URL=emulator.rest_url.rstrip("/") + "/v1",
        PARADEX_WS_URL=emulator.ws_url.rstrip("/") + "/v1",
        **credentials_env(creds),
    )
    emulator_control(emulator.rest_url, "taker", {"pause": True})
    return make_stack(run_dir, emulator, children, env=env, exchange="paradex", **config)


def open_orders(emulator: Emulator) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = account_state(emulator)["open_orders"]
    return orders


def quoting(emulator: Emulator) -> bool:
    """A bid and an ask of the account rest on the emulator's book."""
    return {o["side"] for o in open_orders(emulator)} == {"buy", "sell"}


def no_orders(emulator: Emulator) -> bool:
    return not open_orders(emulator)


def position(emulator: Emulator) -> Decimal:
    held = account_state(emulator)["positions"].get(SYM)
    return Decimal(held["quantity"]) if held else Decimal(0)


def orders_placed(emulator: Emulator) -> int:
    """How many orders the account has placed on the emulator so far."""
    placed: int = account_state(emulator)["orders_placed"]
    return placed
