"""``python -m risk [run|watch|flatten|status|halt|resume]``: the guardian and its kill-switch commands.

Every command takes the shared settings (flags, ``PERP_MM_*``, ``--config``).
Exit codes: 0 done, 1 the command could not complete (a flatten that timed
out, no guardian answering), 2 bad input (nothing was sent to the venue).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from risk.control import ControlError, render_status, send_command
from risk.killswitch import flatten, watch
from risk.startup import GuardOptions, StartupError, check_margin, lang_of, market_rules
from services.config import CONFIG_ENV, ENV_PREFIX, Config, ConfigError, build_parser, config_from_args
from services.logs import setup_logging
from venues.factory import open_venue
from venues.precision import fmt

COMMANDS = ("run", "watch", "flatten", "status", "halt", "resume")
CONTROL = ("status", "halt", "resume")
DESCRIPTIONS = {
    "run": "The risk guardian process (what run.py and supervisord start). Other commands: "
    "watch, flatten (standalone kill switch), status, halt, resume (talk to a running guardian).",
    "watch": "Guard a position however it was opened (max position, stop-loss, take-profit), "
    "with no other process running.",
    "flatten": "Cancel every order, foreign ones too (stops and take-profits set on the venue), and "
    "close the position at market now; exit 0 only once the venue shows the position flat and no open order.",
    "status": "Show a running guardian's state.",
    "halt": "Halt trading through the running guardian (the kill switch: cancels every order on the "
    "symbol, stops and take-profits set on the venue too).",
    "resume": "Lift an operator's halt.",
}
# These commands never quote, but a Config needs the quoting settings: they get harmless values.
_QUOTING_NEUTRAL = {"spread": "1", "quantity": "0.00000001"}
_MARKET_NEUTRAL = {"exchange": "backpack", "symbol": "SOL_USDC_PERP"}


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
    """Run one command; returns the exit code."""
    env = os.environ if env is None else env
    words = list(sys.argv[1:] if argv is None else argv)
    command = words.pop(0) if words and words[0] in COMMANDS else "run"
    prog = f"python -m risk {command}"
    parser = build_parser(prog=prog, description=DESCRIPTIONS[command])
    _add_arguments(parser, command)
    args = parser.parse_args(words)
    if getattr(args, "timeout", None) is not None and not args.timeout > 0:
        parser.error(f"--timeout {args.timeout} must be above 0 seconds")
    if command != "run":
        _fill_unused(args, _QUOTING_NEUTRAL)
    if command in CONTROL and not any(_given(args, name, env) for name in _MARKET_NEUTRAL):
        _fill_unused(args, _MARKET_NEUTRAL)
    try:
        cfg = config_from_args(args, env=env)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if command in CONTROL:
        return asyncio.run(_control(cfg, command, note=args.reason, timeout_s=args.timeout))
    options = _guard_options(cfg, args)
    setup_logging("risk", fmt=cfg.log_format, level=cfg.log_level)
    if command == "run":
        code = asyncio.run(_preflight(cfg, options, env=env))
        if code:
            return code
        from risk.service import RiskService

        return RiskService(cfg, options=options, env=env).run()
    return asyncio.run(_standalone(cfg, command, options, env=env, timeout_s=getattr(args, "timeout", None)))


def _add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    group = parser.add_argument_group(f"risk {command}")
    if command in CONTROL:
        group.add_argument("--reason", default="", help="a note for the guardian's log")
        group.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the guardian")
        return
    if command == "flatten":
        group.add_argument(
            "--timeout", type=float, default=30.0, help="seconds to keep trying before exiting 1 (default 30)"
        )
    group.add_argument(
        "--skip-margin-check",
        action="store_true",
        help="arm even when the account cannot carry the max position (not recommended)",
    )


def _given(args: argparse.Namespace, name: str, env: Mapping[str, str]) -> bool:
    """Whether the command line, the environment or the config file sets ``name``."""
    if hasattr(args, name) or ENV_PREFIX + name.upper() in env:
        return True
    path = getattr(args, "config", None) or env.get(CONFIG_ENV)
    if not path:
        return False
    try:
        with Path(path).open("rb") as f:
            return name in tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return False  # the loader reports the unreadable file


def _fill_unused(args: argparse.Namespace, values: Mapping[str, str]) -> None:
    for name, value in values.items():
        if not hasattr(args, name):
            setattr(args, name, value)


def _guard_options(cfg: Config, args: argparse.Namespace) -> GuardOptions:
    """The guardian's options: its settings come from the shared config (command line, env, file)."""
    return GuardOptions(
        margin_fraction_limit=cfg.margin_fraction_limit,
        leverage=cfg.leverage,
        poll_interval_s=cfg.poll_interval,
        near_poll_interval_s=cfg.near_poll_interval,
        reduce_above=cfg.target_position + cfg.position_threshold,
        startup_grace_s=cfg.startup_grace,
        dead_man_timeout_s=cfg.dead_man_timeout,
        check_margin=not args.skip_margin_check,
    )


async def _preflight(cfg: Config, options: GuardOptions, *, env: Mapping[str, str]) -> int:
    """Before the process starts: credentials, symbol and margin are checked, so bad input exits 2."""
    try:
        venue = open_venue(cfg, role="risk", env=env)
    except (ConfigError, ValueError) as exc:
        print(f"python -m risk: {exc}", file=sys.stderr)
        return 2
    try:
        await market_rules(venue, cfg.symbol)
        if options.check_margin:
            await check_margin(venue, cfg, options, lang=lang_of(cfg))
    except StartupError as exc:
        print(f"python -m risk: not armed: {exc}", file=sys.stderr)
        return 2
    finally:
        await venue.close()
    return 0


async def _standalone(
    cfg: Config, command: str, options: GuardOptions, *, env: Mapping[str, str], timeout_s: float | None
) -> int:
    prog = f"python -m risk {command}"
    try:
        venue = open_venue(cfg, role="risk", env=env)
    except (ConfigError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    budget_s = timeout_s or 30.0
    started = time.monotonic()
    try:
        if command == "watch":
            rules = await market_rules(venue, cfg.symbol)
            await watch(cfg, venue, rules, options=options, lang=lang_of(cfg))
            return 0
        # The flatten's time bound covers reading the markets too: a frozen venue cannot hold it.
        rules = await asyncio.wait_for(market_rules(venue, cfg.symbol), budget_s)
        result = await flatten(venue, rules, timeout_s=max(budget_s - (time.monotonic() - started), 0.0))
    except StartupError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except TimeoutError:
        why = f"{cfg.symbol} not flat after {budget_s:g} s: {cfg.exchange} did not answer"
        print(f"{prog}: {why}", file=sys.stderr)
        return 1
    finally:
        await venue.close()
    if result.ok:
        print(f"{cfg.symbol}: flat, no open orders (cancelled {result.swept.describe()})")
        return 0
    shown = fmt(result.position) if result.position is not None else "unknown"
    print(
        f"{prog}: {cfg.symbol} not flat after {budget_s:g} s: {result.reason} (position {shown}, "
        f"open orders {result.open_orders if result.open_orders is not None else 'unknown'}; "
        f"cancelled {result.swept.describe()})",
        file=sys.stderr,
    )
    return 1


async def _control(cfg: Config, command: str, *, note: str, timeout_s: float) -> int:
    try:
        status = await send_command(cfg, command, note=note, timeout_s=timeout_s)
    except ControlError as exc:
        print(f"python -m risk {command}: {exc}", file=sys.stderr)
        return 1
    print(render_status(status))
    return 0
