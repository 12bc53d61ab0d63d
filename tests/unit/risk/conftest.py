"""Fixtures for the guardian's shell tests; this directory goes on ``sys.path`` for ``risk_fakes``.

(pytest runs with ``--import-mode=importlib``, which adds nothing to the path.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from risk_fakes import FakeDeadManVenue, FakeVenue


@pytest.fixture
def venue() -> FakeVenue:
    return FakeVenue()


@pytest.fixture
def dead_man_venue() -> FakeDeadManVenue:
    return FakeDeadManVenue()
