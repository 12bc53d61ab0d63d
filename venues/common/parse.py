"""Venue JSON read exactly: numbers as ``Decimal``, fields checked, one error type (pure, no I/O)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from services import metrics
from services.logs import log_once
from services.wire import Level


class MalformedResponse(ValueError):
    """A venue payload that does not have the documented shape."""


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping every fractional number exact (``Decimal``, never ``float``)."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise MalformedResponse(f"not JSON: {exc}") from None


def field(raw: Any, key: str) -> Any:
    """``raw[key]``; raises ``MalformedResponse`` when ``raw`` is not an object or lacks it."""
    if not isinstance(raw, Mapping):
        raise MalformedResponse(f"expected an object, got {type(raw).__name__}")
    value = raw.get(key)
    if value is None:
        raise MalformedResponse(f"missing field {key!r}")
    return value


def dec(value: Any) -> Decimal:
    """A JSON number or decimal string as an exact, finite ``Decimal``."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise MalformedResponse(f"not a decimal: {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise MalformedResponse(f"not a decimal: {value!r}") from None
    if not result.is_finite():
        raise MalformedResponse(f"not a finite decimal: {value!r}")
    return result


def opt_dec(raw: Mapping[str, Any], key: str) -> Decimal | None:
    value = raw.get(key)
    return None if value is None or value == "" else dec(value)


def leverage_of(value: Any) -> Decimal | None:
    """A leverage as the venue states it: a positive decimal, else None (unknown, not an error)."""
    try:
        leverage = None if value is None or value == "" else dec(value)
    except MalformedResponse:
        return None
    return leverage if leverage is not None and leverage > 0 else None


def integer(value: Any) -> int:
    """A JSON integer or integer string (venue ids and times are sometimes strings)."""
    if isinstance(value, bool) or (isinstance(value, Decimal) and value != value.to_integral_value()):
        raise MalformedResponse(f"not an integer: {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MalformedResponse(f"not an integer: {value!r}") from None


def opt_client_id(value: Any) -> int | None:
    return None if value is None or value == "" else integer(value)


def levels(raw: Any) -> list[Level]:
    """``[[price, qty], ...]`` as exact levels."""
    if not isinstance(raw, list):
        raise MalformedResponse("levels must be a list")
    result: list[Level] = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 2:
            raise MalformedResponse(f"bad level {item!r}")
        result.append((dec(item[0]), dec(item[1])))
    return result


def skip_malformed(logger: logging.Logger, exc: Exception, *, venue: str, kind: str) -> None:
    """Count an unparseable stream payload (``mm_venue_malformed_total``); log the first of each kind."""
    metrics.VENUE_MALFORMED.labels(venue, kind).inc()
    log_once(logger, f"{venue}.ws.{kind}.malformed", f"malformed {venue} {kind} message, skipped: {exc}")
