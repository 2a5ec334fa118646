"""The Grafana dashboard and Prometheus config in monitoring/ match what /metrics really exports."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from cli_process import FIXTURES, REPO
from prometheus_client.parser import text_string_to_metric_families

from streamwise.monitor.metrics import QueryMetrics
from streamwise.monitor.prometheus import render

ROOT = REPO
DASHBOARD = json.loads((ROOT / "monitoring" / "grafana" / "streamwise.json").read_text())
PROGRESS = json.loads((FIXTURES / "progress_kafka_window.json").read_text())
METRIC = re.compile(r"\bstreamwise_[a-z0-9_]+")
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every panel that queries, including those nested in collapsed rows."""
    out = []
    for panel in items:
        if panel["type"] == "row":
            out.extend(panels(panel.get("panels", [])))
        else:
            out.append(panel)
    return out


def exported() -> set[str]:
    """Series names in a real /metrics rendering of a progress event (Kafka source, window state)."""
    text = render([QueryMetrics.from_progress(PROGRESS)]).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_panels_query_exactly_the_exported_series() -> None:
    """Setup: the dashboard JSON and render() of a real progress fixture. Invariant: every metric a
    panel expression names is exported, and every exported series has a panel."""
    used = {
        name for panel in panels(DASHBOARD["panels"]) for t in panel["targets"] for name in METRIC.findall(t["expr"])
    }
    series = exported()
    assert len(series) == 11, series  # the fixture fills every family, so none is missed for lack of data
    assert used - series == set(), "panels query series /metrics does not export"
    assert series - used == set(), "exported series without a panel"


def test_every_panel_uses_the_datasource_variable_and_the_query_filter() -> None:
    """Setup: the dashboard JSON. Invariant: Grafana 10+ schema; a ``DS_PROMETHEUS`` datasource
    variable and a multi-value ``query`` variable; every panel and target reads ``${DS_PROMETHEUS}``
    and filters on ``$query``; panel ids are unique and panels do not overlap."""
    assert DASHBOARD["schemaVersion"] >= 37  # Grafana 10.0
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["query"]["multi"] and variables["query"]["includeAll"]
    assert METRIC.findall(variables["query"]["definition"])[0] in exported()
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in DASHBOARD["panels"]:
        g = panel["gridPos"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        assert g["x"] + g["w"] <= 24
        cells |= area
    for panel in panels(DASHBOARD["panels"]):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and 'query=~"$query"' in target["expr"], panel["title"]


def test_prometheus_scrapes_the_dashboard_metrics() -> None:
    """Setup: monitoring/prometheus.yml. Invariant: one job scraping /metrics at 127.0.0.1:8000."""
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert [t for c in job["static_configs"] for t in c["targets"]] == ["127.0.0.1:8000"]
