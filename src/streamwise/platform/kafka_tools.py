"""Runs Apache Kafka's own command-line tools (the classes behind kafka-*.sh) from the broker jars.

In the secure profile a tool speaks as the settings' principal (``admin`` unless they name another):
its client properties, JAAS line and password included, reach it through a ``--command-config`` file
only its owner can read, deleted once the tool exits; never through its command line.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from streamwise.config import Settings
from streamwise.platform import jars
from streamwise.platform.exceptions import PlatformError
from streamwise.platform.java import require_java
from streamwise.platform.security import properties_file, speaking

CONSUMER_GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
PRODUCER_PERFORMANCE = "org.apache.kafka.tools.ProducerPerformance"
METADATA_QUORUM = "org.apache.kafka.tools.MetadataQuorumCommand"


def run_tool(
    settings: Settings,
    main_class: str,
    *args: str,
    timeout_s: float = 120,
    client_properties: Mapping[str, str] | None = None,
) -> str:
    """Run a Kafka tool class with the broker classpath; return its stdout, or raise with its stderr.

    ``client_properties`` (default: the settings' own in the secure profile, none in plaintext) go to
    the tool as ``--command-config``, placed before ``args`` (a sub-command's options come after it)."""
    jars.cached_jars(settings.cache, "broker")
    classpath = str(jars.jar_dir(settings.cache, "broker") / "*")
    if client_properties is None and settings.security.enabled:
        client_properties = speaking(settings).kafka.java_client_properties()
    cmd = [str(require_java()), "-Xmx256m", "-cp", classpath, main_class]
    if not client_properties:
        result = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout_s, check=False)
    else:
        with properties_file(settings, client_properties) as config:
            result = subprocess.run(
                [*cmd, "--command-config", str(config), *args],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
    if result.returncode != 0:
        raise PlatformError(
            f"{main_class.rsplit('.', 1)[-1]} failed ({result.returncode}): {result.stderr.strip()[-600:]}"
        )
    return result.stdout


def consumer_group_lag(settings: Settings, group: str) -> dict[tuple[str, int], int]:
    """Lag per (topic, partition) as Kafka's ``kafka-consumer-groups --describe`` reports it."""
    out = run_tool(
        settings,
        CONSUMER_GROUPS,
        "--bootstrap-server",
        settings.kafka.bootstrap,
        "--describe",
        "--group",
        group,
    )
    lag: dict[tuple[str, int], int] = {}
    header: list[str] | None = None
    for line in out.splitlines():
        cols = line.split()
        if "LAG" in cols and "PARTITION" in cols:
            header = cols
            continue
        if header and len(cols) >= len(header) - 3:
            row = dict(zip(header, cols, strict=False))
            if row.get("LAG", "-").lstrip("-").isdigit() and row["LAG"] != "-":
                lag[(row["TOPIC"], int(row["PARTITION"]))] = int(row["LAG"])
    return lag
