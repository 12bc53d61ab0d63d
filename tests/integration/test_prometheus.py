"""A real Prometheus scrapes the supervised stack: every target up, every query of the dashboard and of the
alert rules answers with data.

Prometheus is the local binary (Debian's ``prometheus``; ``.ci/run`` installs
it), or a container through testcontainers when a Docker engine answers and no
binary is installed.  Its config is ``deploy/prometheus/prometheus.yml`` with
the test's ports, a 1 s scrape interval and the real ``alerts.yml``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT, Emulator, free_port, wait_for
from supervised import PROGRAMS, SupervisedStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "perp-mm.json"
DEPLOYED_PORTS = {"md_gateway": 9101, "order_gateway": 9102, "strategy": 9103, "risk": 9104}
PROMETHEUS_IMAGE = "prom/prometheus:v2.42.0"
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")


def _docker_engine() -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        return bool(docker.from_env().ping())
    except Exception:  # any failure to reach an engine means: no Docker here
        return False


BINARY = shutil.which("prometheus")
if BINARY is None and not _docker_engine():
    pytest.skip(
        "neither a prometheus binary (Debian: apt-get install prometheus; .ci/run installs it) "
        "nor a Docker engine for testcontainers is available",
        allow_module_level=True,
    )


def prometheus_config(stack: SupervisedStack, rules_dir: Path) -> str:
    """deploy/prometheus/prometheus.yml aimed at the stack's metrics ports, scraping every second."""
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    for program, port in DEPLOYED_PORTS.items():
        assert f"127.0.0.1:{port}" in text, f"{program}'s deployed port is not scraped"
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{stack.metrics_ports[program]}")
    for setting in ("scrape_interval: 5s", "evaluation_interval: 5s", "scrape_timeout: 4s"):
        assert setting in text
    text = text.replace("scrape_interval: 5s", "scrape_interval: 1s").replace(
        "evaluation_interval: 5s", "evaluation_interval: 1s"
    )
    text = text.replace("scrape_timeout: 4s", "scrape_timeout: 1s")
    return text.replace("  - alerts.yml", f"  - {rules_dir / 'alerts.yml'}")


class Prometheus:
    """Prometheus on a loopback port: the local binary, or a container on the host network."""

    def __init__(self, work_dir: Path, config: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.work_dir = work_dir
        (work_dir / "prometheus.yml").write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None
        self.container: Any = None
        args = [
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
        ]
        if BINARY is not None:
            (work_dir / "data").mkdir()
            with (work_dir / "prometheus.log").open("wb") as out:
                self.proc = subprocess.Popen(
                    [
                        BINARY,
                        f"--config.file={work_dir / 'prometheus.yml'}",
                        f"--storage.tsdb.path={work_dir / 'data'}",
                        *args,
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        else:
            from testcontainers.core.container import DockerContainer

            # The host network, so the container reaches the processes' loopback metrics endpoints.
            self.container = (
                DockerContainer(PROMETHEUS_IMAGE)
                .with_volume_mapping(str(work_dir), str(work_dir), "ro")
                .with_kwargs(network_mode="host")
                .with_command(
                    [f"--config.file={work_dir / 'prometheus.yml'}", "--storage.tsdb.path=/prometheus", *args]
                )
            )
            self.container.start()

    def log(self) -> str:
        if self.container is not None:
            return "\n".join(part.decode(errors="replace") for part in self.container.get_logs())
        return (self.work_dir / "prometheus.log").read_text(errors="replace")[-3000:]

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as answer:
            return json.loads(answer.read())

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def query(self, expr: str) -> dict[str, Any]:
        answer = self.get("/api/v1/query", query=expr)
        assert answer["status"] == "success", f"{expr}: {answer}"
        data: dict[str, Any] = answer["data"]
        return data

    def close(self) -> None:
        if self.container is not None:
            self.container.stop()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def has_data(data: dict[str, Any]) -> bool:
    """A vector with at least one series, or a scalar that is a number."""
    if data["resultType"] == "scalar":
        return not math.isnan(float(data["result"][1]))
    return len(data["result"]) > 0


def comparison_sides(expr: str) -> list[str]:
    """The operands of ``expr``'s top-level comparison (``a > b`` -> ``[a, b]``), or ``[expr]``."""
    depth, quote, index = 0, "", 0
    while index < len(expr):
        char = expr[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            for op in _COMPARISONS:
                if expr.startswith(op, index) and expr[index + len(op) : index + len(op) + 1] not in "=~":
                    right = expr[index + len(op) :].strip().removeprefix("bool ").strip()
                    return [expr[:index].strip(), right]
        index += 1
    return [expr.strip()]


def test_comparison_sides() -> None:
    assert comparison_sides('up{job=~"a|b"} == 0') == ['up{job=~"a|b"}', "0"]
    assert comparison_sides("(a or vector(0)) / (b) > 0.2") == ["(a or vector(0)) / (b)", "0.2"]
    assert comparison_sides('rate(x{l!="v"}[5m])') == ['rate(x{l!="v"}[5m])']


@pytest.fixture
def stack(run_dir: Path, emulator: Emulator) -> Iterator[SupervisedStack]:
    running = SupervisedStack.start(
        run_dir,
        emulator,
        spread="0.05",
        quantity="0.1",
        max_orders=2,
        max_position="5",
        position_threshold="2",
        stop_loss="-25",
        take_profit="50",
        interval=2,
        duration=3600,
    )
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def prometheus(stack: SupervisedStack) -> Iterator[Prometheus]:
    rules_dir = stack.run_dir / "prom"
    rules_dir.mkdir()
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", rules_dir / "alerts.yml")
    server = Prometheus(rules_dir, prometheus_config(stack, rules_dir))
    try:
        wait_for(server.ready, 30, interval_s=0.2, what="prometheus ready")
        yield server
    finally:
        server.close()


def test_prometheus_scrapes_every_process_and_every_query_has_data(
    stack: SupervisedStack, prometheus: Prometheus
) -> None:
    stack.wait_running()

    def targets_up() -> dict[str, str] | None:
        active = prometheus.get("/api/v1/targets")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in active}
        return health if sorted(health) == sorted(PROGRAMS) and set(health.values()) == {"up"} else None

    wait_for(targets_up, 30, interval_s=0.5, what="all four targets up")

    dashboard = json.loads(DASHBOARD.read_text())
    panel_queries = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    missing: dict[str, str] = {}

    def all_have_data(queries: list[tuple[str, str]]) -> bool:
        missing.clear()
        for title, expr in queries:
            if not has_data(prometheus.query(expr)):
                missing[expr] = title
        return not missing

    with contextlib.suppress(AssertionError):
        wait_for(lambda: all_have_data(panel_queries), 60, interval_s=1.0, what="dashboard queries")
    assert not missing, f"dashboard queries without data: {missing}\n{stack.logs()}"

    groups = prometheus.get("/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"] if rule["type"] == "alerting"]
    assert len(rules) == 10, [rule["name"] for rule in rules]
    wait_for(lambda: all(r["health"] == "ok" for r in _alerting(prometheus)), 20, what="rules evaluated")
    rule_sides = [(rule["name"], side) for rule in rules for side in comparison_sides(rule["query"])]
    assert all(len(comparison_sides(rule["query"])) == 2 for rule in rules), (
        "each rule: measurement OP threshold"
    )
    with contextlib.suppress(AssertionError):
        wait_for(lambda: all_have_data(rule_sides), 30, interval_s=1.0, what="alert rule measurements")
    assert not missing, f"alert rule parts without data: {missing}\n{stack.logs()}"


def _alerting(prometheus: Prometheus) -> list[dict[str, Any]]:
    groups = prometheus.get("/api/v1/rules")["data"]["groups"]
    return [rule for group in groups for rule in group["rules"] if rule["type"] == "alerting"]
