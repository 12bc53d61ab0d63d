"""Helpers for integration tests that run real processes against the emulator on loopback.

Typical use (``conftest.py`` in this directory provides ``run_dir``, ``emulator``
and ``children`` fixtures built on these)::

    emu = start_emulator(run_dir)
    config = write_config(run_dir, max_position="2")
    proc = start_process("order_gateway", config, child_env(emu))
    wait_for(lambda: emulator_state(emu.rest_url)["accounts"], timeout_s=10)

Every helper waits by polling with a timeout; nothing sleeps a fixed time as an
assertion.  Child output goes to ``<name>.log`` files next to the config, so a
chatty child never blocks on a full pipe, and ``process_log`` shows it when a
test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from order_gateway.service import journal_path
from services.bus import Bus, Received, Subscriber
from services.config import Config, load_config
from services.service import endpoints_of
from services.wire import Heartbeat, RiskState, TradingState

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "SOL_USDC_PERP"
T = TypeVar("T")


# ---------------------------------------------------------------- waiting and ports


def wait_for(
    predicate: Callable[[], T | None], timeout_s: float, *, interval_s: float = 0.05, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; AssertionError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what or predicate!r}")
        time.sleep(interval_s)


async def async_wait_for(
    predicate: Callable[[], T | None], timeout_s: float, *, interval_s: float = 0.05, what: str = ""
) -> T:
    """``wait_for`` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what or predicate!r}")
        await asyncio.sleep(interval_s)


def counter_total(counter: Any, **labels: str) -> float:
    """The sum of a prometheus counter of this process over every label set that has ``labels``."""
    return sum(
        sample.value
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def journal_rows(config: Path, query: str) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the order gateway's journal."""
    db = sqlite3.connect(f"file:{journal_path(read_config(config))}?mode=ro", uri=True)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int, *, taken: Iterable[int] = ()) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago, none of them in ``taken``
    (the system may hand the same free port out twice in a row)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports and port not in taken:
            ports.append(port)
    return ports


def make_run_dir() -> Path:
    """A fresh private directory with a short path (ipc socket paths must stay under 107 bytes)."""
    return Path(tempfile.mkdtemp(dir="/tmp", prefix="pm"))


# ---------------------------------------------------------------- the emulator


@dataclass
class Emulator:
    """A running emulator subprocess; ``api_key``/``secret`` are the first account's."""

    rest_url: str
    ws_url: str
    accounts_file: Path
    api_key: str
    secret: str
    proc: subprocess.Popen[bytes]
    accounts: list[dict[str, Any]] = field(default_factory=list)

    def stop(self) -> None:
        stop_process(self.proc)


def start_emulator(
    tmpdir: Path,
    *,
    symbol: str = SYMBOL,
    seed: int = 1,
    venue: str = "backpack",
    extra_args: Iterable[str] = (),
    timeout_s: float = 30.0,
) -> Emulator:
    """Start ``python -m venues.emulator`` on a free loopback port and wait for its READY line."""
    accounts_file = tmpdir / "accounts.json"
    out_file = tmpdir / "emulator.log"
    command = [
        sys.executable,
        "-m",
        "venues.emulator",
        "--venue",
        venue,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        str(seed),
        "--symbol",
        symbol,
        "--write-accounts",
        str(accounts_file),
        *extra_args,
    ]
    with out_file.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**_clean_env(), "PYTHONUNBUFFERED": "1"},
        )

    def ready() -> list[str] | None:
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited with {proc.returncode}:\n{_tail(out_file)}")
        for line in out_file.read_text(errors="replace").splitlines():
            words = line.split()
            if len(words) == 3 and words[0] == "READY":
                return words
        return None

    try:
        _, rest_url, ws_url = wait_for(ready, timeout_s, what="the emulator's READY line")
        accounts = wait_for(lambda: _read_accounts(accounts_file), timeout_s, what="the accounts file")
    except BaseException:
        stop_process(proc)
        raise
    first = accounts[0]
    # A Paradex account is its address and L2 key (the emulator keys its state by the address).
    return Emulator(
        rest_url=rest_url,
        ws_url=ws_url,
        accounts_file=accounts_file,
        api_key=first.get("api_key") or first["account_address"],
        secret=first.get("secret") or first["l2_private_key"],
        proc=proc,
        accounts=accounts,
    )


def _read_accounts(path: Path) -> list[dict[str, Any]] | None:
    try:
        accounts = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return accounts if isinstance(accounts, list) and accounts else None


def emulator_state(url: str, *, timeout_s: float = 5.0) -> dict[str, Any]:
    """``GET /_emulator/state`` (accounts keyed by api key: positions, open_orders, fills; markets)."""
    with urllib.request.urlopen(f"{url}/_emulator/state", timeout=timeout_s) as answer:
        state: dict[str, Any] = json.loads(answer.read())
        return state


def emulator_control(url: str, action: str, body: Mapping[str, Any], *, timeout_s: float = 5.0) -> Any:
    """``POST /_emulator/<action>`` (price, position, faults, reset, taker) with a JSON body."""
    request = urllib.request.Request(
        f"{url}/_emulator/{action}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        return json.loads(answer.read())


def account_state(emulator: Emulator, *, api_key: str | None = None) -> dict[str, Any]:
    """The emulator's view of one account (the first one by default)."""
    accounts: dict[str, Any] = emulator_state(emulator.rest_url)["accounts"]
    found: dict[str, Any] = accounts[api_key or emulator.api_key]
    return found


# ---------------------------------------------------------------- configuration and processes


DEFAULTS: dict[str, Any] = {
    "exchange": "backpack",
    "symbol": SYMBOL,
    "spread": "0.05",
    "quantity": "0.1",
    "max_position": "5",
    "md_metrics_port": 0,
    "orders_metrics_port": 0,
    "strategy_metrics_port": 0,
    "risk_metrics_port": 0,
    "log_level": "INFO",
}
_DECIMAL_KEYS = {
    "spread",
    "quantity",
    "inventory_skew",
    "target_position",
    "max_position",
    "position_threshold",
    "stop_loss",
    "take_profit",
    "max_order_notional",
}


def write_config(tmpdir: Path, **overrides: Any) -> Path:
    """A TOML config in ``tmpdir`` (run dir = ``tmpdir``, data in ``tmpdir/data``, metrics off).

    Values are written as TOML: money settings may be given as strings ("0.05") or
    Decimals and are written as numbers.
    """
    values = {**DEFAULTS, "run_dir": str(tmpdir), "data_dir": str(tmpdir / "data"), **overrides}
    lines = []
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{key} = {_toml(key, value)}")
    path = tmpdir / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if key in _DECIMAL_KEYS or isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def read_config(config_path: Path) -> Config:
    """The ``Config`` a process started with ``--config config_path`` resolves (env ignored)."""
    return load_config(["--config", str(config_path)], env={})


def child_env(emulator: Emulator | None, **extra: str) -> dict[str, str]:
    """The environment for a child process: the emulator's URLs and first account's credentials."""
    env = {**_clean_env(), "PYTHONUNBUFFERED": "1"}
    if emulator is not None:
        env.update(
            BACKPACK_API_URL=emulator.rest_url,
            BACKPACK_WS_URL=emulator.ws_url,
            BACKPACK_API_KEY=emulator.api_key,
            BACKPACK_SECRET_KEY=emulator.secret,
        )
    env.update(extra)
    return env


def _clean_env() -> dict[str, str]:
    """This environment without settings or credentials that would leak into a child."""
    prefixes = ("PERP_MM_", "BACKPACK_", "RISK_", "ASTER_", "PARADEX_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def start_process(
    name: str, config_path: Path, env: Mapping[str, str], *, args: Iterable[str] = ()
) -> subprocess.Popen[bytes]:
    """Start ``python -m name --config config_path``; its output goes to ``<name>.log`` beside the config."""
    log_file = config_path.parent / f"{name}.log"
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", name, "--config", str(config_path), *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
        )


def process_log(config_path: Path, name: str, *, lines: int = 60) -> str:
    """The last ``lines`` lines a process started by ``start_process`` wrote."""
    return _tail(config_path.parent / f"{name}.log", lines=lines)


def _tail(path: Path, *, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def stop_process(proc: subprocess.Popen[bytes], *, timeout_s: float = 10.0) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill_process(proc)
    return proc.returncode


def kill_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL (kill -9) and reap."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    proc.wait(timeout=10)


class Children:
    """Every process a test starts, stopped (SIGTERM then SIGKILL) by ``close``."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, config_path: Path, env: Mapping[str, str], *, args: Iterable[str] = ()
    ) -> subprocess.Popen[bytes]:
        proc = start_process(name, config_path, env, args=args)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs.clear()


# ---------------------------------------------------------------- the bus from a test


def bus_for(config_path: Path, *, process: str = "tester") -> Bus:
    """A ``Bus`` on the endpoints of ``config_path`` (call ``close()`` when done)."""
    cfg = read_config(config_path)
    return Bus(endpoints_of(cfg), process=process, keys_dir=cfg.keys_dir)


async def wait_connected(sub: Subscriber, *, timeout_s: float = 10.0) -> Received:
    """The first message a new subscriber gets: proof it is connected and subscribed.

    A SUB socket that connects before (or just as) its publisher binds misses
    what is published meanwhile; publishers that repeat a status (md.status,
    ex.status, rk.state, heartbeats) make this return within about a second.
    """
    return await asyncio.wait_for(sub.recv(), timeout_s)


class FakeGuardian:
    """Stands in for the risk process: publishes ``rk.state`` and ``hb.risk`` every ``interval_s``.

    Set ``state`` to change what it says; ``silent = True`` stops it publishing
    (a dead guardian) without unbinding.  Use as ``async with FakeGuardian(config):``.
    """

    def __init__(
        self,
        config_path: Path,
        *,
        state: TradingState = TradingState.ACTIVE,
        interval_s: float = 0.1,
        symbol: str = "",
    ) -> None:
        self.state = state
        self.reason = "test guardian"
        self.symbol = symbol
        self.interval_s = interval_s
        self.silent = False
        self._bus = bus_for(config_path, process="risk")
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FakeGuardian:
        publisher = self._bus.publisher("risk")
        self._task = asyncio.create_task(self._beat(publisher.publish), name="fake-guardian")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._bus.close()

    async def _beat(self, publish: Callable[..., bool]) -> None:
        loops = 0
        while True:
            if not self.silent:
                loops += 1
                publish("rk.state", RiskState(state=self.state, reason=self.reason, symbol=self.symbol))
                publish("hb.risk", Heartbeat(process="risk", instance=self._bus.instance, loop_count=loops))
            await asyncio.sleep(self.interval_s)
