"""deploy/systemd: the unit systemd accepts, running the top-level supervisord.conf with room to stop."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UNIT = ROOT / "deploy" / "systemd" / "perp-mm.service"
ENV_EXAMPLE = ROOT / "deploy" / "systemd" / "perp-mm.env.example"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def _supervisord_conf() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string((ROOT / "supervisord.conf").read_text())
    return parser


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    # The checkout path, so the executables it names exist here.
    unit = tmp_path / "perp-mm.service"
    unit.write_text(UNIT.read_text().replace("/opt/perp-mm", str(ROOT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


def test_the_unit_runs_supervisord_on_the_top_level_conf() -> None:
    service = _unit()["Service"]
    assert service["ExecStart"] == "/opt/perp-mm/.venv/bin/supervisord -c /opt/perp-mm/supervisord.conf"
    assert service["WorkingDirectory"] == "/opt/perp-mm"
    assert service["EnvironmentFile"] == "/etc/perp-mm/perp-mm.env"


def test_only_supervisord_is_signalled_and_the_guardian_has_time_to_stop_last() -> None:
    service = _unit()["Service"]
    assert service["KillMode"] == "mixed"
    conf = _supervisord_conf()
    longest_stop_s = max(int(conf[name]["stopwaitsecs"]) for name in conf if name.startswith("program:"))
    assert int(service["TimeoutStopSec"]) > longest_stop_s


def test_every_variable_supervisord_needs_is_provided() -> None:
    needed = set(re.findall(r"%\(ENV_(\w+)\)s", (ROOT / "supervisord.conf").read_text()))
    from_unit = {
        line.split("=", 2)[1] for line in UNIT.read_text().splitlines() if line.startswith("Environment=")
    }
    from_file = {
        line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z_]+=", line)
    }
    assert needed == {"PERP_MM_CONFIG", "PERP_MM_RUN_DIR", "MM_LOG_DIR", "MM_EMULATOR", "MM_PYTHON"}
    assert needed <= from_unit | from_file, needed - (from_unit | from_file)


def test_private_directories_and_no_keys_inline() -> None:
    service = _unit()["Service"]
    for kind in ("Runtime", "State", "Logs"):
        assert service[f"{kind}Directory"] == "perp-mm"
        assert service[f"{kind}DirectoryMode"] == "0700"
    assert service["UMask"] == "0077"
    example = ENV_EXAMPLE.read_text()
    assert re.search(r"^BACKPACK_(API|SECRET)_KEY=", example, re.MULTILINE) is None, "keys belong in files"
    assert "BACKPACK_SECRET_KEY_FILE=" in example
