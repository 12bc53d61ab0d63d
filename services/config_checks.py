"""The rules a configuration must meet, each broken rule a sentence a trader can act on.

``check`` takes the settings by field name and tolerates missing ones (a value
that failed to parse is reported by the loader), so every problem of a
configuration is found in one pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from services.affinity import CPU_SETTINGS, problem
from services.logs import LOG_FORMATS, LOG_LEVELS
from venues.precision import fmt

__all__ = ["CHOICES", "ENDPOINT_NAMES", "IPC_PATH_MAX_BYTES", "check", "flag", "label", "show"]

ENDPOINT_NAMES = ("md", "exec", "orders", "strategy", "risk", "risk_ctl")
METRICS_PORTS = ("md_metrics_port", "orders_metrics_port", "strategy_metrics_port", "risk_metrics_port")
# A unix socket path must fit sockaddr_un.sun_path (108 bytes on Linux, with its NUL).
IPC_PATH_MAX_BYTES = 107

CHOICES: dict[str, tuple[str, ...]] = {
    "exchange": ("backpack", "aster", "paradex"),
    "market_type": ("perp",),
    "lang": ("zh-TW", "en"),
    "on_hang": ("cancel", "flatten"),
    "reduce_mode": ("market", "maker"),
    "log_format": LOG_FORMATS,
    "log_level": LOG_LEVELS,
}

_POSITIVE = {
    "spread": "it is the full quote width in percent of mid, e.g. 0.05",
    "quantity": "it is the size of each quote in base units",
    "max_position": "it is the hard limit on the absolute position",
    "interval": "seconds between requotes",
    "duration": "seconds to run",
    "hang_timeout": "seconds without a strategy heartbeat before risk acts",
    "md_stale": "seconds without market data before quotes are pulled",
    "order_rate_limit": "orders per second",
    "margin_fraction_limit": "it is the lowest margin fraction (equity over position notional) allowed",
    "leverage": "it is the account's leverage, e.g. 10",
    "poll_interval": "seconds between the guardian's polls",
    "near_poll_interval": "seconds between the guardian's polls near a limit",
    "bus_poll_interval": "seconds between the guardian's polls while the bus is live",
    "startup_grace": "seconds",
    "dead_man_timeout": "seconds",
}
_NOT_NEGATIVE = {
    "target_position": "it is the absolute position to hold",
    "position_threshold": "it is how far past the target the position may drift",
    "max_order_notional": "0 means no limit",
    "sl_cooldown": "seconds",
}
_PERP_SUFFIX = {"backpack": ("_PERP", "SOL_USDC_PERP"), "paradex": ("-PERP", "BTC-USD-PERP")}


def flag(name: str) -> str:
    """The command-line flag of a field: ``max_position`` -> ``--max-position``."""
    return "--" + name.replace("_", "-")


def label(name: str) -> str:
    """How messages name a setting, whichever source set it: ``max_position`` -> ``max-position``."""
    return name.replace("_", "-")


def show(value: Any) -> str:
    """A number as a trader typed it: no exponent, no float noise."""
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, float):
        return fmt(Decimal(repr(value)))
    return str(value)


def check(values: Mapping[str, Any]) -> list[str]:
    """Every rule the given settings break (empty when they are fine)."""
    return [
        *_choices(values),
        *_symbol(values),
        *_signs(values),
        *_quoting(values),
        *_position(values),
        *_ports(values),
        *_endpoints(values),
        *_cpus(values),
    ]


def _choices(v: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, allowed in CHOICES.items():
        value = v.get(name)
        if value is None or value in allowed:
            continue
        if name == "market_type":
            problems.append(
                f"market-type {value} is not supported: perp-mm trades perpetual futures only "
                "(use --market-type perp)"
            )
        else:
            problems.append(f"{label(name)} {value} is not supported; choose one of: {', '.join(allowed)}")
    return problems


def _symbol(v: Mapping[str, Any]) -> list[str]:
    symbol, exchange = v.get("symbol"), v.get("exchange")
    if symbol is None:
        return []
    if not symbol:
        return ["missing symbol: the market to quote, e.g. SOL_USDC_PERP, SOLUSDT or BTC-USD-PERP"]
    if exchange in _PERP_SUFFIX:
        suffix, example = _PERP_SUFFIX[exchange]
        if not symbol.upper().endswith(suffix):
            return [
                f"symbol {symbol} is not a {exchange} perpetual: perp symbols end in {suffix} ({example})"
            ]
    return []


def _signs(v: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, why in _POSITIVE.items():
        value = v.get(name)
        if value is not None and value <= 0:
            problems.append(f"{label(name)} {show(value)} must be above 0: {why}")
    for name, why in _NOT_NEGATIVE.items():
        value = v.get(name)
        if value is not None and value < 0:
            problems.append(f"{label(name)} {show(value)} must be 0 or more: {why}")
    return problems


def _quoting(v: Mapping[str, Any]) -> list[str]:
    problems = []
    spread, max_orders, skew = v.get("spread"), v.get("max_orders"), v.get("inventory_skew")
    if spread is not None and spread >= 200:
        problems.append(
            f"spread {show(spread)} must be below 200: it is the full width in percent of mid, "
            "so the bid would be at or below zero"
        )
    if max_orders is not None and max_orders < 1:
        problems.append(
            f"max-orders {max_orders} must be at least 1: it is the number of quote layers per side"
        )
    if skew is not None and not 0 <= skew <= 1:
        problems.append(f"inventory-skew {show(skew)} must be between 0 and 1 (0 turns skew off)")
    threshold = v.get("requote_threshold")
    if threshold is not None and not 0 <= threshold < 1:
        problems.append(
            f"requote-threshold {show(threshold)} must be 0 or more and below 1: it is the fraction of the "
            "spread width the target price moves before a requote (0: every tick)"
        )
    return problems


def _position(v: Mapping[str, Any]) -> list[str]:
    problems = []
    stop_loss, take_profit = v.get("stop_loss"), v.get("take_profit")
    if stop_loss is not None and stop_loss > 0:
        problems.append(
            f"stop-loss {show(stop_loss)} must be negative: it is the largest unrealized loss allowed, "
            "in quote currency, entered with a minus sign, e.g. --stop-loss -25"
        )
    elif stop_loss is not None and stop_loss == 0:
        problems.append(
            "stop-loss 0 would close the position at the first cent of loss: enter the largest loss "
            "you accept as a negative amount, e.g. --stop-loss -25, or leave it unset to turn it off"
        )
    if take_profit is not None and take_profit <= 0:
        problems.append(
            f"take-profit {show(take_profit)} must be above 0: it is the unrealized profit, in quote "
            "currency, at which the position is closed, e.g. --take-profit 50"
        )
    target, threshold, maximum = v.get("target_position"), v.get("position_threshold"), v.get("max_position")
    if target is not None and threshold is not None and maximum is not None and maximum < target + threshold:
        problems.append(
            f"max-position {show(maximum)} is below target-position {show(target)} + "
            f"position-threshold {show(threshold)} = {show(target + threshold)}: risk would force-close "
            "before the strategy ever reduces; raise max-position or lower the other two"
        )
    quantity = v.get("quantity")
    if quantity is not None and maximum is not None and 0 < maximum < quantity:
        problems.append(
            f"quantity {show(quantity)} is above max-position {show(maximum)}: no quote could be placed"
        )
    return problems


def _ports(v: Mapping[str, Any]) -> list[str]:
    problems = []
    if v.get("metrics_host") == "":
        problems.append("metrics-host is empty: give an address such as 127.0.0.1")
    ports = {name: v[name] for name in METRICS_PORTS if v.get(name) is not None}
    for name, port in ports.items():
        if not 0 <= port <= 65535:
            problems.append(f"{label(name)} {port} is not a TCP port: use 1..65535, or 0 to turn it off")
    counts = Counter(port for port in ports.values() if port)
    for port, count in counts.items():
        if count > 1:
            users = " and ".join(label(name) for name, p in ports.items() if p == port)
            problems.append(f"{users} share port {port}: each process needs its own metrics port")
    return problems


def _endpoints(v: Mapping[str, Any]) -> list[str]:
    problems = []
    urls = {name: v[f"{name}_endpoint"] for name in ENDPOINT_NAMES if v.get(f"{name}_endpoint") is not None}
    for name, url in urls.items():
        option = label(f"{name}_endpoint")
        if url.startswith("ipc://"):
            size = len(url.removeprefix("ipc://").encode())
            if size > IPC_PATH_MAX_BYTES:
                problems.append(
                    f"{option} {url} is a {size}-byte socket path; unix sockets allow at most "
                    f"{IPC_PATH_MAX_BYTES}: choose a shorter --run-dir"
                )
        elif url.startswith("tcp://"):
            host, _, port = url.removeprefix("tcp://").rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) <= 65535:
                problems.append(f"{option} {url} must look like tcp://HOST:PORT")
        elif not url.startswith("inproc://"):
            problems.append(f"{option} {url} must start with ipc://, tcp:// or inproc://")
    for url, count in Counter(urls.values()).items():
        if count > 1:
            users = " and ".join(label(f"{name}_endpoint") for name, u in urls.items() if u == url)
            problems.append(f"{users} share {url}: each endpoint needs its own address")
    uses_tcp = any(url.startswith("tcp://") for url in urls.values())
    if uses_tcp and "keys_dir" in v and v["keys_dir"] is None:
        problems.append(
            "tcp:// endpoints need --keys-dir with CURVE keys (make them: python -m services.keys DIR)"
        )
    return problems


def _cpus(v: Mapping[str, Any]) -> list[str]:
    found = (problem(label(name), v[name]) for name in CPU_SETTINGS.values() if v.get(name) is not None)
    return [reason for reason in found if reason is not None]
