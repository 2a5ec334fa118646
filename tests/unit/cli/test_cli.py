"""The CLI as a user meets it: one red line with a hint and exit 1 for streamwise errors, exit 2 for
bad options. Runs the real entry point in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def streamwise(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "streamwise", *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def test_kafka_start_on_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = streamwise(
            "--state-dir",
            str(tmp_path),
            "kafka",
            "start",
            "--port",
            str(port),
            "--controller-port",
            str(port + 1 if port < 65535 else port - 1),
        )
    assert result.returncode == 1, result.stderr
    assert f"error: port {port} on 127.0.0.1 (for the Kafka client listener) is taken by pid" in result.stderr
    assert "pass --port to use another port" in result.stderr
    assert "Traceback" not in result.stderr


def test_kafka_start_without_java(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "JAVA_HOME": ""}
    env_without_java = {k: v for k, v in {**os.environ, **env}.items() if k != "JAVA_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "streamwise", "--state-dir", str(tmp_path), "kafka", "start"],
        capture_output=True,
        text=True,
        env={**env_without_java, "COLUMNS": "200"},
        timeout=120,
    )
    assert result.returncode == 1
    assert "error: Java was not found: no JAVA_HOME and no `java` on PATH" in result.stderr
    assert "apt-get install openjdk-17-jre-headless" in result.stderr


def test_out_of_range_port_option(tmp_path: Path) -> None:
    result = streamwise("--state-dir", str(tmp_path), "--kafka-port", "70000", "topics", "list")
    assert result.returncode == 1
    assert "kafka.port: Input should be less than or equal to 65535 (got 70000)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["produce", "clickstream", "--rate", "-5"], "Invalid value for '--rate'"),
        (["topics", "create", "t", "--partitions", "0"], "Invalid value for '--partitions'"),
        (["kafka", "start", "--port", "abc"], "Invalid value for '--port'"),
        (["kafka", "launch"], "No such command 'launch'"),
    ],
)
def test_bad_options_exit_2_with_the_option_named(args: list[str], message: str) -> None:
    result = streamwise(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_unknown_scenario_lists_the_known_ones() -> None:
    result = streamwise("produce", "weather")
    assert result.returncode == 1
    assert "error: unknown scenario 'weather'" in result.stderr
    assert "available: clickstream" in result.stderr


def test_config_show_lists_every_setting_with_its_variable(tmp_path: Path) -> None:
    result = streamwise("--state-dir", str(tmp_path), "config", "show", env={"STREAMWISE_KAFKA_PORT": "19999"})
    assert result.returncode == 0, result.stderr
    assert "kafka.port" in result.stdout and "19999" in result.stdout
    assert "STREAMWISE_SPARK_MASTER" in result.stdout
    assert str(tmp_path) in result.stdout
