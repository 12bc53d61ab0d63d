"""``python -m venues.emulator``: the command line's refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from venues.emulator.__main__ import main


def test_a_cpu_the_machine_lacks_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = max(os.sched_getaffinity(0)) + 1
    before = os.sched_getaffinity(0)
    accounts = tmp_path / "accounts.json"
    assert main(["--cpus", str(absent), "--write-accounts", str(accounts)]) == 2
    assert f"emulator: --cpus {absent} names CPU {absent}, which this machine does not give us" in (
        capsys.readouterr().err
    )
    assert not accounts.exists()  # no account generated, no server started
    assert os.sched_getaffinity(0) == before
