"""venues.common.parse: skipped malformed payloads are counted and logged once per kind."""

from __future__ import annotations

import logging

import pytest

from services import metrics
from venues.common.parse import MalformedResponse, skip_malformed


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
