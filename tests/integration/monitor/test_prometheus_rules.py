"""The alert rules shipped in ``monitoring/``: unit-tested with promtool, and firing in a real
Prometheus (Debian's) that scrapes the dashboard's /metrics after a real pipeline run."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cli_process import REPO

from streamwise.config import Settings
from streamwise.dashboard import BackgroundServer, DashboardSettings, create_app
from streamwise.ingest.producer import EventProducer
from streamwise.monitor.listener import ProgressPublisher
from streamwise.pipeline import await_queries
from streamwise.pipeline.plan import Pipeline
from streamwise.pipeline.spec import KafkaSource, PipelineSpec
from streamwise.platform.ports import free_ports
from streamwise.platform.topics import create_topic
from streamwise.sinks import ConsoleSink
from streamwise.testing import wait_for

MONITORING = REPO / "monitoring"
BUDGET_S = 3.0  # StreamwiseLatencyOverBudget's threshold in monitoring/alerts.yml

needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="Debian's prometheus is not installed (./dev test installs it as root)",
)


@needs_prometheus
def test_the_rules_are_valid_and_their_unit_tests_pass() -> None:
    """Invariant: promtool accepts monitoring/alerts.yml (1 recording rule, 3 alerts) and its unit
    tests (monitoring/alerts.test.yml: lag growing for 2 minutes, p99 over the budget for a minute,
    a query with waiting records and no batch for 2 minutes; each silent before its ``for``)."""
    check = subprocess.run(["promtool", "check", "rules", "alerts.yml"], cwd=MONITORING, capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 4 rules found" in check.stdout, check.stdout + check.stderr
    tests = subprocess.run(
        ["promtool", "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert tests.returncode == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr


@needs_prometheus
def test_a_real_prometheus_fires_the_latency_alert_from_a_real_run(
    spark, settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    """Setup: 2,000 records produced, then 4 s later a pipeline reads them (availableNow) with the
    progress listener on; the dashboard serves /metrics from that progress; Prometheus scrapes it
    every second and evaluates monitoring/alerts.yml every second.
    Invariants: the scraped p99 of the query is over the 3 s budget (the records waited 4 s in
    Kafka), and StreamwiseLatencyOverBudget fires for that query once its minute has passed; no
    other alert is pending or firing for it (nothing waits: not stale, lag not growing). Other
    tests' queries share the progress topic, so only this query's alerts are judged."""
    create_topic(settings.kafka, topic_name, partitions=1)
    producer = EventProducer(settings.kafka, topic_name)
    producer.send_many(
        (None, json.dumps({"n": i, "event_time": int(time.time() * 1000)}).encode(), None) for i in range(2_000)
    )
    producer.flush()
    time.sleep(BUDGET_S + 1)
    spec = PipelineSpec(
        name=topic_name,
        source=KafkaSource(topic=topic_name, schema="n INT, event_time LONG"),
        sinks=[ConsoleSink(type="console", rows=1)],
    )
    listener = ProgressPublisher(settings.kafka)
    spark.streams.addListener(listener)
    try:
        await_queries(Pipeline(spec, settings).start(spark, once=True))
    finally:
        spark.streams.removeListener(listener)
        listener.close()

    dash_port, prom_port = free_ports(2)
    dash = DashboardSettings(port=dash_port, push_interval_s=1.0)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {  # JSON is YAML: the shipped rules, a 1 s scrape of this dashboard
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(MONITORING / "alerts.yml")],
                "scrape_configs": [
                    {"job_name": "streamwise", "static_configs": [{"targets": [f"127.0.0.1:{dash_port}"]}]}
                ],
            }
        )
    )
    with BackgroundServer(create_app(settings, dash), dash.host, dash.port):
        prometheus = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("w"),
        )
        try:
            api = f"http://127.0.0.1:{prom_port}/api/v1"
            ours = lambda: [a for a in alerts(api) if a["labels"].get("query") == topic_name]
            wait_for(lambda: [a for a in ours() if a["state"] == "firing"], bound_s=180, what="the alert firing")
            firing = {(a["labels"]["alertname"], a["state"]) for a in ours()}
            p99 = query(api, f'streamwise_query_end_to_end_latency_seconds{{query="{topic_name}",quantile="0.99"}}')
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)
    assert p99 > BUDGET_S
    assert firing == {("StreamwiseLatencyOverBudget", "firing")}


def alerts(api: str) -> list[dict]:
    """Prometheus's alerts (pending and firing); none while it is still starting."""
    try:
        with urllib.request.urlopen(f"{api}/alerts", timeout=5) as response:
            return json.load(response)["data"]["alerts"]
    except OSError:
        return []


def query(api: str, expr: str) -> float:
    with urllib.request.urlopen(f"{api}/query?query={urllib.parse.quote(expr)}", timeout=5) as response:
        (result,) = json.load(response)["data"]["result"]
    return float(result["value"][1])
