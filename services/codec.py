"""The frame codec: message registry, msgpack encoding, validated decoding.

A frame body is one msgpack map: the envelope (``v``, ``type``, ``seq``,
``ts``, ``sent``, ``src``) followed by the message's fields.  A ``Decimal``
travels as its exact string and is rebuilt from the field's annotation, so
money never passes through a float (a float where a Decimal belongs is
refused).  Decoding checks every field against the dataclass annotation and
raises ``WireError`` (and only that) for anything malformed.
"""

from __future__ import annotations

import dataclasses
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, ClassVar

import msgpack

SCHEMA_VERSION = 1
_ENVELOPE_KEYS = ("v", "type", "seq", "ts", "sent", "src")

Check = Callable[[Any], Any]


class WireError(ValueError):
    """A frame that is not a valid message of this schema."""


class Message:
    """Base of every bus message; subclasses are slotted dataclasses with a ``TYPE``."""

    TYPE: ClassVar[str] = ""
    __slots__ = ()


_REGISTRY: dict[str, type[Message]] = {}
_DECODERS: dict[str, Check] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}


@typing.dataclass_transform(kw_only_default=True)
def message(cls: type[Any]) -> type[Any]:
    """Register a class as a bus message (decorator): makes it a slotted keyword dataclass."""
    dc = dataclass(slots=True, kw_only=True)(cls)
    if not dc.TYPE or dc.TYPE in _REGISTRY:
        raise TypeError(f"message {cls.__name__} needs a unique TYPE")
    names = tuple(f.name for f in dataclasses.fields(dc))
    if set(names) & set(_ENVELOPE_KEYS):
        raise TypeError(f"message {cls.__name__} reuses an envelope key")
    _FIELDS[dc] = names
    _REGISTRY[dc.TYPE] = dc
    _DECODERS[dc.TYPE] = _struct_checker(dc)
    return dc


def message_types() -> dict[str, type[Message]]:
    """Every registered message type by its ``TYPE`` name."""
    return dict(_REGISTRY)


def _struct_checker(cls: type[Any]) -> Check:
    hints = typing.get_type_hints(cls)
    # (name, exact type or None, checker, required): plain fields are checked inline, the hot path.
    specs: list[tuple[str, type | None, Check, bool]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        exact = hint if hint in (bool, int, str) else None
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        specs.append((f.name, exact, _checker(hint, f"{cls.__name__}.{f.name}"), required))

    def check(data: Any) -> Any:
        if not isinstance(data, dict):
            raise WireError(f"{cls.__name__}: expected a map")
        kwargs = {}
        for name, exact, check_field, required in specs:
            if name in data:
                value = data[name]
                if exact is None:
                    kwargs[name] = check_field(value)
                elif type(value) is exact:
                    kwargs[name] = value
                else:
                    check_field(value)  # raises with the field's message
            elif required:
                raise WireError(f"{cls.__name__}: missing field {name!r}")
        if len(kwargs) != len(data):
            raise WireError(f"{cls.__name__}: unknown fields {sorted(map(str, data.keys() - kwargs.keys()))}")
        return cls(**kwargs)

    return check


def _exact(kind: type, where: str) -> Check:
    def check(v: Any) -> Any:
        if type(v) is not kind:
            raise WireError(f"{where}: expected {kind.__name__}, got {type(v).__name__}")
        return v

    return check


def _checker(hint: Any, where: str) -> Check:
    """Build a validator for one annotated field (recursive over containers)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (inner_hint,) = [a for a in args if a is not type(None)]
        inner = _checker(inner_hint, where)
        return lambda v: None if v is None else inner(v)
    if origin is list:
        item = _checker(args[0], where)
        return lambda v: [item(x) for x in _sequence(v, where)]
    if origin is tuple:
        items = [_checker(a, where) for a in args]

        def tup(v: Any) -> tuple[Any, ...]:
            seq = _sequence(v, where)
            if len(seq) != len(items):
                raise WireError(f"{where}: expected {len(items)} items, got {len(seq)}")
            return tuple(c(x) for c, x in zip(items, seq, strict=True))

        return tup
    if origin is dict:
        key, value = _checker(args[0], where), _checker(args[1], where)

        def mapping(v: Any) -> dict[Any, Any]:
            if not isinstance(v, dict):
                raise WireError(f"{where}: expected a map, got {type(v).__name__}")
            return {key(k): value(x) for k, x in v.items()}

        return mapping
    if hint is Decimal:

        def dec(v: Any) -> Decimal:
            if type(v) is not str:
                raise WireError(f"{where}: expected a decimal string, got {type(v).__name__}")
            try:
                value = Decimal(v)
            except InvalidOperation:
                raise WireError(f"{where}: bad decimal {v!r}") from None
            if not value.is_finite():
                raise WireError(f"{where}: not a finite decimal: {v!r}")
            return value

        return dec
    if hint is float:

        def flt(v: Any) -> float:
            if type(v) not in (float, int):
                raise WireError(f"{where}: expected a number, got {type(v).__name__}")
            return float(v)

        return flt
    if hint in (bool, int, str):
        return _exact(hint, where)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        enum_cls = hint

        def enum(v: Any) -> Any:
            try:
                return enum_cls(v)
            except ValueError:
                raise WireError(f"{where}: {v!r} is not a {enum_cls.__name__}") from None

        return enum
    if isinstance(hint, type) and hint in _FIELDS:
        return _struct_checker(hint)
    raise TypeError(f"{where}: unsupported field type {hint!r}")


def _sequence(v: Any, where: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(v, list | tuple):
        raise WireError(f"{where}: expected a list, got {type(v).__name__}")
    return v


@dataclass(slots=True)
class Envelope:
    """A decoded frame: the envelope fields and the body message."""

    v: int
    type: str
    seq: int
    ts: int
    sent: int
    src: str
    body: Message

    def age_s(self, now_ns: int | None = None) -> float:
        """Seconds since the frame was published."""
        return ((now_ns if now_ns is not None else time.time_ns()) - self.sent) / 1e9


def _default(obj: Any) -> Any:
    if type(obj) is Decimal:
        return str(obj)
    if isinstance(obj, Message):
        return {name: getattr(obj, name) for name in _FIELDS[type(obj)]}
    raise TypeError(f"cannot encode {type(obj).__name__}")


_packer = msgpack.Packer(default=_default, use_bin_type=True)


def encode(msg: Message, *, seq: int, ts: int, sent: int, src: str) -> bytes:
    """Encode ``msg`` with its envelope into one msgpack map."""
    data = {"v": SCHEMA_VERSION, "type": msg.TYPE, "seq": seq, "ts": ts, "sent": sent, "src": src}
    for name in _FIELDS[type(msg)]:
        value = getattr(msg, name)
        data[name] = str(value) if type(value) is Decimal else value
    return _packer.pack(data)


def decode(frame: bytes) -> Envelope:
    """Decode and validate one frame; raises ``WireError`` for anything malformed."""
    try:
        data = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except WireError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise WireError(f"not msgpack: {exc}") from None
    if not isinstance(data, dict):
        raise WireError("frame is not a map")
    pop = data.pop
    try:
        v, kind, seq, ts, sent, src = pop("v"), pop("type"), pop("seq"), pop("ts"), pop("sent"), pop("src")
    except KeyError as exc:
        raise WireError(f"envelope field {exc.args[0]!r} missing") from None
    if v != SCHEMA_VERSION:
        raise WireError(f"schema version {v!r}, expected {SCHEMA_VERSION}")
    if type(seq) is not int or type(ts) is not int or type(sent) is not int or type(src) is not str:
        raise WireError("envelope fields have the wrong types")
    check = _DECODERS.get(kind) if type(kind) is str else None
    if check is None:
        raise WireError(f"unknown message type {kind!r}")
    try:
        body = check(data)
    except (TypeError, RecursionError) as exc:
        raise WireError(f"{kind}: {exc}") from None
    return Envelope(v, kind, seq, ts, sent, src, body)
