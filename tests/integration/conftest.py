"""Fixtures for integration tests: a short private run dir, the emulator, and child processes.

This directory is put on ``sys.path`` so test modules can ``import harness``
(pytest runs with ``--import-mode=importlib``, which adds nothing to the path).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Children, Emulator, make_run_dir, start_emulator


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A fresh directory under /tmp with a short path, removed after the test."""
    path = make_run_dir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def emulator(run_dir: Path) -> Iterator[Emulator]:
    """The Backpack emulator on a free loopback port (SOL_USDC_PERP, seed 1), stopped after the test."""
    emu = start_emulator(run_dir)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def children() -> Iterator[Children]:
    """Start processes with ``children.start(name, config, env)``; all are stopped after the test."""
    procs = Children()
    try:
        yield procs
    finally:
        procs.close()
