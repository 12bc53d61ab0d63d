"""One configuration for every process: command line > environment > TOML file > defaults.

Each setting is a flag (``--max-position``), an environment variable
(``PERP_MM_MAX_POSITION``) and a top-level TOML key (``max_position = 5``); the
file is named by ``--config`` or ``PERP_MM_CONFIG``, and relative paths in it are
taken from the current directory.  Numbers that are money (spread, sizes,
positions, skew, stop-loss, take-profit, notional) are ``Decimal`` read from their
text, never through float; durations are float seconds.  Every problem found is
reported at once in one ``ConfigError``.

``config_to_toml`` writes a resolved file (marked ``resolved = true``) that child
processes load with ``--config``; loading such a file ignores ``PERP_MM_*``
variables, so a child can never disagree with the parent that resolved it.
"""

from __future__ import annotations

import argparse
import difflib
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.config_checks import CHOICES, check, flag, label
from venues.precision import fmt

__all__ = [
    "ENV_PREFIX",
    "Config",
    "ConfigError",
    "build_parser",
    "config_from_args",
    "config_to_toml",
    "load_config",
    "parse_config",
]

ENV_PREFIX = "PERP_MM_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
RESOLVED_KEY = "resolved"

_REQUIRED: Any = object()  # no default: the trader must choose
_COMPUTED: Any = object()  # derived from other settings once they are known


class ConfigError(ValueError):
    """Every problem of a configuration, each a sentence a trader can act on."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


def _opt(group: str, help: str, default: Any = _REQUIRED) -> dict[str, Any]:
    """A setting's command-line group, help text and default (``_REQUIRED``, ``_COMPUTED`` or a value)."""
    return {"group": group, "help": help, "default": default}


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """The resolved settings; constructing one checks it (``ConfigError`` on any problem)."""

    exchange: str = field(metadata=_opt("market", "the venue"))
    market_type: str = field(metadata=_opt("market", "perpetual futures only", "perp"))
    symbol: str = field(
        metadata=_opt(
            "market", "market symbol: SOL_USDC_PERP (backpack), SOLUSDT (aster), BTC-USD-PERP (paradex)"
        )
    )
    sim: bool = field(
        metadata=_opt("market", "trade against the embedded exchange emulator, not the real venue", False)
    )

    spread: Decimal = field(metadata=_opt("quoting", "full quote width in percent of mid: 0.05 means 0.05%"))
    quantity: Decimal = field(metadata=_opt("quoting", "size of each quote, in base units"))
    max_orders: int = field(metadata=_opt("quoting", "quote layers per side", 3))
    inventory_skew: Decimal = field(
        metadata=_opt("quoting", "0..1: how far quotes lean against the inventory", Decimal(0))
    )
    interval: float = field(metadata=_opt("quoting", "seconds between requotes when nothing happens", 60.0))
    requote_threshold: Decimal = field(
        metadata=_opt(
            "quoting",
            "requote when the target price moves by at least this fraction of the quote spread width, "
            "and never less than one tick",
            Decimal("0.1"),
        )
    )
    duration: float = field(metadata=_opt("quoting", "seconds to run, then cancel all orders", 3600.0))
    close_on_exit: bool = field(metadata=_opt("quoting", "also close the position when the run ends", False))
    lang: str = field(metadata=_opt("quoting", "language of the cycle reports", "zh-TW"))

    target_position: Decimal = field(
        metadata=_opt("position", "absolute position to hold, in base units", Decimal(0))
    )
    max_position: Decimal = field(
        metadata=_opt("position", "hard limit on the absolute position", Decimal(1))
    )
    position_threshold: Decimal = field(
        metadata=_opt("position", "reduce when |position| > target + this", Decimal("0.1"))
    )
    stop_loss: Decimal | None = field(
        metadata=_opt("position", "close at this unrealized PnL, negative (e.g. -25); unset: off", None)
    )
    take_profit: Decimal | None = field(
        metadata=_opt("position", "close at this unrealized PnL, positive; unset: off", None)
    )
    reduce_mode: str = field(metadata=_opt("position", "how the strategy reduces", "market"))
    max_order_notional: Decimal = field(
        metadata=_opt("position", "largest order value in quote currency; 0: no limit", Decimal(0))
    )
    order_rate_limit: float = field(
        metadata=_opt("position", "orders per second the order gateway admits", 10.0)
    )

    hang_timeout: float = field(
        metadata=_opt("guardian", "seconds without a strategy heartbeat before risk acts", 1.5)
    )
    on_hang: str = field(metadata=_opt("guardian", "what risk does when the strategy hangs", "cancel"))
    sl_cooldown: float = field(
        metadata=_opt("guardian", "seconds to wait after a stop-loss before quoting again", 0.0)
    )
    md_stale: float = field(
        metadata=_opt("guardian", "seconds without market data before quotes are pulled", 5.0)
    )
    margin_fraction_limit: Decimal | None = field(
        metadata=_opt(
            "guardian",
            "REDUCING when the margin fraction (equity over position notional) falls to this",
            None,
        )
    )
    leverage: Decimal | None = field(
        metadata=_opt(
            "guardian", "leverage for the start-up margin check; unset: the account's own, else 1", None
        )
    )
    poll_interval: float = field(metadata=_opt("guardian", "seconds between the guardian's REST polls", 1.0))
    near_poll_interval: float = field(
        metadata=_opt("guardian", "seconds between polls while the position is near a limit", 0.25)
    )
    bus_poll_interval: float = field(
        metadata=_opt(
            "guardian",
            "seconds between polls while the bus is live (fresh market data, the order gateway beating)",
            3.0,
        )
    )
    startup_grace: float = field(
        metadata=_opt("guardian", "seconds to wait for a first strategy heartbeat and market data", 30.0)
    )
    dead_man_timeout: float = field(
        metadata=_opt(
            "guardian", "the venue's cancel-on-silence timer (Aster, Paradex), re-armed every quarter", 120.0
        )
    )

    run_dir: Path = field(metadata=_opt("runtime", "private directory for sockets (mode 0700)", _COMPUTED))
    data_dir: Path = field(metadata=_opt("runtime", "directory for the journal", Path("data")))
    keys_dir: Path | None = field(
        metadata=_opt("runtime", "CURVE keys for tcp:// endpoints (python -m services.keys DIR)", None)
    )
    log_format: str = field(metadata=_opt("runtime", "log line format", "console"))
    log_level: str = field(metadata=_opt("runtime", "lowest level logged", "INFO"))
    md_cpus: str | None = field(
        metadata=_opt("runtime", "CPUs md_gateway runs on (a CPU list: 1, 0-1, 0,2-3); unset: any", None)
    )
    orders_cpus: str | None = field(
        metadata=_opt("runtime", "CPUs order_gateway runs on, e.g. 1 to give it a CPU of its own", None)
    )
    strategy_cpus: str | None = field(metadata=_opt("runtime", "CPUs the strategy runs on", None))
    risk_cpus: str | None = field(metadata=_opt("runtime", "CPUs the guardian runs on", None))

    metrics_host: str = field(metadata=_opt("metrics", "address the Prometheus endpoints bind", "127.0.0.1"))
    md_metrics_port: int = field(metadata=_opt("metrics", "md_gateway metrics port; 0: off", 9101))
    orders_metrics_port: int = field(metadata=_opt("metrics", "order_gateway metrics port; 0: off", 9102))
    strategy_metrics_port: int = field(metadata=_opt("metrics", "strategy metrics port; 0: off", 9103))
    risk_metrics_port: int = field(metadata=_opt("metrics", "risk metrics port; 0: off", 9104))

    md_endpoint: str = field(metadata=_opt("bus", "market data PUB", _COMPUTED))
    exec_endpoint: str = field(metadata=_opt("bus", "order and fill PUB", _COMPUTED))
    orders_endpoint: str = field(metadata=_opt("bus", "order requests ROUTER", _COMPUTED))
    strategy_endpoint: str = field(metadata=_opt("bus", "strategy PUB", _COMPUTED))
    risk_endpoint: str = field(metadata=_opt("bus", "risk state PUB", _COMPUTED))
    risk_ctl_endpoint: str = field(metadata=_opt("bus", "risk control ROUTER", _COMPUTED))

    def __post_init__(self) -> None:
        problems = check({f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ConfigError(problems)


_FIELDS = {f.name: f for f in fields(Config)}


def _env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _default_text(name: str) -> str:
    default = _FIELDS[name].metadata["default"]
    if name == "run_dir":
        return "$XDG_RUNTIME_DIR/perp-mm, else /tmp/perp-mm-<uid>"
    if name.endswith("_endpoint"):
        return f"ipc://<run-dir>/{name.removesuffix('_endpoint')}.sock"
    if default is _REQUIRED:
        return "required"
    if default is None:
        return "unset"
    return fmt(default) if isinstance(default, Decimal) else str(default)


def build_parser(*, prog: str | None = None, description: str | None = None) -> argparse.ArgumentParser:
    """The shared command line; a process may add its own arguments before parsing."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"Every flag can also be set as {ENV_PREFIX}<FLAG> in the environment (e.g. "
        f"{ENV_PREFIX}MAX_POSITION) or as a top-level key in the --config file (e.g. max_position = 5).",
    )
    parser.add_argument("--config", metavar="FILE.toml", default=argparse.SUPPRESS, help="settings file")
    groups: dict[str, Any] = {}
    for name, f in _FIELDS.items():
        group_name = f.metadata["group"]
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        help_text = f"{f.metadata['help']} (default: {_default_text(name)})".replace("%", "%%")
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if f.type == "bool":
            options["action"] = argparse.BooleanOptionalAction
        elif name in CHOICES:
            options["metavar"] = "{" + ",".join(CHOICES[name]) + "}"
        groups[group_name].add_argument(flag(name), **options)
    return parser


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_EXPECTED = {
    "bool": "true or false",
    "Decimal": "a number",
    "float": "a number of seconds",
    "int": "a whole number",
    "str": "text",
    "Path": "a path",
}


def _convert(type_text: str, raw: Any, *, choices: tuple[str, ...]) -> Any:
    """``raw`` (command-line or environment text, or a TOML value) as the field's type."""
    kind = type_text.removesuffix(" | None")
    expected = _EXPECTED[kind]
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if isinstance(raw, str) and word in _TRUE | _FALSE:
            return word in _TRUE
        raise ValueError(f"expected {expected}")
    if isinstance(raw, bool | dict | list) or (kind in ("str", "Path") and not isinstance(raw, str)):
        raise ValueError(f"expected {expected}")
    text = str(raw).strip()
    if kind in ("Decimal", "float"):
        try:
            number = Decimal(text)
        except ArithmeticError:
            raise ValueError(f"expected {expected}") from None
        if not number.is_finite():
            raise ValueError(f"expected {expected}, not {text}")
        return number if kind == "Decimal" else float(number)
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected {expected}") from None
    if kind == "Path":
        if not text:
            raise ValueError(f"expected {expected}")
        return Path(text)
    return next((choice for choice in choices if choice.casefold() == text.casefold()), text)


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _read_toml(path: Path, problems: list[str]) -> tuple[dict[str, Any], bool]:
    """The file's settings by field name, and whether it is a resolved file."""
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f, parse_float=Decimal)
    except OSError as exc:
        problems.append(f"config file {path}: cannot read it ({exc.strerror or exc})")
        return {}, False
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"config file {path}: not valid TOML ({exc})")
        return {}, False
    resolved = doc.pop(RESOLVED_KEY, False)
    if not isinstance(resolved, bool):
        problems.append(f"config file {path}: {RESOLVED_KEY} must be true or false")
        resolved = False
    values = {}
    for key, value in doc.items():
        if key in _FIELDS:
            values[key] = value
        elif key.replace("-", "_") in _FIELDS:
            problems.append(f"config file {path}: write key {key} as {key.replace('-', '_')}")
        else:
            problems.append(f"config file {path}: unknown key {key}{_suggest(key, list(_FIELDS))}")
    return values, resolved


def _read_env(env: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    known = {_env_name(name): name for name in _FIELDS}
    values = {}
    for var, text in env.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV:
            continue
        if var in known:
            values[known[var]] = text
        else:
            problems.append(f"environment variable {var} is not a setting{_suggest(var, list(known))}")
    return values


def _computed_default(name: str, values: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    if name == "run_dir":
        runtime = env.get("XDG_RUNTIME_DIR")
        return Path(runtime, "perp-mm").absolute() if runtime else Path(f"/tmp/perp-mm-{os.getuid()}")
    run_dir = values.get("run_dir")
    return None if run_dir is None else f"ipc://{run_dir / (name.removesuffix('_endpoint') + '.sock')}"


def config_from_args(args: argparse.Namespace, *, env: Mapping[str, str] | None = None) -> Config:
    """Resolve parsed arguments against the environment, the TOML file and the defaults."""
    env = os.environ if env is None else env
    problems: list[str] = []
    config_file = getattr(args, "config", None) or env.get(CONFIG_ENV)
    from_file, resolved = _read_toml(Path(config_file), problems) if config_file else ({}, False)
    from_env = {} if resolved else _read_env(env, problems)
    values: dict[str, Any] = {}
    for name, f in _FIELDS.items():
        if hasattr(args, name):
            source, raw = flag(name), getattr(args, name)
        elif name in from_env:
            source, raw = _env_name(name), from_env[name]
        elif name in from_file:
            source, raw = f"{name} in {config_file}", from_file[name]
        else:
            default = f.metadata["default"]
            if default is _REQUIRED:
                problems.append(
                    f"missing {label(name)} ({f.metadata['help']}): set {flag(name)}, "
                    f"{_env_name(name)} or {name} in the config file"
                )
            elif default is not _COMPUTED:
                values[name] = default
            continue
        try:
            values[name] = _convert(str(f.type), raw, choices=CHOICES.get(name, ()))
        except ValueError as exc:
            shown = repr(raw) if isinstance(raw, str) else str(raw)
            problems.append(f"{source} = {shown}: {exc}")
    # Absolute paths, so a resolved file means the same from any working directory.
    for name in ("run_dir", "data_dir", "keys_dir"):
        if values.get(name) is not None:
            values[name] = values[name].expanduser().absolute()
    for name, f in _FIELDS.items():
        if f.metadata["default"] is _COMPUTED and name not in values:
            values[name] = _computed_default(name, values, env)
    problems += check(values)
    if problems:
        raise ConfigError(problems)
    return Config(**values)


def parse_config(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    prog: str | None = None,
    description: str | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[Config, argparse.Namespace]:
    """The config and the parsed arguments (with a process's own ones); problems exit 2 with a message."""
    parser = build_parser(prog=prog, description=description)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return config_from_args(args, env=env), args
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")


def load_config(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    prog: str | None = None,
    description: str | None = None,
) -> Config:
    """The config of a process started from the command line; problems exit 2 with a message."""
    return parse_config(argv, env=env, prog=prog, description=description)[0]


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in escaped) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, int | float):
        return repr(value)
    return _toml_string(str(value))


def config_to_toml(cfg: Config) -> str:
    """A complete TOML file for ``cfg`` that ``--config`` loads back to an equal ``Config``."""
    lines = [
        "# perp-mm resolved configuration: every setting, as the parent process resolved it.",
        "# PERP_MM_* environment variables are ignored while this file is loaded.",
        f"{RESOLVED_KEY} = true",
    ]
    group = ""
    for name, f in _FIELDS.items():
        if f.metadata["group"] != group:
            group = f.metadata["group"]
            lines += ["", f"# {group}"]
        value = getattr(cfg, name)
        if value is not None:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
