"""deploy/prometheus: promtool accepts the scrape config and the rules, and the rules' own tests pass."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
# Every process's Python source, where each metric the rules may name is declared.
SOURCES = ("services", "md_gateway", "order_gateway", "strategy", "risk")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus; .ci/run does)"
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def declared_metrics() -> set[str]:
    """Metric names declared in the code (a Counter ``x_total`` also answers as ``x``)."""
    names: set[str] = set()
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            names.update(re.findall(r"\"(mm_[a-z0-9_]+)\"", path.read_text()))
    return names


def referenced_metrics(text: str) -> set[str]:
    """``mm_*`` names an expression text uses, with histogram suffixes taken off."""
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in re.findall(r"\bmm_[a-z0-9_]+", text)}


@needs_promtool
def test_promtool_accepts_the_scrape_config() -> None:
    result = _promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


@needs_promtool
def test_promtool_accepts_the_alert_rules() -> None:
    result = _promtool("check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


@needs_promtool
def test_each_alert_fires_when_it_should_and_not_before() -> None:
    result = _promtool("test", "rules", str(PROMETHEUS_DIR / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = set(
        re.findall(r"^\s*- alert: (\w+)$", (PROMETHEUS_DIR / "alerts.yml").read_text(), re.MULTILINE)
    )
    tested = set(re.findall(r'alertname="(\w+)"', (PROMETHEUS_DIR / "alerts_test.yml").read_text()))
    assert len(alerts) == 10
    assert alerts == tested


def test_rules_name_only_metrics_the_processes_declare() -> None:
    used = referenced_metrics((PROMETHEUS_DIR / "alerts.yml").read_text())
    declared = declared_metrics()
    assert used, "no metric found in the rules"
    assert used <= declared, f"not declared by any process: {sorted(used - declared)}"
