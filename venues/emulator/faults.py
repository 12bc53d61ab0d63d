"""Injected faults: what the control API can make the emulator do wrong, and the draws that apply them.

A POST of a fault set replaces the whole previous set (``{}`` clears it).
``drop_ws`` and ``depth_gap`` (drop the next depth message of each symbol)
are one-shot actions; ``hang_after_execute`` counts down with each order
placement it hangs, ``hang_before_execute`` with each placement it holds
(queued at the venue, not yet executed) for ``HANG_S`` before handling it, and
``unknown_after_execute`` with each placement it executes but answers as of
unknown outcome (Aster's -1006); ``cancel_accepted_ms`` makes Backpack's
cancels answer 202 (accepted, not yet executed) and execute that much later,
as the venue does under load; ``zero_trade_ids`` reports Backpack fills with
``tradeId`` 0, as its backstop-liquidation fills did before 2025-11-12 (still
so in history); ``freeze_s`` freezes the whole exchange for that long from the
moment it is set: REST requests are held until it ends, the market stops and
the streams fall silent while the connections stay open (the nastiest kind of
outage).
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

HANG_S = 30.0


class RestFault(StrEnum):
    """What a drawn fault does to one REST request, instead of handling it."""

    UNAVAILABLE = "unavailable"  # 503
    INTERNAL = "internal"  # 500
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSpec:
    latency_ms: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    freeze_s: float = 0.0
    hang_after_execute: int = 0
    hang_before_execute: int = 0
    unknown_after_execute: int = 0
    clock_offset_ms: int = 0
    drop_ws: bool = False
    depth_gap: bool = False
    malformed_ws: bool = False
    replay_fills: bool = False
    expire_listen_keys: bool = False
    cancel_accepted_ms: int = 0
    zero_trade_ids: bool = False
    user_events_out_of_order: bool = False  # Aster: user-data events swapped in pairs (order them by E)

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "freeze_s": self.freeze_s,
            "hang_after_execute": self.hang_after_execute,
            "hang_before_execute": self.hang_before_execute,
            "unknown_after_execute": self.unknown_after_execute,
            "clock_offset_ms": self.clock_offset_ms,
            "malformed_ws": self.malformed_ws,
            "replay_fills": self.replay_fills,
            "expire_listen_keys": self.expire_listen_keys,
            "cancel_accepted_ms": self.cancel_accepted_ms,
            "zero_trade_ids": self.zero_trade_ids,
            "user_events_out_of_order": self.user_events_out_of_order,
        }


def _number(body: Mapping[str, Any], key: str, *, integer: bool, low: float, high: float) -> Any:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    if integer and not isinstance(value, int):
        raise ValueError(f"{key} must be an integer")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{key} must be between {low:g} and {high:g}")
    return value


def parse_faults(body: Any) -> FaultSpec:
    """Validate a control-API fault set; ``ValueError`` says what is wrong."""
    if not isinstance(body, Mapping):
        raise ValueError("faults must be a JSON object")
    known = set(FaultSpec.__dataclass_fields__)
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
    flags = (
        "drop_ws",
        "depth_gap",
        "malformed_ws",
        "replay_fills",
        "expire_listen_keys",
        "user_events_out_of_order",
        "zero_trade_ids",
    )
    for flag in flags:
        if not isinstance(body.get(flag, False), bool):
            raise ValueError(f"{flag} must be true or false")
    return FaultSpec(
        latency_ms=_number(body, "latency_ms", integer=True, low=0, high=600_000),
        error_rate=float(_number(body, "error_rate", integer=False, low=0, high=1)),
        rate_limit_rate=float(_number(body, "rate_limit_rate", integer=False, low=0, high=1)),
        freeze_s=float(_number(body, "freeze_s", integer=False, low=0, high=600)),
        hang_after_execute=_number(body, "hang_after_execute", integer=True, low=0, high=1_000_000),
        hang_before_execute=_number(body, "hang_before_execute", integer=True, low=0, high=1_000_000),
        unknown_after_execute=_number(body, "unknown_after_execute", integer=True, low=0, high=1_000_000),
        clock_offset_ms=_number(body, "clock_offset_ms", integer=True, low=-86_400_000, high=86_400_000),
        drop_ws=body.get("drop_ws", False),
        depth_gap=body.get("depth_gap", False),
        malformed_ws=body.get("malformed_ws", False),
        replay_fills=body.get("replay_fills", False),
        expire_listen_keys=body.get("expire_listen_keys", False),
        cancel_accepted_ms=_number(body, "cancel_accepted_ms", integer=True, low=0, high=60_000),
        zero_trade_ids=body.get("zero_trade_ids", False),
        user_events_out_of_order=body.get("user_events_out_of_order", False),
    )


@dataclass(slots=True)
class FaultState:
    """The faults in force and a seeded generator for the random ones (reproducible per seed)."""

    seed: int
    spec: FaultSpec = field(default_factory=FaultSpec)
    hangs_left: int = 0
    holds_left: int = 0
    unknowns_left: int = 0
    depth_gap_pending: bool = False
    depth_gapped: set[str] = field(default_factory=set)
    malformed_sent: set[str] = field(default_factory=set)
    listen_key_expiry_pending: bool = False
    frozen_until_s: float = 0.0  # on the monotonic clock
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def apply(self, spec: FaultSpec, *, now_s: float) -> None:
        """Put ``spec`` in force at monotonic time ``now_s`` (replacing every earlier fault)."""
        self.spec = spec
        self.hangs_left = spec.hang_after_execute
        self.holds_left = spec.hang_before_execute
        self.unknowns_left = spec.unknown_after_execute
        self.depth_gap_pending = spec.depth_gap
        self.depth_gapped = set()
        self.malformed_sent = set()
        self.listen_key_expiry_pending = spec.expire_listen_keys
        self.frozen_until_s = now_s + spec.freeze_s if spec.freeze_s else 0.0

    def freeze_remaining_s(self, now_s: float) -> float:
        """Seconds the exchange stays frozen (0: not frozen)."""
        return max(self.frozen_until_s - now_s, 0.0)

    def draw_rest_fault(self) -> RestFault | None:
        """Whether this REST request is answered by a fault instead (rate limit first, then errors)."""
        if self.spec.rate_limit_rate and self._rng.random() < self.spec.rate_limit_rate:
            return RestFault.RATE_LIMITED
        if self.spec.error_rate and self._rng.random() < self.spec.error_rate:
            return RestFault.UNAVAILABLE if self._rng.random() < 0.5 else RestFault.INTERNAL
        return None

    def take_hang(self) -> bool:
        """True (and one fewer left) when this order placement's response must hang."""
        if self.hangs_left <= 0:
            return False
        self.hangs_left -= 1
        return True

    def take_hold(self) -> bool:
        """True (and one fewer left) when this order placement must wait in the queue before it is handled."""
        if self.holds_left <= 0:
            return False
        self.holds_left -= 1
        return True

    def take_unknown(self) -> bool:
        """True (and one fewer left) when this executed placement must be answered as of unknown outcome."""
        if self.unknowns_left <= 0:
            return False
        self.unknowns_left -= 1
        return True

    def take_depth_gap(self, symbol: str, *, symbols: set[str]) -> bool:
        """True once per symbol after ``depth_gap`` was set: its next depth message is dropped."""
        if not self.depth_gap_pending or symbol in self.depth_gapped:
            return False
        self.depth_gapped.add(symbol)
        if self.depth_gapped >= symbols:
            self.depth_gap_pending = False
        return True

    def malformed(self, stream: str, data: dict[str, Any], *, keep: Collection[str]) -> dict[str, Any] | None:
        """Once per stream after ``malformed_ws`` was set: ``data``, every field but ``keep`` unparseable."""
        if not self.take_malformed(stream):
            return None
        return {key: value if key in keep else "\ufffd" for key, value in data.items()}

    def take_malformed(self, stream: str) -> bool:
        """True once per stream after ``malformed_ws`` was set (a malformed copy precedes its message)."""
        if not self.spec.malformed_ws or stream in self.malformed_sent:
            return False
        self.malformed_sent.add(stream)
        return True

    def take_listen_key_expiry(self) -> bool:
        """True once after ``expire_listen_keys`` was set: every listen key lapses now."""
        pending, self.listen_key_expiry_pending = self.listen_key_expiry_pending, False
        return pending
