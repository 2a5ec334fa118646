"""Pipeline specs: YAML and Python build the same spec; invalid files fail with file, line, field and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_process import REPO
from pydantic import ValidationError

from streamwise.pipeline import SpecError, example_names, load_pipeline, parse_pipeline, resolve
from streamwise.pipeline.spec import EventTime, KafkaSource, PipelineSpec, WindowStep, interval_ms
from streamwise.sinks import DeltaSink

GOOD = """\
name: clicks
source:
  topic: clickstream
  schema: "user_id STRING, page STRING, event_time LONG"
  required: [page]
event_time:
  watermark: 5 seconds
steps:
  - type: filter
    where: "page LIKE '/page/%'"
  - type: window
    duration: 10 seconds
    by: [page]
    aggregates:
      views: count(*)
sinks:
  - type: delta
    path: clicks/views
"""


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as err:
        parse_pipeline(text, source="p.yaml")
    return err.value.message


def test_yaml_and_python_build_the_same_spec() -> None:
    from_yaml = parse_pipeline(GOOD)
    in_python = PipelineSpec(
        name="clicks",
        source=KafkaSource(
            topic="clickstream", schema="user_id STRING, page STRING, event_time LONG", required=["page"]
        ),
        event_time=EventTime(watermark="5 seconds"),
        steps=[
            {"type": "filter", "where": "page LIKE '/page/%'"},
            WindowStep(type="window", duration="10 seconds", by=["page"], aggregates={"views": "count(*)"}),
        ],
        sinks=[DeltaSink(type="delta", path="clicks/views")],
    )
    assert from_yaml == in_python


def test_unknown_step_names_line_and_allowed_types() -> None:
    message = error_of(GOOD.replace("type: window", "type: windw"))
    assert (
        "p.yaml:11: steps[1]: unknown step type 'windw'; allowed: filter, select, with_columns, sql, window, deduplicate, anomaly, join, score, top_n"
        in message
    )


def test_missing_field_points_at_its_parent() -> None:
    message = error_of(GOOD.replace("    where: \"page LIKE '/page/%'\"\n", ""))
    assert "p.yaml:9: steps[0].filter.where: is required but missing" in message


def test_wrong_type_names_the_value() -> None:
    message = error_of(GOOD.replace("by: [page]", "by: page"))
    assert "p.yaml:13: steps[1].window.by: Input should be a valid list (got 'page')" in message


def test_bad_interval_says_how_to_write_one() -> None:
    message = error_of(GOOD.replace("watermark: 5 seconds", "watermark: 5s"))
    assert (
        "p.yaml:7: event_time.watermark: '5s' is not a duration; write it as Spark does, e.g. '10 seconds'" in message
    )


def test_window_kind_needs_its_parameters() -> None:
    message = error_of(GOOD.replace("    duration: 10 seconds\n", "    kind: sliding\n    duration: 10 seconds\n"))
    assert "p.yaml:11: steps[1].window: a sliding window needs slide" in message


def test_misspelt_field_is_rejected_with_its_line() -> None:
    message = error_of(GOOD.replace("  required: [page]", "  requird: [page]"))
    assert "p.yaml:5: source.requird: is not a known field here (check its spelling)" in message


def test_every_error_is_reported_at_once() -> None:
    message = error_of(GOOD.replace("name: clicks", "name: Clicks").replace("type: delta", "type: parquet"))
    assert "p.yaml:1: name: String should match pattern" in message
    assert "p.yaml:17: sinks[0]: unknown type 'parquet'" in message


def test_broken_yaml_reports_the_line() -> None:
    assert error_of(GOOD.replace("  - type: filter", "  - type: filter: x")).startswith("p.yaml:9: not valid YAML")


def test_missing_file_and_unknown_example(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such pipeline file"):
        load_pipeline(tmp_path / "nope.yaml")
    with pytest.raises(SpecError) as err:
        resolve("nosuch")
    assert "clickstream" in err.value.hint


def test_shipped_examples_validate() -> None:
    assert "clickstream" in example_names()
    for name in example_names():
        assert load_pipeline(resolve(name)).name == name


def test_interval_ms_and_late_data_defaults() -> None:
    assert [interval_ms(v) for v in ("250 milliseconds", "5 seconds", "1 minute", "2 hours")] == [
        250,
        5000,
        60000,
        7200000,
    ]
    spec = parse_pipeline(GOOD)
    assert spec.drops_late_data and spec.late_records.enabled
    assert spec.late_records_path == "clicks/late_records"
    stateless = spec.model_copy(update={"steps": spec.steps[:1]})
    assert not stateless.drops_late_data


def test_top_n_must_follow_every_streaming_step() -> None:
    top = "  - type: top_n\n    order_by: views DESC\n    n: 3\n"
    after = parse_pipeline(GOOD.replace("sinks:\n", top + "sinks:\n"))
    assert [s.type for s in after.streaming_steps] == ["filter", "window"]
    assert [s.type for s in after.batch_steps] == ["top_n"]
    before = GOOD.replace("  - type: window\n", top + "  - type: window\n")
    assert "top_n runs per micro-batch, so it must come after every streaming step" in error_of(before)


def test_yaml_boolean_key_is_explained() -> None:
    text = GOOD.replace(
        "  - type: filter\n", "  - type: join\n    right: {kind: delta, path: x}\n    on: a = b\n  - type: filter\n"
    )
    with pytest.raises(SpecError) as err:
        parse_pipeline(text, source="p.yaml")
    assert err.value.message == "p.yaml:11: key 'on' is read by YAML as a boolean"
    assert "a join's condition is 'condition'" in err.value.hint


def test_realtime_mode_takes_stateless_steps_and_one_kafka_sink() -> None:
    base = {
        "name": "rt",
        "source": {"topic": "iot", "schema": "v DOUBLE, event_time LONG"},
        "mode": "realtime",
        "steps": [{"type": "filter", "where": "v > 1"}, {"type": "with_columns", "columns": {"w": "v * 2"}}],
        "sinks": [{"type": "kafka_alerts", "topic": "alerts"}],
    }
    assert PipelineSpec.model_validate(base).mode == "realtime"
    windowed = {**base, "steps": [{"type": "window", "duration": "10 seconds", "aggregates": {"n": "count(*)"}}]}
    with pytest.raises(ValidationError, match=r"stateless steps only .* steps\[0\] is window: use mode: microbatch"):
        PipelineSpec.model_validate(windowed)
    two_sinks = {**base, "sinks": [*base["sinks"], {"type": "delta", "path": "x"}]}
    with pytest.raises(ValidationError, match="one Kafka sink .* has kafka_alerts, delta: use mode: microbatch"):
        PipelineSpec.model_validate(two_sinks)


def test_examples_ship_inside_the_package_and_the_source_trees_folder_is_the_same() -> None:
    """An installed streamwise resolves example names from its own package data; ``pipelines/`` in
    the source tree is a link to that folder, not a copy that could drift."""
    from importlib import resources

    shipped = {p.name for p in resources.files("streamwise.examples").iterdir() if p.name.endswith(".yaml")}
    assert shipped == {f"{name}.yaml" for name in example_names()} and "clickstream.yaml" in shipped
    assert resolve("clickstream").resolve() == (REPO / "pipelines" / "clickstream.yaml").resolve()
