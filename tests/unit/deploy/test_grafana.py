"""deploy/grafana: an importable dashboard whose queries name real metrics; provisioning that matches."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "perp-mm.json"
SOURCES = ("services", "md_gateway", "order_gateway", "strategy", "risk")


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _exprs() -> list[str]:
    return [t["expr"] for p in _panels() for t in p["targets"]]


def _declared() -> set[str]:
    names: set[str] = set()
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            names.update(re.findall(r"\"(mm_[a-z0-9_]+)\"", path.read_text()))
    return names


def test_dashboard_identity_and_datasource_variable() -> None:
    dash = _dashboard()
    assert dash["uid"] == "perp-mm"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panel_ids_unique_and_layout_inside_the_grid() -> None:
    panels = _dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        assert pos["h"] > 0


def test_the_required_panels_are_there() -> None:
    exprs = "\n".join(_exprs())
    for needed in (
        'mm_pnl_quote{job="strategy"}',  # realized and unrealized PnL
        "mm_position_base",
        "mm_position_target_base",
        "mm_position_reduce_above_base",  # threshold band
        "mm_position_max_base",
        "mm_quote_spread_bps",
        "mm_fill_rate_ratio",
        "mm_fee_ratio",
        "mm_funding_quote_total",
        "histogram_quantile(0.99, sum by (le) (rate(mm_order_ack_latency_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(mm_tick_to_quote_seconds_bucket",
        "mm_risk_trading_state",
        "mm_risk_actions_total",
        "mm_bus_seq_gaps_total",
        "mm_bus_dropped_total",
        "mm_heartbeat_timestamp_seconds",
        "mm_heartbeat_age_seconds",
        "up{",
    ):
        assert needed in exprs, needed


def test_queries_name_only_metrics_the_processes_declare() -> None:
    used = {
        re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"\bmm_[a-z0-9_]+", "\n".join(_exprs()))
    }
    declared = _declared()
    assert used <= declared, f"not declared by any process: {sorted(used - declared)}"


def test_provisioning_points_at_the_dashboard_directory_and_prometheus() -> None:
    provider = (GRAFANA / "provisioning" / "dashboards" / "perp-mm.yml").read_text()
    assert "path: /opt/perp-mm/deploy/grafana/dashboards" in provider
    datasource = (GRAFANA / "provisioning" / "datasources" / "perp-mm.yml").read_text()
    assert "type: prometheus" in datasource
    assert "url: http://127.0.0.1:9090" in datasource
