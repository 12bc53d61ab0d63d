"""venues.common.parse: skipped malformed payloads are counted and logged once per kind."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from services import metrics
from venues.common.parse import MalformedResponse, leverage_of, skip_malformed


def test_skip_malformed_counts_every_payload_and_logs_the_first_of_a_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counter = metrics.VENUE_MALFORMED.labels("testvenue", "depth")
    before = counter._value.get()
    logger = logging.getLogger("test.parse")
    with caplog.at_level(logging.INFO, logger="test.parse"):
        for _ in range(3):
            skip_malformed(logger, MalformedResponse("no U"), venue="testvenue", kind="depth")
    assert counter._value.get() == before + 3
    lines = [r.getMessage() for r in caplog.records if "malformed testvenue depth" in r.getMessage()]
    assert len(lines) == 1 and "no U" in lines[0]


def test_a_leverage_is_a_positive_decimal_or_unknown() -> None:
    assert leverage_of("20") == Decimal(20) and leverage_of(5) == Decimal(5)
    assert [leverage_of(v) for v in (None, "", "0", "-3", "x", "NaN", True)] == [None] * 7
