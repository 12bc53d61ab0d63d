"""perp-mm launcher: the original bot's command line, run as four supervised processes.

    python run.py --exchange backpack --market-type perp --symbol SOL_USDC_PERP --spread 0.01 \\
        --quantity 0.1 --max-orders 2 --target-position 0 --max-position 5 --position-threshold 2 \\
        --inventory-skew 0 --stop-loss -1 --take-profit 5 --duration 3600 --interval 10

``--sim`` first starts the exchange emulator with a generated account.  The
processes run under supervisord on the top-level ``supervisord.conf``, the one
production uses (unix socket in the private run directory), the guardian first;
the strategy's reports stream to this console with every warning of every
process.  Ctrl-C, SIGTERM or the end of ``--duration`` stops them in reverse
order (the strategy cancels its orders), then any order still open on the
symbol is cancelled here; exit code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from order_gateway.leftovers import cancel_leftovers
from services.config import Config, ConfigError, config_to_toml, parse_config
from services.endpoints import EndpointError, ensure_private_dir
from services.secrets import load_credentials
from services.supervise import (
    PROGRAMS,
    SOCKET_NAME,
    SUPERVISORD_CONF,
    LogTail,
    LogWatch,
    Supervisor,
    SupervisorError,
    log_pattern,
    reap,
    socket_alive,
    supervisord_env,
    tail_text,
)
from strategy.markets import MarketError, load_rules, unknown_symbol_message
from strategy.runner import RUN_STARTED_LOG
from venues.base import AuthError, VenueError
from venues.emulator.catalog import KNOWN_MARKETS
from venues.emulator.launch import EmulatorStartError
from venues.emulator.launch import start as launch_emulator
from venues.factory import SUPPORTED, open_venue

ROOT = Path(__file__).resolve().parent
SUPERVISOR_START_S = 15.0
# How long the programs may take to come up (supervisord's startsecs is 5 s; the guardian checks the venue).
PROGRAMS_START_S = 60.0
_START_FAILED = ("BACKOFF", "FATAL", "EXITED")
END_GRACE_S = 30.0
POLL_S = 0.2
# The emulator lists every venue's markets; each venue spells its symbols its own way.
_SYMBOL_SHAPE: dict[str, Callable[[str], bool]] = {
    "backpack": lambda symbol: symbol.endswith("_PERP"),
    "paradex": lambda symbol: symbol.endswith("-PERP"),
    "aster": str.isalnum,
}


class LaunchError(Exception):
    """The run cannot start or went wrong; the message is for the trader."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("launcher")
    group.add_argument(
        "--emulator-port",
        type=int,
        default=0,
        help="with --sim: the emulator's loopback port (default: free)",
    )
    group.add_argument("--emulator-seed", type=int, default=1, help="with --sim: the emulator's random seed")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Launcher:
    """One run: emulator (with --sim), supervisord and the four processes, and their orderly stop."""

    def __init__(self, cfg: Config, *, emulator_port: int, emulator_seed: int) -> None:
        self.cfg = cfg
        self.emulator_port = emulator_port
        self.emulator_seed = emulator_seed
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.stop_requested = threading.Event()
        self.emulator: subprocess.Popen[bytes] | None = None
        self.supervisord: subprocess.Popen[bytes] | None = None
        self.supervisor: Supervisor | None = None
        self.started: list[str] = []
        self.venue_checked = False
        self.logs_dir = cfg.data_dir / "logs"
        # The strategy counts its --duration from the start it logs, which a loaded machine delays.
        self.strategy_run = LogWatch(
            self.logs_dir / "strategy.err.log", {"started": log_pattern(RUN_STARTED_LOG)}
        )

    # ------------------------------------------------------------ checks before anything starts

    def check_local(self) -> None:
        cfg = self.cfg
        if cfg.exchange not in SUPPORTED:
            raise LaunchError(
                f"--exchange {cfg.exchange} is not yet supported by this version "
                f"(supported: {', '.join(SUPPORTED)}); it comes with a later release",
                code=2,
            )
        try:
            ensure_private_dir(cfg.run_dir)
        except (EndpointError, OSError) as exc:
            raise LaunchError(f"run directory {cfg.run_dir}: {exc}", code=2) from None
        if socket_alive(cfg.run_dir / SOCKET_NAME):
            raise LaunchError(
                f"another perp-mm is running in {cfg.run_dir}: stop it or choose another --run-dir", code=2
            )
        ports = {
            "md-metrics-port": cfg.md_metrics_port,
            "orders-metrics-port": cfg.orders_metrics_port,
            "strategy-metrics-port": cfg.strategy_metrics_port,
            "risk-metrics-port": cfg.risk_metrics_port,
        }
        if cfg.sim and self.emulator_port:
            ports["emulator-port"] = self.emulator_port
        for option, port in ports.items():
            host = "127.0.0.1" if option == "emulator-port" else cfg.metrics_host
            if port and not _port_free(host, port):
                raise LaunchError(
                    f"port {port} ({option}) is taken by another program: choose another "
                    "(or 0 for a free one / metrics off)",
                    code=2,
                )
        if not cfg.sim:
            # Missing or malformed keys are named before anything reaches the network.
            try:
                for role in ("trading", "risk"):
                    load_credentials(cfg, role=role, env=self.env)
            except ConfigError as exc:
                raise LaunchError("; ".join(exc.problems), code=2) from None
        listed = [symbol for symbol in KNOWN_MARKETS if _SYMBOL_SHAPE[cfg.exchange](symbol)]
        if cfg.sim and cfg.symbol not in listed:
            raise LaunchError(unknown_symbol_message(cfg.symbol, listed, exchange="the emulator"), code=2)

    def check_venue(self) -> None:
        """The symbol is listed and the trading key works (a signed read), before any process starts."""

        async def probe() -> None:
            await load_rules(self.cfg, env=self.env)
            venue = open_venue(self.cfg, role="trading", env=self.env)
            try:
                await venue.collateral()
            finally:
                await venue.close()

        try:
            asyncio.run(probe())
        except MarketError as exc:
            raise LaunchError(str(exc), code=2) from None
        except ConfigError as exc:
            raise LaunchError("; ".join(exc.problems), code=2) from None
        except AuthError as exc:
            keys = (
                "ASTER_USER, ASTER_SIGNER and ASTER_SIGNER_PRIVATE_KEY (or ASTER_API_KEY and "
                "ASTER_SECRET_KEY with ASTER_AUTH=v1)"
                if self.cfg.exchange == "aster"
                else "PARADEX_ACCOUNT_ADDRESS and PARADEX_L2_PRIVATE_KEY"
                if self.cfg.exchange == "paradex"
                else "BACKPACK_API_KEY and BACKPACK_SECRET_KEY"
            )
            raise LaunchError(
                f"{self.cfg.exchange} refused the API key ({exc}): check {keys}", code=2
            ) from None
        except VenueError as exc:
            raise LaunchError(f"cannot reach {self.cfg.exchange}: {exc}") from None
        self.venue_checked = True

    # ------------------------------------------------------------ starting

    def start_emulator(self) -> None:
        try:
            emulator = launch_emulator(
                self.cfg.exchange,
                self.cfg.symbol,
                port=self.emulator_port,
                seed=self.emulator_seed,
                run_dir=self.cfg.run_dir,
                log_file=self.logs_dir / "emulator.log",
                env=self.env,
                cwd=ROOT,
            )
        except EmulatorStartError as exc:
            raise LaunchError(str(exc)) from None
        self.emulator = emulator.proc
        self.env.update(emulator.env)
        print(
            f"emulator: {emulator.rest_url} {emulator.ws_url} "
            f"(control API: {emulator.rest_url}/_emulator/state)",
            flush=True,
        )

    def start_processes(self) -> None:
        cfg = self.cfg
        config_path = cfg.run_dir / "config.toml"
        config_path.write_text(config_to_toml(cfg))
        config_path.chmod(0o600)
        env = {
            **self.env,
            **supervisord_env(
                config_path=config_path, run_dir=cfg.run_dir, logs_dir=self.logs_dir, python=sys.executable
            ),
        }
        with (self.logs_dir / "supervisord.stderr.log").open("ab") as err:
            self.supervisord = subprocess.Popen(
                [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(SUPERVISORD_CONF)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        supervisor = Supervisor(cfg.run_dir / SOCKET_NAME)
        deadline = time.monotonic() + SUPERVISOR_START_S
        while not supervisor.ready():
            if self.supervisord.poll() is not None or time.monotonic() > deadline:
                raise LaunchError(
                    f"supervisord did not start:\n{tail_text(self.logs_dir / 'supervisord.log')}"
                )
            time.sleep(0.1)
        self.supervisor = supervisor
        # supervisord starts the whole group (guardian first); wait until each has stayed up.
        self.started = list(PROGRAMS)
        print(f"starting {', '.join(PROGRAMS)}...", flush=True)
        deadline = time.monotonic() + PROGRAMS_START_S
        waiting = list(PROGRAMS)
        while waiting and not self.stop_requested.is_set():
            for name in list(waiting):
                try:
                    state = supervisor.info(name)["statename"]
                except SupervisorError as exc:
                    raise LaunchError(str(exc)) from None
                if state == "RUNNING":
                    waiting.remove(name)
                elif state in _START_FAILED:
                    log_text = tail_text(self.logs_dir / f"{name}.err.log")
                    raise LaunchError(f"{name} did not start ({state}):\n{log_text}")
            if waiting and time.monotonic() > deadline:
                raise LaunchError(f"{', '.join(waiting)} not up after {PROGRAMS_START_S:g} s")
            time.sleep(POLL_S)

    # ------------------------------------------------------------ running and stopping

    def watch(self, tails: list[LogTail]) -> int:
        """Stream output until the strategy ends, a process fails or a stop is asked; the exit code.

        The strategy has its --duration and ``END_GRACE_S`` to end, counted from the start of its run
        as it logs it (from now until it does)."""
        assert self.supervisor is not None
        watching_since = time.monotonic()
        while not self.stop_requested.is_set():
            for tail in tails:
                tail.pump()
            for name in PROGRAMS:
                try:
                    info = self.supervisor.info(name)
                except SupervisorError as exc:
                    print(f"run.py: {exc}", file=sys.stderr, flush=True)
                    return 1
                state = info["statename"]
                if name == "strategy" and state == "EXITED" and info["exitstatus"] == 0:
                    print("strategy finished its --duration", flush=True)
                    return 0
                if state == "FATAL" or (name != "strategy" and state == "EXITED"):
                    log_text = tail_text(self.logs_dir / f"{name}.err.log")
                    print(f"run.py: {name} stopped ({state}):\n{log_text}", file=sys.stderr, flush=True)
                    return 1
            run_started = self.strategy_run.seen("started") or watching_since
            if time.monotonic() > run_started + self.cfg.duration + END_GRACE_S:
                print("run.py: the strategy did not end after --duration; stopping it", file=sys.stderr)
                return 1
            time.sleep(POLL_S)
        print("stop requested", flush=True)
        return 0

    def teardown(self) -> bool:
        """Stop everything in reverse start order; False when something did not stop cleanly."""
        clean = True
        if self.supervisor is not None:
            for name in reversed(self.started):
                print(f"stopping {name}...", flush=True)
                try:
                    self.supervisor.stop(name)
                except (SupervisorError, OSError) as exc:
                    print(f"run.py: {exc}", file=sys.stderr)
                    clean = False
            self.supervisor.shutdown()
        clean &= reap(self.supervisord)
        if self.venue_checked:
            clean &= self._cancel_leftovers()
        clean &= reap(self.emulator)
        return clean

    def _cancel_leftovers(self) -> bool:
        """Check the venue itself for orders of ours still open on the symbol, and cancel any."""
        try:
            left = asyncio.run(cancel_leftovers(self.cfg, self.env))
        except VenueError as exc:
            print(f"run.py: could not check for open orders on {self.cfg.symbol}: {exc}", file=sys.stderr)
            return False
        print(left.line(self.cfg.symbol), flush=True)
        return True

    def run(self) -> int:
        self.check_local()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 1
        try:
            if self.cfg.sim:
                self.start_emulator()
            self.check_venue()
            print(
                f"perp-mm: {self.cfg.exchange} {self.cfg.symbol}{' (sim)' if self.cfg.sim else ''}; "
                f"run dir {self.cfg.run_dir}, logs {self.logs_dir}",
                flush=True,
            )
            tails = [LogTail(self.logs_dir / "strategy.out.log", sys.stdout, loud_only=False)] + [
                LogTail(self.logs_dir / f"{name}.err.log", sys.stderr, loud_only=True) for name in PROGRAMS
            ]
            self.start_processes()
            code = self.watch(tails)
            for tail in tails:
                tail.pump()
        except LaunchError as exc:
            print(f"run.py: {exc}", file=sys.stderr, flush=True)
            code = exc.code
        finally:
            clean = self.teardown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print("perp-mm stopped" + ("" if clean else " (with problems: see above)"), flush=True)
        return code if clean else max(code, 1)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested.set()


def _sim_config(cfg: Config) -> Config:
    """A simulated run journals apart: its orders belong to a fresh emulator, never to a real account."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return dataclasses.replace(cfg, data_dir=cfg.data_dir / "sim" / f"{stamp}-{os.getpid()}")


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_config(
        argv,
        prog="run.py",
        description="perp-mm: market maker for perpetual futures on Backpack, Aster and Paradex. "
        "Starts the risk guardian, market-data and order gateways and the strategy under supervisord.",
        add_arguments=_add_arguments,
    )
    if cfg.sim:
        cfg = _sim_config(cfg)
    launcher = Launcher(cfg, emulator_port=args.emulator_port, emulator_seed=args.emulator_seed)
    try:
        return launcher.run()
    except LaunchError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
